package redis_test

import (
	"context"
	"testing"
	"time"
)

func TestSessionStoreClaim(t *testing.T) {
	s := newStore(t, nil)
	ss := s.Sessions()
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		got, err := ss.ClaimCtx(ctx, "refresh:abc", 200*time.Millisecond)
		if err != nil || got != want {
			t.Fatalf("ClaimCtx #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := ss.ClaimCtx(ctx, "refresh:other", time.Minute); err != nil || !got {
		t.Errorf("ClaimCtx of another key = %v, %v; want true", got, err)
	}
	time.Sleep(300 * time.Millisecond)
	if got, err := ss.ClaimCtx(ctx, "refresh:abc", time.Minute); err != nil || !got {
		t.Errorf("ClaimCtx after the claim expired = %v, %v; want true", got, err)
	}
}
