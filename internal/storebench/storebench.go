// Package storebench benchmarks implementations of store.Store side by
// side, so that a shared backend is measured in the same run as the
// in-memory store it is compared with.
package storebench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkit/latch/store"
)

// Backend is one store under benchmark.
type Backend struct {
	// Name names the sub-benchmark, such as "memory" or "redis".
	Name string

	// Store is the store. Keys get a random prefix per benchmark, so a
	// shared backend may be reused.
	Store store.Store

	// RoundTrips, when set, returns the number of round trips (commands
	// or statements) that the store has made so far. Each benchmark then
	// reports roundtrips/op.
	RoundTrips func() int64
}

// Memory returns the in-memory store as a Backend, sized so that the
// benchmarks never fill it.
func Memory(b *testing.B) Backend {
	m, err := store.NewMemory(store.MemoryOptions{MaxEntries: 10_000_000})
	if err != nil {
		b.Fatalf("NewMemory: %v", err)
	}
	return Backend{Name: "memory", Store: m}
}

// keySpace is the number of distinct phones that the benchmarks cycle
// through, which bounds the entries they create.
const keySpace = 10_000

var now = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

var runID atomic.Int64

// limits returns the six counters that otp charges for one send.
func limits(prefix string, i int) []store.Limit {
	phone := prefix + strconv.Itoa(i%keySpace)
	return []store.Limit{
		{Key: prefix + "phone-hourly:" + phone, Max: 1 << 40, Window: time.Hour},
		{Key: prefix + "phone-daily:" + phone, Max: 1 << 40, Window: 24 * time.Hour},
		{Key: prefix + "client-hourly:192.0.2.1", Max: 1 << 40, Window: time.Hour},
		{Key: prefix + "prefix-hourly:+8613800", Max: 1 << 40, Window: time.Hour},
		{Key: prefix + "country-hourly:CN", Max: 1 << 40, Window: time.Hour},
		{Key: prefix + "global-daily", Max: 1 << 40, Window: 24 * time.Hour},
	}
}

func challenge(i int, attempts int) store.Challenge {
	return store.Challenge{
		ID:        "c" + strconv.Itoa(i),
		MAC:       []byte("0123456789abcdef0123456789abcdef"),
		ExpiresAt: now.Add(5 * time.Minute),
		ResendAt:  now, // no cooldown, so a key can be reserved again at once
		Attempts:  attempts,
	}
}

func prefix() string { return fmt.Sprintf("bench:%d:%d:", time.Now().UnixNano(), runID.Add(1)) }

// Run runs Reserve, Verify of a wrong code, Verify of the right code, and
// Reserve from parallel goroutines, on every backend.
func Run(b *testing.B, backends ...Backend) {
	benchmarks := []struct {
		name string
		fn   func(b *testing.B, s store.Store, m *meter)
	}{
		{"Reserve", benchReserve},
		{"VerifyMismatch", benchVerifyMismatch},
		{"VerifyMatch", benchVerifyMatch},
		{"ReserveParallel", benchReserveParallel},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			for _, be := range backends {
				b.Run(be.Name, func(b *testing.B) {
					m := &meter{count: be.RoundTrips}
					start := m.read()
					bm.fn(b, be.Store, m)
					if be.RoundTrips != nil {
						b.ReportMetric(float64(m.read()-start-m.excluded)/float64(b.N), "roundtrips/op")
					}
				})
			}
		})
	}
}

// meter counts the round trips of the measured calls: those made by setup
// code run through exclude are left out.
type meter struct {
	count    func() int64
	excluded int64
}

func (m *meter) read() int64 {
	if m.count == nil {
		return 0
	}
	return m.count()
}

// exclude runs setup and leaves its round trips out of the count.
func (m *meter) exclude(setup func()) {
	start := m.read()
	setup()
	m.excluded += m.read() - start
}

// benchReserve reserves a code for one of keySpace phones per iteration,
// charging six counters, as otp does for each send.
func benchReserve(b *testing.B, s store.Store, _ *meter) {
	ctx, p := context.Background(), prefix()
	b.ResetTimer()
	for i := range b.N {
		r, err := s.Reserve(ctx, p+strconv.Itoa(i%keySpace), challenge(i, 5), limits(p, i), now)
		if err != nil || !r.OK() {
			b.Fatalf("Reserve #%d: error %v, rejected by check %s", i, err, r.Refused)
		}
	}
}

func benchReserveParallel(b *testing.B, s store.Store, _ *meter) {
	ctx, p := context.Background(), prefix()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			if _, err := s.Reserve(ctx, p+strconv.Itoa(i%keySpace), challenge(i, 5), limits(p, i), now); err != nil {
				b.Errorf("Reserve #%d: %v", i, err)
				return
			}
		}
	})
}

// benchVerifyMismatch verifies a wrong code against challenges that allow
// more attempts than the benchmark makes.
func benchVerifyMismatch(b *testing.B, s store.Store, m *meter) {
	ctx, p := context.Background(), prefix()
	const keys = 100
	m.exclude(func() {
		for i := range keys {
			if _, err := s.Reserve(ctx, p+strconv.Itoa(i), challenge(i, 1<<30), nil, now); err != nil {
				b.Fatalf("Reserve: %v", err)
			}
		}
	})
	wrong := []byte("wrong MAC, wrong MAC, wrong MAC!")
	b.ResetTimer()
	for i := range b.N {
		r, err := s.Verify(ctx, p+strconv.Itoa(i%keys), wrong, now)
		if err != nil || r.Outcome != store.Mismatch {
			b.Fatalf("Verify #%d: %s, %v", i, r.Outcome, err)
		}
	}
}

// benchVerifyMatch verifies the right code, which consumes the challenge,
// so challenges are reserved in batches with the timer stopped.
func benchVerifyMatch(b *testing.B, s store.Store, m *meter) {
	ctx, p := context.Background(), prefix()
	const batch = 1000
	mac := challenge(0, 5).MAC
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		b.StopTimer()
		m.exclude(func() {
			for j := range n {
				if _, err := s.Reserve(ctx, p+strconv.Itoa(i+j), challenge(i+j, 5), nil, now); err != nil {
					b.Fatalf("Reserve: %v", err)
				}
			}
		})
		b.StartTimer()
		for j := range n {
			r, err := s.Verify(ctx, p+strconv.Itoa(i+j), mac, now)
			if err != nil || r.Outcome != store.Match {
				b.Fatalf("Verify #%d: %s, %v", i+j, r.Outcome, err)
			}
		}
	}
}
