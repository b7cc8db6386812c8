package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkit/latch/store/postgres"
)

// urlVar names the environment variable with the test database's URL.
// Tests create a schema of their own and drop it when they end.
const urlVar = "LATCH_TEST_POSTGRES_URL"

// databaseURL returns the test database's URL, or skips the test.
func databaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run this test", urlVar)
	}
	return u
}

// newPool returns a pool on the test database. tracer may be nil.
func newPool(t testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(databaseURL(t))
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", urlVar, err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.NewWithConfig: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// randomSchema returns a schema name unique to this test, and drops the
// schema, with everything in it, when the test ends.
func randomSchema(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	schema := "latchtest_" + hex.EncodeToString(b)
	url := databaseURL(t)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// newStore returns a migrated store in a fresh schema, with no background
// cleaner. edit may change the Options; a nil Pool and empty URL mean the
// test URL.
func newStore(t testing.TB, edit func(*postgres.Options)) *postgres.Store {
	t.Helper()
	s := openStore(t, func(o *postgres.Options) {
		o.Schema = randomSchema(t)
		if edit != nil {
			edit(o)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// openStore returns a store without migrating it.
func openStore(t testing.TB, edit func(*postgres.Options)) *postgres.Store {
	t.Helper()
	opts := postgres.Options{CleanupInterval: -1}
	if edit != nil {
		edit(&opts)
	}
	if opts.Pool == nil && opts.URL == "" {
		opts.URL = databaseURL(t)
	}
	s, err := postgres.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// statementCounter is a pgx tracer that records the SQL of every statement
// that a pool's connections run.
type statementCounter struct {
	mu  sync.Mutex
	sql []string
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	c.sql = append(c.sql, data.SQL)
	c.mu.Unlock()
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements recorded since the last call and clears
// them.
func (c *statementCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.sql
	c.sql = nil
	return out
}

// slogTo returns a logger that writes text to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
