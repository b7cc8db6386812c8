package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return newMemory(t, store.MemoryOptions{})
	})
}

func newMemory(t *testing.T, opts store.MemoryOptions) *store.Memory {
	t.Helper()
	m, err := store.NewMemory(opts)
	if err != nil {
		t.Fatalf("NewMemory(%+v): %v", opts, err)
	}
	return m
}

var t0 = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

func testChallenge(id string, now time.Time) store.Challenge {
	return store.Challenge{
		ID:        id,
		MAC:       bytes.Repeat([]byte{1}, 32),
		ExpiresAt: now.Add(5 * time.Minute),
		ResendAt:  now.Add(time.Minute),
		Attempts:  5,
	}
}

func TestNewMemoryRejectsNegativeOptions(t *testing.T) {
	for _, opts := range []store.MemoryOptions{{MaxEntries: -1}, {SweepInterval: -time.Second}} {
		if _, err := store.NewMemory(opts); err == nil {
			t.Errorf("NewMemory(%+v): no error, want one", opts)
		}
	}
}

func TestMemoryFullFailsClosed(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, store.MemoryOptions{MaxEntries: 4})
	limit := store.Limit{Key: "ip", Max: 100, Window: time.Hour}

	// Each reservation adds a challenge; the shared counter is added once.
	for i := range 3 {
		key := fmt.Sprint("phone", i)
		if r, err := m.Reserve(ctx, key, testChallenge(key, t0), []store.Limit{limit}, t0); err != nil || !r.OK() {
			t.Fatalf("Reserve(%s): %+v, %v; want stored", key, r, err)
		}
	}
	_, err := m.Reserve(ctx, "phone3", testChallenge("phone3", t0), []store.Limit{limit}, t0)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Reserve(5th entry of 4): error %v, want ErrFull", err)
	}
	if got := m.Len(); got != 4 {
		t.Errorf("Len after refused Reserve = %d, want 4 (nothing evicted)", got)
	}

	// Codes already issued still verify when the store is full.
	res, err := m.Verify(ctx, "phone0", bytes.Repeat([]byte{1}, 32), t0)
	if err != nil || res.Outcome != store.Match {
		t.Errorf("Verify(phone0) on full store: %+v, %v; want match", res, err)
	}

	// Once the challenges expire, a sweep frees room.
	later := t0.Add(5 * time.Minute)
	if r, err := m.Reserve(ctx, "phone3", testChallenge("phone3", later), []store.Limit{limit}, later); err != nil || !r.OK() {
		t.Errorf("Reserve after expiry: %+v, %v; want stored", r, err)
	}
}

func TestMemorySweepFollowsCallerClock(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, store.MemoryOptions{SweepInterval: time.Minute})
	limits := []store.Limit{{Key: "phone-hour", Max: 5, Window: time.Hour}}
	if _, err := m.Reserve(ctx, "phone", testChallenge("c1", t0), limits, t0); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if got := m.Len(); got != 2 {
		t.Fatalf("Len after Reserve = %d, want 2 (challenge and counter)", got)
	}

	// The challenge expired at t0+5m but no call since has passed the next
	// sweep time of the caller's clock, so it is still held.
	if _, err := m.Verify(ctx, "other", nil, t0.Add(30*time.Second)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := m.Len(); got != 2 {
		t.Errorf("Len before the sweep interval = %d, want 2", got)
	}

	// At t0+6m the challenge is swept; the hourly counter is still live.
	if _, err := m.Verify(ctx, "other", nil, t0.Add(6*time.Minute)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := m.Len(); got != 1 {
		t.Errorf("Len after the challenge expired = %d, want 1", got)
	}

	// At the end of the hour the counter goes too.
	if _, err := m.Verify(ctx, "other", nil, t0.Add(time.Hour)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len after the window ended = %d, want 0", got)
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		t          time.Time
		length     time.Duration
		start, end time.Time
	}{
		{t0.Add(59 * time.Minute), time.Hour, t0, t0.Add(time.Hour)},
		{t0, time.Hour, t0, t0.Add(time.Hour)},
		{t0.Add(90 * time.Second), time.Minute, t0.Add(time.Minute), t0.Add(2 * time.Minute)},
		{time.Date(2030, 1, 1, 23, 59, 0, 0, time.UTC), 24 * time.Hour,
			time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)},
		{time.Unix(-90, 0), time.Minute, time.Unix(-120, 0), time.Unix(-60, 0)},
	}
	for _, tt := range tests {
		start, end := store.Window(tt.t, tt.length)
		if !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("Window(%s, %s) = [%s, %s), want [%s, %s)", tt.t, tt.length, start, end, tt.start, tt.end)
		}
	}
}

func TestCounterKeyDiffersByWindow(t *testing.T) {
	l := store.Limit{Key: "k", Max: 1, Window: time.Hour}
	a := store.CounterKey(l, t0)
	if b := store.CounterKey(l, t0.Add(59*time.Minute)); a != b {
		t.Errorf("CounterKey within one window: %q and %q, want equal", a, b)
	}
	if b := store.CounterKey(l, t0.Add(time.Hour)); a == b {
		t.Errorf("CounterKey in the next window = %q, want different from %q", b, a)
	}
	daily := l
	daily.Window = 24 * time.Hour
	if b := store.CounterKey(daily, t0); a == b {
		t.Errorf("CounterKey with another window length = %q, want different from %q", b, a)
	}
}

func BenchmarkMemoryVerify(b *testing.B) {
	ctx := context.Background()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	wrong := bytes.Repeat([]byte{2}, 32)
	c := testChallenge("c", t0)
	c.Attempts = 1 << 30
	if _, err := m.Reserve(ctx, "phone", c, nil, t0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Verify(ctx, "phone", wrong, t0); err != nil {
			b.Fatal(err)
		}
	}
}
