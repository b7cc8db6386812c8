package latch

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/internal/teststores"
)

// sharedSessionStore opens a session store of the named kind that two
// instances can share, isolated from other tests, or skips.
func sharedSessionStore(t *testing.T, kind string) scs.Store {
	t.Helper()
	if kind == "redis" {
		return teststores.Redis(t, "latch-refresh").Sessions()
	}
	return teststores.Postgres(t, "latch_refresh").Sessions()
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
