package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/postgres"
)

// fill writes n challenges, n counters (of hourly windows) and n sessions
// that all expire at base+1h, plus one of each that lives for days.
func fill(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n + 1 {
		now, ttl, window := base, time.Hour, time.Hour
		if i == n {
			ttl, window = 48*time.Hour, 72*time.Hour
		}
		key := fmt.Sprint("k", i)
		c := store.Challenge{ID: key, MAC: []byte("mac"), ExpiresAt: now.Add(ttl), ResendAt: now, Attempts: 1}
		limit := store.Limit{Key: key, Max: 1, Window: window}
		if _, err := s.Reserve(ctx, key, c, []store.Limit{limit}, now); err != nil {
			t.Fatalf("Reserve(%s): %v", key, err)
		}
		expiry := now.Add(window)
		if i == n {
			expiry = now.Add(48 * time.Hour)
		}
		if err := s.Sessions().CommitCtx(ctx, key, []byte("data"), expiry); err != nil {
			t.Fatalf("CommitCtx(%s): %v", key, err)
		}
	}
}

// rows returns the number of rows in each table of the store in schema.
func rows(t *testing.T, s *postgres.Store, schema string) [3]int64 {
	t.Helper()
	var n [3]int64
	for i, table := range []string{"latch_challenges", "latch_counters", "latch_sessions"} {
		q := "SELECT count(*) FROM " + pgx.Identifier{schema, table}.Sanitize()
		if err := s.Pool().QueryRow(context.Background(), q).Scan(&n[i]); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return n
}

func TestDeleteExpiredInBatches(t *testing.T) {
	schema := randomSchema(t)
	clock := multitest.NewClock(base)
	s := newStore(t, func(o *postgres.Options) { o.Schema, o.Now = schema, clock.Now })
	fill(t, s, 5)
	ctx := context.Background()

	// Within a minute of expiry nothing goes: other instances' clocks
	// may lag.
	clock.Advance(time.Hour + 30*time.Second)
	if d, err := s.DeleteExpired(ctx, 100); err != nil || d.Total() != 0 {
		t.Fatalf("DeleteExpired 30s after expiry = %+v, %v; want nothing deleted", d, err)
	}

	clock.Advance(time.Minute)
	for i, want := range []postgres.Deleted{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}} {
		d, err := s.DeleteExpired(ctx, 2)
		if err != nil {
			t.Fatalf("DeleteExpired(2) #%d: %v", i, err)
		}
		if d != want {
			t.Errorf("DeleteExpired(2) #%d = %+v, want %+v", i, d, want)
		}
	}
	if got := rows(t, s, schema); got != [3]int64{1, 1, 1} {
		t.Errorf("rows left (challenges, counters, sessions) = %v, want the live row of each", got)
	}
	if _, err := s.DeleteExpired(ctx, 0); !errors.Is(err, postgres.ErrInvalidOptions) {
		t.Errorf("DeleteExpired(0): error %v, want ErrInvalidOptions", err)
	}
}

// DeleteExpired must neither wait for nor delete a row that a request
// holds, so that cleaners never stall requests or each other.
func TestDeleteExpiredSkipsLockedRows(t *testing.T) {
	schema := randomSchema(t)
	clock := multitest.NewClock(base)
	s := newStore(t, func(o *postgres.Options) { o.Schema, o.Now = schema, clock.Now })
	fill(t, s, 3)
	clock.Advance(2 * time.Hour)
	ctx := context.Background()

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer tx.Rollback(ctx)
	table := pgx.Identifier{schema, "latch_challenges"}.Sanitize()
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+table+" WHERE key = 'k0' FOR UPDATE"); err != nil {
		t.Fatalf("lock a row: %v", err)
	}

	start := time.Now()
	d, err := s.DeleteExpired(ctx, 100)
	if err != nil {
		t.Fatalf("DeleteExpired with a locked row: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("DeleteExpired with a locked row took %s, want no wait", elapsed)
	}
	if d.Challenges != 2 {
		t.Errorf("DeleteExpired with one of 3 expired challenges locked deleted %d challenges, want 2", d.Challenges)
	}
	tx.Rollback(ctx)
	if d, err := s.DeleteExpired(ctx, 100); err != nil || d.Challenges != 1 {
		t.Errorf("DeleteExpired after the lock ended = %+v, %v; want the last expired challenge", d, err)
	}
}

func TestConcurrentCleaners(t *testing.T) {
	schema := randomSchema(t)
	clock := multitest.NewClock(base)
	s := newStore(t, func(o *postgres.Options) { o.Schema, o.Now = schema, clock.Now })
	fill(t, s, 40)
	clock.Advance(2 * time.Hour)

	others := make([]*postgres.Store, 3)
	for i := range others {
		others[i] = openStore(t, func(o *postgres.Options) { o.Schema, o.Now = schema, clock.Now })
	}
	var deleted atomic.Int64
	errs := make(chan error, len(others))
	for _, o := range others {
		go func() {
			for {
				d, err := o.DeleteExpired(context.Background(), 3)
				if err != nil {
					errs <- err
					return
				}
				deleted.Add(d.Total())
				if d.Total() == 0 {
					errs <- nil
					return
				}
			}
		}()
	}
	for range others {
		if err := <-errs; err != nil {
			t.Errorf("DeleteExpired on one of 3 concurrent cleaners: %v", err)
		}
	}
	if got := deleted.Load(); got != 3*40 {
		t.Errorf("3 concurrent cleaners deleted %d rows, want %d", got, 3*40)
	}
	if got := rows(t, s, schema); got != [3]int64{1, 1, 1} {
		t.Errorf("rows left (challenges, counters, sessions) = %v, want the live row of each", got)
	}
}

func TestBackgroundCleaner(t *testing.T) {
	schema := randomSchema(t)
	clock := multitest.NewClock(base)
	logs := &syncBuffer{}
	s := newStore(t, func(o *postgres.Options) {
		o.Schema, o.Now, o.CleanupInterval, o.CleanupBatch, o.Logger = schema, clock.Now, 20*time.Millisecond, 2, slogTo(logs)
	})
	fill(t, s, 7)
	clock.Advance(2 * time.Hour)

	deadline := time.Now().Add(5 * time.Second)
	for rows(t, s, schema) != [3]int64{1, 1, 1} {
		if time.Now().After(deadline) {
			t.Fatalf("rows left after 5s of background cleaning (challenges, counters, sessions) = %v, want the live row of each",
				rows(t, s, schema))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "deleted expired rows") {
		t.Errorf("the cleaner logged %q, want a line about the rows it deleted", logs.String())
	}
	s.Close()
	s.Close() // a second Close does nothing
}

func TestBackgroundCleanerLogsFailure(t *testing.T) {
	logs := &syncBuffer{}
	// Without Migrate, every run fails on the missing tables.
	s := openStore(t, func(o *postgres.Options) {
		o.Schema, o.CleanupInterval, o.Logger = randomSchema(t), 20*time.Millisecond, slogTo(logs)
	})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "deleting expired rows failed") {
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner logged %q in 5s, want a failure line", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "run Store.Migrate") {
		t.Errorf("the cleaner's failure line %q does not say how to fix it", logs.String())
	}
	s.Close()
}
