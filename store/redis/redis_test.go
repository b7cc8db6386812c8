package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/internal/sessiontest"
	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/redis"
	"github.com/latchkit/latch/store/storetest"
)

var base = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	s := newStore(t, nil)
	storetest.Run(t, func(t *testing.T) store.Store { return s })
}

func TestSessionStoreConformance(t *testing.T) {
	s := newStore(t, nil)
	sessiontest.Run(t, func(t *testing.T) scs.CtxStore { return s.Sessions() })
}

func TestMultiInstanceOTP(t *testing.T) {
	multitest.RunOTP(t, func(t testing.TB, n int) []store.Store {
		prefix := randomPrefix(t)
		stores := make([]store.Store, n)
		for i := range stores {
			stores[i] = newStore(t, func(o *redis.Options) { o.KeyPrefix = prefix })
		}
		return stores
	})
}

func TestMultiInstanceSessions(t *testing.T) {
	prefix := randomPrefix(t)
	multitest.RunSessions(t, func(t testing.TB, i int) scs.Store {
		return newStore(t, func(o *redis.Options) { o.KeyPrefix = prefix }).Sessions()
	})
}

func TestOneRoundTripPerOperation(t *testing.T) {
	client := newClient(t)
	counter := &commandCounter{}
	client.AddHook(counter)
	s := newStore(t, func(o *redis.Options) { o.Client = client })
	ctx := context.Background()
	limits := []store.Limit{
		{Key: "phone", Max: 5, Window: time.Hour},
		{Key: "global", Max: 1000, Window: 24 * time.Hour},
	}
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(5 * time.Minute), ResendAt: base.Add(time.Minute), Attempts: 5}
	counter.take()

	steps := []struct {
		name string
		call func() error
		want []string
	}{
		{"Reserve", func() error { _, err := s.Reserve(ctx, "k", c, limits, base); return err }, []string{"evalsha"}},
		{"Reserve refused", func() error { _, err := s.Reserve(ctx, "k", c, limits, base); return err }, []string{"evalsha"}},
		{"Verify mismatch", func() error { _, err := s.Verify(ctx, "k", []byte("bad"), base); return err }, []string{"evalsha"}},
		{"Release", func() error { return s.Release(ctx, "k", "c1", limits, base, base) }, []string{"evalsha"}},
		{"Verify match", func() error { _, err := s.Verify(ctx, "k", []byte("mac"), base); return err }, []string{"evalsha"}},
		{"Verify not found", func() error { _, err := s.Verify(ctx, "k", []byte("mac"), base); return err }, []string{"evalsha"}},
		{"session Commit", func() error {
			return s.Sessions().CommitCtx(ctx, "token", []byte("data"), time.Now().Add(time.Hour))
		}, []string{"set"}},
		{"session Find", func() error { _, _, err := s.Sessions().FindCtx(ctx, "token"); return err }, []string{"get"}},
		{"session Delete", func() error { return s.Sessions().DeleteCtx(ctx, "token") }, []string{"del"}},
	}
	for _, step := range steps {
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := counter.take(); !slices.Equal(got, step.want) {
			t.Errorf("%s: round trips %q, want %q", step.name, got, step.want)
		}
	}
}

// An authenticated request whose session did not change must read the
// session with one GET and write nothing.
func TestUnchangedSessionCostsOneGet(t *testing.T) {
	prefix := randomPrefix(t)
	counters := make([]*commandCounter, 2)
	c := multitest.Start(t, multitest.Options{SessionStore: func(t testing.TB, i int) scs.Store {
		client := newClient(t)
		counters[i] = &commandCounter{}
		client.AddHook(counters[i])
		return newStore(t, func(o *redis.Options) { o.Client, o.KeyPrefix = client, prefix }).Sessions()
	}})
	b := c.Browser()
	c.SignIn(b, 0, 1)
	for i := range c.Auth {
		r := b.Get(i, "/private")
		if r.StatusCode != 200 {
			t.Fatalf("GET /private on instance %d: status %d, want 200", i, r.StatusCode)
		}
		counters[i].take()
		for range 3 {
			b.Get(i, "/private")
			if got := counters[i].take(); !slices.Equal(got, []string{"get"}) {
				t.Errorf("GET /private on instance %d: round trips %q, want one get", i, got)
			}
		}
	}
}

