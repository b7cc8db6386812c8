package latch

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/store/postgres"
	"github.com/latchkit/latch/store/redis"
)

// sharedSessionStore opens a session store of the named kind that two
// instances can share, isolated from other tests, or skips.
func sharedSessionStore(t *testing.T, kind string) scs.Store {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	switch kind {
	case "redis":
		u := os.Getenv("LATCH_TEST_REDIS_URL")
		if u == "" {
			t.Skip("LATCH_TEST_REDIS_URL is not set: set it to a Redis URL such as redis://127.0.0.1:6379/15, or run .ci/run")
		}
		rs, err := redis.New(ctx, redis.Options{URL: u, KeyPrefix: "latch-refresh-" + suffix + ":"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		return rs.Sessions()
	case "postgres":
		u := os.Getenv("LATCH_TEST_POSTGRES_URL")
		if u == "" {
			t.Skip("LATCH_TEST_POSTGRES_URL is not set: set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable, or run .ci/run")
		}
		schema := "latch_refresh_" + suffix
		ps, err := postgres.New(ctx, postgres.Options{URL: u, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ps.Pool().Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			ps.Close()
		})
		if err := ps.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return ps.Sessions()
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

// TestRefreshOnceAcrossInstances checks that two instances sharing a
// session store send a rotating refresh token to the provider once, even
// when requests of the same session reach both at the moment it expires.
func TestRefreshOnceAcrossInstances(t *testing.T) {
	for _, kind := range []string{"redis", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			store := sharedSessionStore(t, kind)
			idp := oidctest.New(t)
			idp.RotateRefreshTokens = true
			idp.AccessTokenTTL = time.Minute
			one := newSiteFor(t, idp, func(c *Config) { c.SessionStore = store })
			two := newSiteFor(t, idp, func(c *Config) { c.SessionStore = store; c.Now = one.clock.Now })
			idp.Mu.Lock()
			idp.Now = one.clock.Now
			idp.Mu.Unlock()

			b1 := one.browser()
			one.signIn(b1)
			b2 := two.browser()
			u1, _ := url.Parse(one.srv.URL)
			u2, _ := url.Parse(two.srv.URL)
			b2.client.Jar.SetCookies(u2, b1.client.Jar.Cookies(u1))
			b2.get(two.srv.URL+"/private").expectStatus(t, http.StatusOK)

			one.clock.Advance(2 * time.Minute)
			release := make(chan struct{})
			idp.Mu.Lock()
			idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
				<-release // keep the first refresh open while the others arrive
				return false
			}
			idp.Mu.Unlock()

			var wg sync.WaitGroup
			codes := make(chan int, 20)
			for i := range 20 {
				b, base := b1, one.srv.URL
				if i%2 == 1 {
					b, base = b2, two.srv.URL
				}
				wg.Go(func() { codes <- b.get(base + "/private").StatusCode })
			}
			time.Sleep(200 * time.Millisecond)
			close(release)
			wg.Wait()
			close(codes)
			for code := range codes {
				if code != http.StatusOK {
					t.Errorf("a request after expiry got %d, want 200", code)
				}
			}
			if n := idp.RefreshRequests; n != 1 {
				t.Errorf("refresh requests from two instances = %d, want 1", n)
			}

			// The grant is intact: the next expiry refreshes again on
			// either instance.
			idp.Mu.Lock()
			idp.Token = nil
			idp.Mu.Unlock()
			one.clock.Advance(2 * time.Minute)
			b2.get(two.srv.URL+"/private").expectStatus(t, http.StatusOK)
			b1.get(one.srv.URL+"/private").expectStatus(t, http.StatusOK)
			if n := idp.RefreshRequests; n != 2 {
				t.Errorf("refresh requests after the next expiry = %d, want 2", n)
			}
		})
	}
}
