package multitest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/alexedwards/scs/v2"
)

// RunSessions checks that latch instances sharing a session store act as
// one site. A sign-in started on one instance finishes on another, and the
// session is valid on every instance. Sign-out on one ends it on all, and
// a replayed old session cookie fails everywhere. newStore returns an
// independent session store on the shared backend for each instance.
func RunSessions(t *testing.T, newStore func(t testing.TB, i int) scs.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c *Cluster)
	}{
		{"SignInAcrossInstances", testSignInAcrossInstances},
		{"SignOutEndsEverywhere", testSignOutEndsEverywhere},
		{"ReplayedCookieFails", testReplayedCookieFails},
		{"ConcurrentRequests", testConcurrentRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, Start(t, Options{SessionStore: newStore}))
		})
	}
}

// wantSignedIn fails the test unless b's session is signed in on the
// instance.
func wantSignedIn(t *testing.T, b *Browser, instance int) {
	t.Helper()
	r := b.Get(instance, "/private")
	want := fmt.Sprintf("instance %d: private for user-1", instance)
	if r.StatusCode != http.StatusOK || r.Body != want {
		t.Fatalf("GET /private on instance %d: status %d, body %q; want 200, %q", instance, r.StatusCode, r.Body, want)
	}
}

// wantSignedOut fails the test unless b is sent to sign in on the
// instance.
func wantSignedOut(t *testing.T, b *Browser, instance int) {
	t.Helper()
	r := b.Get(instance, "/private")
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET /private on instance %d: status %d, body %.200q; want 302 to sign in", instance, r.StatusCode, r.Body)
	}
	if loc := r.Location(t); !strings.HasSuffix(loc.Path, "/sign-in") {
		t.Fatalf("GET /private on instance %d: redirect to %s, want the sign-in route", instance, loc)
	}
}

func testSignInAcrossInstances(t *testing.T, c *Cluster) {
	b := c.Browser()
	// The pending sign-in that instance 0 stores must reach instance 1,
	// which handles the provider's callback.
	if got := c.SignIn(b, 0, 1); got.Path != "/" {
		t.Errorf("sign-in ended at %s, want /", got)
	}
	for i := range c.Auth {
		wantSignedIn(t, b, i)
	}
	if r := b.Get(0, "/"); r.Body != "instance 0: home of user-1" {
		t.Errorf("GET / on instance 0: body %q, want the signed-in home page", r.Body)
	}
}

func testSignOutEndsEverywhere(t *testing.T, c *Cluster) {
	b := c.Browser()
	c.SignIn(b, 1, 1)
	wantSignedIn(t, b, 0)
	b.Post(1, "/sign-out", nil).Expect(t, http.StatusSeeOther)
	for i := range c.Auth {
		wantSignedOut(t, b, i)
	}
}

func testReplayedCookieFails(t *testing.T, c *Cluster) {
	b := c.Browser()
	b.Get(0, "/sign-in").Expect(t, http.StatusFound)
	pending := b.SessionCookie()
	if pending == "" {
		t.Fatal("GET /sign-in set no session cookie")
	}
	c.SignIn(b, 0, 1)
	signedIn := b.SessionCookie()
	if signedIn == "" || signedIn == pending {
		t.Fatalf("session cookie after sign-in is %q, want a new token (before: %q)", signedIn, pending)
	}
	wantSignedIn(t, b, 0)
	b.Post(0, "/sign-out", nil).Expect(t, http.StatusSeeOther)

	// Neither the cookie from before sign-in nor the signed-in one may
	// open a session on any instance.
	for _, old := range []struct{ name, value string }{{"pending", pending}, {"signed-in", signedIn}} {
		for i := range c.Auth {
			replay := c.Browser()
			replay.SetSessionCookie(old.value)
			t.Run(fmt.Sprintf("%s cookie on instance %d", old.name, i), func(t *testing.T) {
				wantSignedOut(t, replay, i)
			})
		}
	}
}

func testConcurrentRequests(t *testing.T, c *Cluster) {
	b := c.Browser()
	c.SignIn(b, 0, 0)
	const n = 40
	var wg sync.WaitGroup
	failures := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			instance := i % len(c.Auth)
			r, err := b.Send(instance, http.MethodGet, "/private", nil, nil)
			if err != nil {
				failures <- fmt.Sprintf("request %d on instance %d: %v", i, instance, err)
				return
			}
			if want := fmt.Sprintf("instance %d: private for user-1", instance); r.StatusCode != http.StatusOK || r.Body != want {
				failures <- fmt.Sprintf("request %d on instance %d: status %d, body %.100q", i, instance, r.StatusCode, r.Body)
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}
