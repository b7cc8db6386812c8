package store

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"
)

// Defaults of [MemoryOptions].
const (
	// DefaultMaxEntries bounds a [Memory] store when MemoryOptions leaves
	// MaxEntries zero. An entry is a challenge or a counter; issuing one
	// code for a new phone creates about six. At a rough estimate of 250
	// bytes per entry, the bound keeps the store near 25 MB.
	DefaultMaxEntries = 100_000

	// DefaultSweepInterval is how often, by the callers' clock, a [Memory]
	// store deletes expired entries when MemoryOptions leaves it zero.
	DefaultSweepInterval = time.Minute
)

// MemoryOptions configures [NewMemory].
type MemoryOptions struct {
	// MaxEntries is the maximum number of challenges plus counters kept.
	// When a reservation needs more room than is left after deleting
	// expired entries, Reserve fails with ErrFull and changes nothing:
	// the store fails closed instead of evicting live counters, which
	// would lift rate limits for whoever filled it. Verify and Release
	// never need room, so codes already issued keep working. Zero means
	// DefaultMaxEntries.
	MaxEntries int

	// SweepInterval is the minimum time, measured by the now arguments of
	// the calls, between two sweeps of expired entries. A store that is
	// full sweeps at once regardless. Zero means DefaultSweepInterval.
	SweepInterval time.Duration
}

// Memory is a [Store] kept in the memory of one process. It is safe for
// concurrent use. It runs no background goroutine: expired entries are
// deleted during calls, judged by the calls' now, so an injected clock
// controls it entirely. State is lost when the process exits, and several
// processes do not share it; use a shared backend for more than one
// replica.
type Memory struct {
	maxEntries    int
	sweepInterval time.Duration

	mu         sync.Mutex
	challenges map[string]*memoryChallenge
	counters   map[string]*memoryCounter
	nextSweep  time.Time
}

type memoryChallenge struct {
	id           string
	mac          []byte
	expiresAt    time.Time
	resendAt     time.Time
	attemptsLeft int
}

type memoryCounter struct {
	count     int64
	expiresAt time.Time // end of the counter's window
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. It returns an error for a
// negative option.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if opts.MaxEntries < 0 {
		return nil, fmt.Errorf("store: MaxEntries is %d, want 0 (default) or more", opts.MaxEntries)
	}
	if opts.SweepInterval < 0 {
		return nil, fmt.Errorf("store: SweepInterval is %s, want 0 (default) or more", opts.SweepInterval)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	return &Memory{
		maxEntries:    opts.MaxEntries,
		sweepInterval: opts.SweepInterval,
		challenges:    make(map[string]*memoryChallenge),
		counters:      make(map[string]*memoryCounter),
	}, nil
}

// Len returns the number of entries held, including expired entries that
// have not been swept yet.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.challenges) + len(m.counters)
}

