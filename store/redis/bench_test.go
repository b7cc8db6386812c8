package redis_test

import (
	"context"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/internal/storebench"
	"github.com/latchkit/latch/store/redis"
)

// BenchmarkStore measures the Redis store against the in-memory store in
// the same run, with the round trips of each operation:
//
//	LATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/15 go test -run '^$' -bench . ./store/redis
func BenchmarkStore(b *testing.B) {
	client := newClient(b)
	counter := &roundTripCounter{}
	client.AddHook(counter)
	s := newStore(b, func(o *redis.Options) { o.Client = client })
	storebench.Run(b, storebench.Memory(b),
		storebench.Backend{Name: "redis", Store: s, RoundTrips: counter.n.Load})
}

// roundTripCounter is a go-redis hook that counts round trips, without the
// bookkeeping of commandCounter.
type roundTripCounter struct{ n atomic.Int64 }

func (c *roundTripCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *roundTripCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTripCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}
