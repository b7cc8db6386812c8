package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkit/latch/store"
)

// Values of o_refused from the reserve function.
const (
	reserveStored   = 0
	reserveBurnt    = 1
	reserveCooldown = 2
	reserveLimit    = 3
)

// Values of o_outcome from the verify function.
const (
	verifyNotFound = 0
	verifyMatch    = 1
	verifyMismatch = 2
	verifyBurnt    = 3
)

// Reserve implements [store.Store.Reserve] in one statement.
func (s *Store) Reserve(ctx context.Context, key string, c store.Challenge, limits []store.Limit, now time.Time) (store.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return store.Reservation{}, s.wrap(ctx, ctx, "reserve", err)
	}
	if err := store.ValidateReserve(key, c, limits, now); err != nil {
		return store.Reservation{}, err
	}
	keys := make([]string, len(limits))
	maxes := make([]int64, len(limits))
	ends := make([]time.Time, len(limits))
	for i, l := range limits {
		keys[i] = store.CounterKey(l, now)
		maxes[i] = l.Max
		_, ends[i] = store.Window(now, l.Window)
	}

	var (
		refused      int32
		limitIndex   *int32
		retryAt      *time.Time
		attemptsLeft int32
	)
	octx, cancel := s.op(ctx)
	defer cancel()
	err := s.pool.QueryRow(octx, s.sql.reserve, key, c.ID, c.MAC, c.ExpiresAt, c.ResendAt, c.Attempts,
		keys, maxes, ends, now).Scan(&refused, &limitIndex, &retryAt, &attemptsLeft)
	if err != nil {
		return store.Reservation{}, s.wrap(ctx, octx, "reserve", err)
	}

	switch refused {
	case reserveStored:
		return store.Reservation{AttemptsLeft: int(attemptsLeft)}, nil
	case reserveBurnt, reserveCooldown:
		if retryAt == nil {
			break
		}
		check := store.CheckBurnt
		if refused == reserveCooldown {
			check = store.CheckCooldown
		}
		return store.Reservation{Refused: check, RetryAt: retryAt.UTC()}, nil
	case reserveLimit:
		if limitIndex == nil || *limitIndex < 1 || int(*limitIndex) > len(limits) {
			break
		}
		i := *limitIndex - 1
		return store.Reservation{Refused: store.CheckLimit, LimitKey: limits[i].Key, RetryAt: ends[i]}, nil
	}
	return store.Reservation{}, fmt.Errorf("store/postgres: reserve on %s: unexpected result refused=%d limit_index=%v",
		s.target, refused, limitIndex)
}

// Release implements [store.Store.Release] in one statement.
func (s *Store) Release(ctx context.Context, key, challengeID string, refunds []store.Limit, reservedAt, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return s.wrap(ctx, ctx, "release", err)
	}
	if err := store.ValidateRelease(key, challengeID, refunds); err != nil {
		return err
	}
	keys := make([]string, 0, len(refunds))
	for _, l := range refunds {
		keys = append(keys, store.CounterKey(l, reservedAt))
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.pool.Exec(octx, s.sql.release, key, challengeID, keys, now); err != nil {
		return s.wrap(ctx, octx, "release", err)
	}
	return nil
}

// Verify implements [store.Store.Verify] in one statement.
func (s *Store) Verify(ctx context.Context, key string, mac []byte, now time.Time) (store.VerifyResult, error) {
	if err := ctx.Err(); err != nil {
		return store.VerifyResult{}, s.wrap(ctx, ctx, "verify", err)
	}
	if key == "" {
		return store.VerifyResult{}, fmt.Errorf("%w: empty key", store.ErrInvalidArgument)
	}
	var (
		outcome      int32
		attemptsLeft int32
		expiresAt    *time.Time
	)
	octx, cancel := s.op(ctx)
	defer cancel()
	err := s.pool.QueryRow(octx, s.sql.verify, key, mac, now).Scan(&outcome, &attemptsLeft, &expiresAt)
	if err != nil {
		return store.VerifyResult{}, s.wrap(ctx, octx, "verify", err)
	}
	switch {
	case outcome == verifyNotFound:
		return store.VerifyResult{Outcome: store.NotFound}, nil
	case outcome == verifyMatch:
		return store.VerifyResult{Outcome: store.Match}, nil
	case outcome == verifyMismatch && expiresAt != nil:
		return store.VerifyResult{Outcome: store.Mismatch, AttemptsLeft: int(attemptsLeft), ExpiresAt: expiresAt.UTC()}, nil
	case outcome == verifyBurnt && expiresAt != nil:
		return store.VerifyResult{Outcome: store.Burnt, ExpiresAt: expiresAt.UTC()}, nil
	}
	return store.VerifyResult{}, fmt.Errorf("store/postgres: verify on %s: unexpected outcome %d", s.target, outcome)
}
