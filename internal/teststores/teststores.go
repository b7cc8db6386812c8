// Package teststores opens the Redis and PostgreSQL stores that
// integration tests outside the store packages use. It reads the servers'
// URLs from the environment variables that .ci/run sets, and skips the
// test when its variable is not set.
package teststores

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkit/latch/store/postgres"
	"github.com/latchkit/latch/store/redis"
)

// Environment variables that name the test servers.
const (
	RedisURLVar    = "LATCH_TEST_REDIS_URL"
	PostgresURLVar = "LATCH_TEST_POSTGRES_URL"
)

// Redis opens a Redis store whose keys start with name and a unique
// suffix, closed when the test ends, or skips the test.
func Redis(t testing.TB, name string) *redis.Store {
	t.Helper()
	u := os.Getenv(RedisURLVar)
	if u == "" {
		t.Skip(RedisURLVar + " is not set: set it to a Redis URL such as redis://127.0.0.1:6379/15, or run .ci/run")
	}
	s, err := redis.New(context.Background(), redis.Options{URL: u, KeyPrefix: name + "-" + suffix() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a PostgreSQL store in a new schema named after name and a
// unique suffix, with its tables created, and drops the schema when the
// test ends; or skips the test.
func Postgres(t testing.TB, name string) *postgres.Store {
	t.Helper()
	u := os.Getenv(PostgresURLVar)
	if u == "" {
		t.Skip(PostgresURLVar + " is not set: set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable, or run .ci/run")
	}
	ctx := context.Background()
	schema := name + "_" + suffix()
	s, err := postgres.New(ctx, postgres.Options{URL: u, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Pool().Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		s.Close()
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func suffix() string { return fmt.Sprint(time.Now().UnixNano()) }