func TestKeysExpire(t *testing.T) {
	client := newClient(t)
	prefix := randomPrefix(t)
	s := newStore(t, func(o *redis.Options) { o.Client, o.KeyPrefix = client, prefix })
	ctx := context.Background()
	now := base.Add(10 * time.Minute)
	ttl := 5 * time.Minute
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: now.Add(ttl), ResendAt: now.Add(time.Minute), Attempts: 1}
	hourly := store.Limit{Key: "hourly", Max: 5, Window: time.Hour}
	if _, err := s.Reserve(ctx, "k", c, []store.Limit{hourly}, now); err != nil {
		t.Fatalf("Reserve: %v", err)
	}

	// Keys live until their state stops mattering, plus a minute of grace.
	challengeKey := prefix + "challenge:k"
	counterKey := prefix + "counter:" + store.CounterKey(hourly, now)
	for _, k := range []struct {
		key  string
		want time.Duration
	}{
		{challengeKey, ttl + time.Minute},
		{counterKey, 50*time.Minute + time.Minute},
	} {
		got, err := client.PTTL(ctx, k.key).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", k.key, err)
		}
		if got > k.want || got < k.want-5*time.Second {
			t.Errorf("PTTL %s = %s, want about %s", k.key, got, k.want)
		}
	}

	// A burnt challenge stays until it expires; a used one goes at once.
	if _, err := s.Verify(ctx, "k", []byte("bad"), now); err != nil {
		t.Fatalf("Verify(wrong MAC): %v", err)
	}
	if n, err := client.Exists(ctx, challengeKey).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS burnt challenge = %d, %v; want 1", n, err)
	}
	c.ID = "c2"
	if _, err := s.Reserve(ctx, "other", c, nil, now); err != nil {
		t.Fatalf("Reserve(other): %v", err)
	}
	if _, err := s.Verify(ctx, "other", []byte("mac"), now); err != nil {
		t.Fatalf("Verify(right MAC): %v", err)
	}
	if n, err := client.Exists(ctx, prefix+"challenge:other").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS used challenge = %d, %v; want 0", n, err)
	}
}

func TestSessionKeyExpires(t *testing.T) {
	client := newClient(t)
	prefix := randomPrefix(t)
	s := newStore(t, func(o *redis.Options) { o.Client, o.KeyPrefix = client, prefix })
	if err := s.Sessions().CommitCtx(context.Background(), "tok", []byte("d"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("CommitCtx: %v", err)
	}
	got, err := client.PTTL(context.Background(), prefix+"session:tok").Result()
	if err != nil || got > time.Hour || got < time.Hour-5*time.Second {
		t.Errorf("PTTL of the session key = %s, %v; want about 1h", got, err)
	}
}

func TestKeyPrefixSeparatesSites(t *testing.T) {
	a := newStore(t, nil)
	b := newStore(t, nil)
	ctx := context.Background()
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 1}
	if _, err := a.Reserve(ctx, "k", c, nil, base); err != nil {
		t.Fatalf("Reserve on site A: %v", err)
	}
	if r, err := b.Verify(ctx, "k", []byte("mac"), base); err != nil || r.Outcome != store.NotFound {
		t.Errorf("Verify on site B = %s, %v; want not found", r.Outcome, err)
	}
	if r, err := a.Verify(ctx, "k", []byte("mac"), base); err != nil || r.Outcome != store.Match {
		t.Errorf("Verify on site A = %s, %v; want match", r.Outcome, err)
	}
}

// After the server drops the scripts (a restart or SCRIPT FLUSH), the first
// call falls back to EVAL and later ones use EVALSHA again. SCRIPT FLUSH
// affects the whole server: a test in another package that counts round
// trips on the same server at the same moment would see one EVAL more.
func TestScriptsReloadAfterFlush(t *testing.T) {
	client := newClient(t)
	counter := &commandCounter{}
	client.AddHook(counter)
	s := newStore(t, func(o *redis.Options) { o.Client = client })
	ctx := context.Background()
	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	counter.take()
	for i, want := range [][]string{{"evalsha", "eval"}, {"evalsha"}} {
		if r, err := s.Verify(ctx, "nothing", []byte("mac"), base); err != nil || r.Outcome != store.NotFound {
			t.Fatalf("Verify #%d after SCRIPT FLUSH = %s, %v; want not found", i, r.Outcome, err)
		}
		if got := counter.take(); !slices.Equal(got, want) {
			t.Errorf("Verify #%d after SCRIPT FLUSH: round trips %q, want %q", i, got, want)
		}
	}
}

