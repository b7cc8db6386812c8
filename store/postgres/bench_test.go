package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkit/latch/internal/storebench"
	"github.com/latchkit/latch/store/postgres"
)

// BenchmarkStore measures the PostgreSQL store against the in-memory
// store in the same run, with the statements of each operation:
//
//	LATCH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//		go test -run '^$' -bench . ./store/postgres
func BenchmarkStore(b *testing.B) {
	counter := &queryCounter{}
	s := newStore(b, func(o *postgres.Options) { o.Pool = newPool(b, counter) })
	storebench.Run(b, storebench.Memory(b),
		storebench.Backend{Name: "postgres", Store: s, RoundTrips: counter.n.Load})
}

// queryCounter is a pgx tracer that counts statements.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