// Reserve implements [Store.Reserve].
func (m *Memory) Reserve(ctx context.Context, key string, c Challenge, limits []Limit, now time.Time) (Reservation, error) {
	if err := ctx.Err(); err != nil {
		return Reservation{}, err
	}
	if err := ValidateReserve(key, c, limits, now); err != nil {
		return Reservation{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)

	prev := m.challenges[key]
	if prev != nil && !now.Before(prev.expiresAt) {
		prev = nil
	}
	attempts := c.Attempts
	if prev != nil {
		if prev.attemptsLeft <= 0 {
			return Reservation{Refused: CheckBurnt, RetryAt: prev.expiresAt}, nil
		}
		if now.Before(prev.resendAt) {
			return Reservation{Refused: CheckCooldown, RetryAt: prev.resendAt}, nil
		}
		attempts = min(attempts, prev.attemptsLeft)
	}

	counterKeys := make([]string, len(limits))
	for i, l := range limits {
		counterKeys[i] = CounterKey(l, now)
		if m.count(counterKeys[i], now) >= l.Max {
			_, end := Window(now, l.Window)
			return Reservation{Refused: CheckLimit, LimitKey: l.Key, RetryAt: end}, nil
		}
	}

	if need := m.newEntries(key, counterKeys); len(m.challenges)+len(m.counters)+need > m.maxEntries {
		m.sweep(now)
		need = m.newEntries(key, counterKeys)
		if held := len(m.challenges) + len(m.counters); held+need > m.maxEntries {
			return Reservation{}, fmt.Errorf("%w: %d live entries, %d more needed, maximum %d",
				ErrFull, held, need, m.maxEntries)
		}
	}

	for i, l := range limits {
		k := counterKeys[i]
		e := m.counters[k]
		if e == nil || !now.Before(e.expiresAt) {
			_, end := Window(now, l.Window)
			e = &memoryCounter{expiresAt: end}
			m.counters[k] = e
		}
		e.count++
	}
	m.challenges[key] = &memoryChallenge{
		id:           c.ID,
		mac:          append([]byte(nil), c.MAC...),
		expiresAt:    c.ExpiresAt,
		resendAt:     c.ResendAt,
		attemptsLeft: attempts,
	}
	return Reservation{AttemptsLeft: attempts}, nil
}

// Release implements [Store.Release].
func (m *Memory) Release(ctx context.Context, key, challengeID string, refunds []Limit, reservedAt, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateRelease(key, challengeID, refunds); err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)

	if c := m.challenges[key]; c != nil && c.id == challengeID && now.Before(c.resendAt) {
		c.resendAt = now
	}
	for _, l := range refunds {
		e := m.counters[CounterKey(l, reservedAt)]
		if e != nil && now.Before(e.expiresAt) && e.count > 0 {
			e.count--
		}
	}
	return nil
}

// Verify implements [Store.Verify]. It compares MACs in constant time.
func (m *Memory) Verify(ctx context.Context, key string, mac []byte, now time.Time) (VerifyResult, error) {
	if err := ctx.Err(); err != nil {
		return VerifyResult{}, err
	}
	if key == "" {
		return VerifyResult{}, fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)

	c := m.challenges[key]
	if c == nil {
		return VerifyResult{Outcome: NotFound}, nil
	}
	if !now.Before(c.expiresAt) {
		delete(m.challenges, key)
		return VerifyResult{Outcome: NotFound}, nil
	}
	if c.attemptsLeft <= 0 {
		return VerifyResult{Outcome: Burnt, ExpiresAt: c.expiresAt}, nil
	}
	if subtle.ConstantTimeCompare(c.mac, mac) == 1 {
		delete(m.challenges, key)
		return VerifyResult{Outcome: Match}, nil
	}
	c.attemptsLeft--
	return VerifyResult{Outcome: Mismatch, AttemptsLeft: c.attemptsLeft, ExpiresAt: c.expiresAt}, nil
}

// count returns the value of a counter in its window; m.mu must be held.
func (m *Memory) count(k string, now time.Time) int64 {
	e := m.counters[k]
	if e == nil || !now.Before(e.expiresAt) {
		return 0
	}
	return e.count
}

// newEntries returns how many map entries a reservation would add; m.mu
// must be held.
func (m *Memory) newEntries(key string, counterKeys []string) int {
	n := 0
	if m.challenges[key] == nil {
		n++
	}
	for _, k := range counterKeys {
		if m.counters[k] == nil {
			n++
		}
	}
	return n
}

// maybeSweep sweeps when the sweep interval has passed; m.mu must be held.
func (m *Memory) maybeSweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.sweep(now)
}

// sweep deletes expired challenges and counters; m.mu must be held.
func (m *Memory) sweep(now time.Time) {
	for k, c := range m.challenges {
		if !now.Before(c.expiresAt) {
			delete(m.challenges, k)
		}
	}
	for k, e := range m.counters {
		if !now.Before(e.expiresAt) {
			delete(m.counters, k)
		}
	}
	m.nextSweep = now.Add(m.sweepInterval)
}