func TestNewOptionErrors(t *testing.T) {
	ctx := context.Background()
	cluster := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = cluster.Close() })
	tests := []struct {
		name string
		opts redis.Options
		want string
	}{
		{"no URL or client", redis.Options{}, "URL and Client are both empty"},
		{"URL and client", redis.Options{URL: "redis://127.0.0.1/0", Client: goredis.NewClient(&goredis.Options{})}, "both URL and Client"},
		{"negative timeout", redis.Options{URL: "redis://127.0.0.1/0", Timeout: -time.Second}, "Timeout is -1s"},
		{"bad scheme", redis.Options{URL: "http://user:s3cret-pass@127.0.0.1/0"}, "invalid URL scheme"},
		{"bad port", redis.Options{URL: "redis://user:s3cret-pass@127.0.0.1:port/0"}, "not a valid URL"},
		{"bad database", redis.Options{URL: "redis://user:s3cret-pass@127.0.0.1:6379/x"}, "invalid database number"},
		{"cluster without hash tag", redis.Options{Client: cluster}, "has no hash tag"},
	}
	for _, tt := range tests {
		_, err := redis.New(ctx, tt.opts)
		if !errors.Is(err, redis.ErrInvalidOptions) {
			t.Errorf("New(%s): error %v, want ErrInvalidOptions", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s): error %q, want it to contain %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%s): error %q contains the password", tt.name, err)
		}
	}
}

func TestNewConnectErrors(t *testing.T) {
	ctx := context.Background()
	admin := newClient(t)
	user := "latchtest-" + strings.TrimSuffix(strings.TrimPrefix(randomPrefix(t), "latchtest:"), ":")
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">right-password", "~*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	closed := closedPort(t)

	tests := []struct {
		name     string
		url      string
		contains []string
	}{
		{"wrong password", fmt.Sprintf("redis://%s:wrong-password@%s/15", user, admin.Options().Addr),
			[]string{"redis://" + user + ":xxxxx@" + admin.Options().Addr + "/15", "WRONGPASS", "check the user name and password"}},
		{"closed port", "redis://:wrong-password@" + closed + "/15",
			[]string{"redis://:xxxxx@" + closed + "/15", "connection refused", "check the host and port"}},
		{"database out of range", "redis://" + admin.Options().Addr + "/9999",
			[]string{"DB index is out of range", "check the database number"}},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := redis.New(ctx, redis.Options{URL: tt.url, Timeout: time.Second})
		if !errors.Is(err, redis.ErrConnect) {
			t.Errorf("New(%s): error %v, want ErrConnect", tt.name, err)
			continue
		}
		for _, want := range tt.contains {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New(%s): error %q, want it to contain %q", tt.name, err, want)
			}
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("New(%s): error %q contains the password", tt.name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("New(%s) took %s, want it to fail within the timeout", tt.name, d)
		}
	}

	// The right password works, which shows that the user exists.
	s, err := redis.New(ctx, redis.Options{URL: fmt.Sprintf("redis://%s:right-password@%s/15", user, admin.Options().Addr)})
	if err != nil {
		t.Fatalf("New(right password): %v", err)
	}
	s.Close()
}

func TestOutage(t *testing.T) {
	client := newClient(t)
	proxy := multitest.StartProxy(t, client.Options().Addr)
	prefix := randomPrefix(t)
	url := fmt.Sprintf("redis://%s/%d", proxy.Addr(), client.Options().DB)
	const timeout = 500 * time.Millisecond
	s := newStore(t, func(o *redis.Options) { o.URL, o.KeyPrefix, o.Timeout = url, prefix, timeout })
	multitest.RunOutage(t, multitest.OutageOptions{Proxy: proxy, Store: s, Sessions: s.Sessions(), Timeout: timeout})
}

func TestTimeoutError(t *testing.T) {
	client := newClient(t)
	proxy := multitest.StartProxy(t, client.Options().Addr)
	url := fmt.Sprintf("redis://%s/%d", proxy.Addr(), client.Options().DB)
	s := newStore(t, func(o *redis.Options) { o.URL, o.Timeout = url, 300*time.Millisecond })
	proxy.Stall()
	defer proxy.Restore()

	start := time.Now()
	_, err := s.Verify(context.Background(), "k", []byte("mac"), base)
	elapsed := time.Since(start)
	if !errors.Is(err, redis.ErrTimeout) {
		t.Errorf("Verify while stalled: error %v, want ErrTimeout", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 1300*time.Millisecond {
		t.Errorf("Verify while stalled took %s, want about the 300ms timeout", elapsed)
	}

	// The caller's own deadline is the caller's, not ErrTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err = s.Sessions().FindCtx(ctx, "token")
	if err == nil || errors.Is(err, redis.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FindCtx with a 100ms caller deadline while stalled: error %v, want the caller's DeadlineExceeded", err)
	}
}

func TestClientWarnings(t *testing.T) {
	var logs bytes.Buffer
	opt, err := goredis.ParseURL(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt) // the defaults: no context timeouts, 3 retries
	t.Cleanup(func() { _ = client.Close() })
	newStore(t, func(o *redis.Options) {
		o.Client = client
		o.Logger = slogTo(&logs)
	})
	for _, want := range []string{"ContextTimeoutEnabled", "MaxRetries to -1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("New with a default client logged %q, want a warning naming %s", logs.String(), want)
		}
	}
}
