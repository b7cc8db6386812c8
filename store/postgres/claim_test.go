package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/store/postgres"
)

func TestSessionStoreClaim(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newStore(t, func(o *postgres.Options) { o.Now = clock })
	ss := s.Sessions()
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		got, err := ss.ClaimCtx(ctx, "refresh:abc", time.Minute)
		if err != nil || got != want {
			t.Fatalf("ClaimCtx #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := ss.ClaimCtx(ctx, "refresh:other", time.Minute); err != nil || !got {
		t.Errorf("ClaimCtx of another key = %v, %v; want true", got, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if got, err := ss.ClaimCtx(ctx, "refresh:abc", time.Minute); err != nil || !got {
		t.Errorf("ClaimCtx after the claim expired = %v, %v; want true", got, err)
	}

	// Of many concurrent claims, exactly one wins.
	var wg sync.WaitGroup
	var winners sync.Map
	for i := range 20 {
		wg.Go(func() {
			if ok, err := ss.ClaimCtx(ctx, "refresh:race", time.Minute); err == nil && ok {
				winners.Store(i, true)
			}
		})
	}
	wg.Wait()
	n := 0
	winners.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("concurrent claims won by %d callers, want 1", n)
	}
}
