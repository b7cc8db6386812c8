package redis_test

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

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/store/redis"
)

// urlVar names the environment variable with the test server's URL. Tests
// write only keys under a random prefix and delete them when they end.
const urlVar = "LATCH_TEST_REDIS_URL"

// serverURL returns the test server's URL, or skips the test.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		t.Skipf("%s is not set; set it to a Redis URL such as redis://127.0.0.1:6379/15 to run this test", urlVar)
	}
	return u
}

// newClient returns a client for the test server with the settings that
// New uses for a URL: context timeouts on and no retries.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(serverURL(t))
	if err != nil {
		t.Fatalf("ParseURL(%s): %v", urlVar, err)
	}
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// randomPrefix returns a key prefix unique to this test, and deletes every
// key under it when the test ends.
func randomPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	prefix := "latchtest:" + hex.EncodeToString(b) + ":"
	url := serverURL(t)
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	return prefix
}

func deleteKeys(t testing.TB, url, prefix string) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Errorf("cleanup: ParseURL: %v", err)
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup: SCAN %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
			t.Errorf("cleanup: UNLINK: %v", err)
			return
		}
		keys = keys[n:]
	}
}

// newStore returns a store on the test server under a fresh prefix. edit
// may change the Options; a nil Client and empty URL mean the test URL.
func newStore(t testing.TB, edit func(*redis.Options)) *redis.Store {
	t.Helper()
	opts := redis.Options{KeyPrefix: randomPrefix(t)}
	if edit != nil {
		edit(&opts)
	}
	if opts.Client == nil && opts.URL == "" {
		opts.URL = serverURL(t)
	}
	s, err := redis.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// commandCounter is a go-redis hook that records every round trip that a
// client makes: the command's name, or "pipeline:" and the names of the
// commands of a pipeline.
type commandCounter struct {
	mu    sync.Mutex
	names []string
}

func (c *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.record(strings.ToLower(cmd.Name()))
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = strings.ToLower(cmd.Name())
		}
		c.record("pipeline:" + strings.Join(names, ","))
		return next(ctx, cmds)
	}
}

func (c *commandCounter) record(name string) {
	c.mu.Lock()
	c.names = append(c.names, name)
	c.mu.Unlock()
}

// take returns the round trips recorded since the last call and clears them.
func (c *commandCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.names
	c.names = nil
	return names
}

// slogTo returns a logger that writes text to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
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
