package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/postgres"
	"github.com/latchkit/latch/store/redis"
)

// sharedStore is the Redis or PostgreSQL store that several instances of
// the site share: codes, counters and sessions.
type sharedStore struct {
	name     string
	codes    store.Store
	sessions scs.Store
	close    func() error
}

// openSharedStore opens the store named by LATCH_REDIS_URL or
// LATCH_POSTGRES_URL, or returns nil when neither is set.
func openSharedStore(ctx context.Context, s settings, logger *slog.Logger) (*sharedStore, error) {
	switch {
	case s.redisURL != "" && s.postgresURL != "":
		return nil, errors.New("LATCH_REDIS_URL and LATCH_POSTGRES_URL are both set: choose one shared store")
	case s.redisURL != "":
		rs, err := redis.New(ctx, redis.Options{URL: s.redisURL, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("LATCH_REDIS_URL: %w", err)
		}
		return &sharedStore{name: "redis", codes: rs, sessions: rs.Sessions(), close: rs.Close}, nil
	case s.postgresURL != "":
		ps, err := postgres.New(ctx, postgres.Options{URL: s.postgresURL, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("LATCH_POSTGRES_URL: %w", err)
		}
		if err := ps.Migrate(ctx); err != nil {
			ps.Close()
			return nil, fmt.Errorf("LATCH_POSTGRES_URL: %w", err)
		}
		closePool := func() error { ps.Close(); return nil }
		return &sharedStore{name: "postgres", codes: ps, sessions: ps.Sessions(), close: closePool}, nil
	}
	return nil, nil
}
