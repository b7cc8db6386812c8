package latch

import (
	"errors"
	"sync"
	"time"
)

// defaultMaxSessions bounds the in-memory session store; see
// Config.MaxSessions.
const defaultMaxSessions = 100_000

// memorySweepInterval is how often the in-memory store drops expired
// sessions, at the first write after the interval.
const memorySweepInterval = time.Minute

// errSessionStoreFull is returned when the in-memory store holds its
// maximum of sessions and none has expired. Existing sessions still work;
// only new ones fail, with 503, until some expire.
var errSessionStoreFull = errors.New("latch: in-memory session store is full: raise Config.MaxSessions or use a shared session store")

// memorySessions is the default session store: a map bounded in size,
// swept of expired entries on writes, with no background goroutine, and
// reading its clock from Config.Now so tests can move time.
type memorySessions struct {
	max int
	now func() time.Time

	mu        sync.RWMutex
	items     map[string]memorySession
	lastSweep time.Time
}

type memorySession struct {
	data    []byte
	expires int64 // Unix nanoseconds
}

func newMemorySessions(max int, now func() time.Time) *memorySessions {
	return &memorySessions{max: max, now: now, items: map[string]memorySession{}, lastSweep: now()}
}

// Find implements scs.Store.
func (m *memorySessions) Find(token string) ([]byte, bool, error) {
	m.mu.RLock()
	item, ok := m.items[token]
	m.mu.RUnlock()
	if !ok || m.now().UnixNano() >= item.expires {
		return nil, false, nil
	}
	return item.data, true, nil
}

// Commit implements scs.Store.
func (m *memorySessions) Commit(token string, b []byte, expiry time.Time) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()

	if now.Sub(m.lastSweep) >= memorySweepInterval {
		m.sweep(now)
	}
	if _, exists := m.items[token]; !exists && len(m.items) >= m.max {
		m.sweep(now)
		if len(m.items) >= m.max {
			return errSessionStoreFull
		}
	}
	m.items[token] = memorySession{data: b, expires: expiry.UnixNano()}
	return nil
}

// Delete implements scs.Store.
func (m *memorySessions) Delete(token string) error {
	m.mu.Lock()
	delete(m.items, token)
	m.mu.Unlock()
	return nil
}

// sweep drops expired sessions. Callers hold m.mu.
func (m *memorySessions) sweep(now time.Time) {
	m.lastSweep = now
	t := now.UnixNano()
	for k, item := range m.items {
		if t >= item.expires {
			delete(m.items, k)
		}
	}
}

// len returns the number of stored sessions, expired or not.
func (m *memorySessions) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.items)
}
