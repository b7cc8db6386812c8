package latch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequireAuthAnonymous(t *testing.T) {
	s := newSite(t, nil)
	tests := []struct {
		name     string
		method   string
		path     string
		header   http.Header
		status   int
		location string
	}{
		{"browser navigation", "GET", "/private?x=1&y=%2F", nil, 302, "/sign-in?return_to=%2Fprivate%3Fx%3D1%26y%3D%252F"},
		{"HEAD navigation", "HEAD", "/private", nil, 302, "/sign-in?return_to=%2Fprivate"},
		{"JSON client", "GET", "/private", http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": nil}, 401, ""},
		{"fetch", "GET", "/private", http.Header{"Sec-Fetch-Mode": {"cors"}}, 401, ""},
		{"same-origin fetch", "GET", "/private", http.Header{"Sec-Fetch-Mode": {"same-origin"}}, 401, ""},
		{"XMLHttpRequest", "GET", "/private", http.Header{"X-Requested-With": {"XMLHttpRequest"}}, 401, ""},
		{"form post", "POST", "/private", nil, 401, ""},
		{"DELETE", "DELETE", "/private", nil, 401, ""},
		{"curl", "GET", "/private", http.Header{"Accept": {"*/*"}, "Sec-Fetch-Mode": nil}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser()
			for k, v := range tt.header {
				if v == nil {
					b.header.Del(k)
				}
			}
			r := b.do(tt.method, s.srv.URL+tt.path, nil, tt.header)
			r.expectStatus(t, tt.status)
			if got := r.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
			if tt.status == 401 {
				var body struct{ Error, Message string }
				if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error != "unauthenticated" {
					t.Errorf("401 body %q, want JSON with error unauthenticated", r.body)
				}
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestRequireAuthReturnToRoot(t *testing.T) {
	s := newSite(t, nil)
	s.srv.Config.Handler = s.auth.Wrap(s.auth.RequireAuth(http.NotFoundHandler()))
	r := s.browser().get(s.srv.URL+"/").expectStatus(t, http.StatusFound)
	if got := r.Header.Get("Location"); got != "/sign-in" {
		t.Errorf("Location = %q, want /sign-in without a return_to for the home page", got)
	}
}

func TestRequireAuthWholeRouter(t *testing.T) {
	for _, order := range []string{"Wrap(RequireAuth(mux))", "RequireAuth(Wrap(mux))"} {
		t.Run(order, func(t *testing.T) {
			s := newSite(t, nil)
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })
			if order == "Wrap(RequireAuth(mux))" {
				s.srv.Config.Handler = s.auth.Wrap(s.auth.RequireAuth(mux))
			} else {
				s.srv.Config.Handler = s.auth.RequireAuth(s.auth.Wrap(mux))
			}
			b := s.browser()
			start := b.get(s.srv.URL+"/page").expectStatus(t, http.StatusFound).location(t)
			auth := b.get(start.String()).expectStatus(t, http.StatusFound).location(t)
			cb := s.authorize(b, auth)
			final := b.get(cb.String()).expectStatus(t, http.StatusFound)
			if got := final.Header.Get("Location"); got != "/page" {
				t.Fatalf("sign-in ends at %q, want /page", got)
			}
			if r := b.get(s.srv.URL+"/page").expectStatus(t, http.StatusOK); r.body != "app" {
				t.Errorf("GET /page = %q, want app", r.body)
			}
		})
	}
}

func TestRequireAuthOptions(t *testing.T) {
	s := newSite(t, nil)
	s.idp.Claims["roles"] = []string{"editor", "admin"}
	s.idp.Claims["tier"] = 3
	b := s.browser()
	s.signIn(b)

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tests := []struct {
		name string
		opts []RequireOption
		want int
	}{
		{"role present", []RequireOption{RequireClaim("roles", "admin")}, 200},
		{"one of two roles", []RequireOption{RequireClaim("roles", "owner", "editor")}, 200},
		{"role absent", []RequireOption{RequireClaim("roles", "owner")}, 403},
		{"claim present", []RequireOption{RequireClaim("email_verified")}, 200},
		{"claim missing", []RequireOption{RequireClaim("groups")}, 403},
		{"string claim", []RequireOption{RequireClaim("email", "ada@example.com")}, 200},
		{"number claim", []RequireOption{RequireClaim("tier", "3")}, 200},
		{"scope granted", []RequireOption{RequireScopes("openid", "offline_access")}, 200},
		{"scope missing", []RequireOption{RequireScopes("admin:write")}, 403},
		{"all must hold", []RequireOption{RequireClaim("roles", "admin"), RequireScopes("admin:write")}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.srv.Config.Handler = s.auth.Wrap(s.auth.RequireAuth(ok, tt.opts...))
			r := b.get(s.srv.URL+"/x").expectStatus(t, tt.want)
			if tt.want == 403 {
				mustContain(t, "page", r.body, "Access denied")
				api := b.do("GET", s.srv.URL+"/x", nil, http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": {"cors"}})
				api.expectStatus(t, 403)
				mustContain(t, "body", api.body, `"error":"forbidden"`)
			}
		})
	}
}

func TestAuthorizeAndDeny(t *testing.T) {
	s := newSite(t, nil)
	var gotErr error
	s.srv.Config.Handler = s.auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.auth.Authorize(r, RequireClaim("roles", "admin"))
		gotErr = err
		if err != nil {
			s.auth.Deny(w, r, err)
			return
		}
		io.WriteString(w, u.Subject)
	}))
	b := s.browser()
	b.get(s.srv.URL+"/x").expectStatus(t, http.StatusFound)
	if !errors.Is(gotErr, ErrNotSignedIn) {
		t.Errorf("Authorize for an anonymous request = %v, want ErrNotSignedIn", gotErr)
	}
	s.signIn(b)
	b.get(s.srv.URL+"/x").expectStatus(t, http.StatusForbidden)
	var fe *ForbiddenError
	if !errors.As(gotErr, &fe) || !errors.Is(gotErr, ErrForbidden) || !strings.Contains(fe.Requirement, "roles") {
		t.Errorf("Authorize without the role = %v, want a ForbiddenError naming roles", gotErr)
	}

	req, _ := http.NewRequest("GET", "/", nil)
	if _, err := s.auth.Authorize(req); !errors.Is(err, ErrNoSession) {
		t.Errorf("Authorize outside the session middleware = %v, want ErrNoSession", err)
	}
}

func TestRequireAuthKeepsContext(t *testing.T) {
	s := newSite(t, nil)
	type key struct{}
	var got any
	inner := s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Context().Value(key{})
	}))
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auth.Wrap(inner).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "app value")))
	})
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/x").expectStatus(t, http.StatusOK)
	if got != "app value" {
		t.Errorf("context value set before latch = %v inside RequireAuth, want it kept", got)
	}
}

// signedInWithShortTokens signs in with access tokens that expire after
// ttl and returns the browser.
func signedInWithShortTokens(t *testing.T, s *site, ttl time.Duration) *browser {
	t.Helper()
	s.idp.AccessTokenTTL = ttl
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	return b
}

func currentTokens(t *testing.T, s *site, b *browser) *Tokens {
	t.Helper()
	ctx, err := s.auth.sm.Load(context.Background(), s.sessionCookie(b))
	if err != nil {
		t.Fatalf("loading the session: %v", err)
	}
	raw, _ := s.auth.sm.Get(ctx, keyTokens).([]byte)
	tokens, err := unmarshalTokens(raw)
	if err != nil {
		t.Fatalf("stored tokens: %v", err)
	}
	return tokens
}

func TestRefreshWhenExpired(t *testing.T) {
	s := newSite(t, nil)
	b := signedInWithShortTokens(t, s, 5*time.Minute)
	before := currentTokens(t, s, b)

	s.clock.Advance(4 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if s.idp.RefreshRequests != 0 {
		t.Fatalf("refresh requests = %d before the token is due, want 0", s.idp.RefreshRequests)
	}

	s.clock.Advance(time.Minute - refreshMargin + time.Second)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if s.idp.RefreshRequests != 1 {
		t.Fatalf("refresh requests = %d once the token is due, want 1", s.idp.RefreshRequests)
	}
	after := currentTokens(t, s, b)
	if after.AccessToken == before.AccessToken || !after.Expiry.After(before.Expiry) {
		t.Errorf("tokens after refresh: access token changed %v, expiry %v -> %v; want a new token that expires later",
			after.AccessToken != before.AccessToken, before.Expiry, after.Expiry)
	}
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if s.idp.RefreshRequests != 1 {
		t.Errorf("refresh requests = %d after the refreshed token was saved, want still 1", s.idp.RefreshRequests)
	}
	mustContain(t, "tokens after refresh", after.IDToken, ".")
}

func TestRefreshOncePerSessionConcurrently(t *testing.T) {
	s := newSite(t, nil)
	s.idp.RotateRefreshTokens = true
	b := signedInWithShortTokens(t, s, time.Minute)
	s.clock.Advance(2 * time.Minute)

	release := make(chan struct{})
	s.idp.Mu.Lock()
	s.idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
		<-release // hold the first refresh until every request waits on it
		return false
	}
	s.idp.Mu.Unlock()

	const n = 20
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			statuses <- b.get(s.srv.URL + "/private").StatusCode
		})
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(statuses)
	for code := range statuses {
		if code != http.StatusOK {
			t.Errorf("a concurrent request got status %d, want 200", code)
		}
	}
	if s.idp.RefreshRequests != 1 {
		t.Errorf("refresh requests for %d concurrent requests = %d, want 1", n, s.idp.RefreshRequests)
	}

	// A request that still carries the old refresh token must not reuse it
	// (reuse would revoke the grant); the next refresh works normally.
	s.clock.Advance(2 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if s.idp.RefreshRequests != 2 {
		t.Errorf("refresh requests after the next expiry = %d, want 2", s.idp.RefreshRequests)
	}
	if strings.Contains(s.logs.String(), "rejected the refresh token") {
		t.Errorf("the grant was revoked by refresh token reuse:\n%s", s.logs.String())
	}
}

func TestRefreshRevokedEndsSession(t *testing.T) {
	s := newSite(t, nil)
	b := signedInWithShortTokens(t, s, time.Minute)
	s.idp.RevokeAll()
	s.clock.Advance(2 * time.Minute)

	r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
	if !strings.HasPrefix(r.Header.Get("Location"), "/sign-in") {
		t.Errorf("after revocation, Location = %q, want the sign-in page", r.Header.Get("Location"))
	}
	mustContain(t, "log", s.logs.String(), "session ended", "invalid_grant")
	if r := b.get(s.srv.URL + "/"); r.body != "home, anonymous" {
		t.Errorf("home page after revocation = %q, want anonymous", r.body)
	}
}

func TestRefreshSubjectChangedEndsSession(t *testing.T) {
	s := newSite(t, nil)
	b := signedInWithShortTokens(t, s, time.Minute)
	s.idp.Mu.Lock()
	s.idp.IDToken = func(h, c map[string]any) {
		if _, signIn := c["nonce"]; !signIn {
			c["sub"] = "someone-else"
		}
	}
	s.idp.Mu.Unlock()
	s.clock.Advance(2 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
	mustContain(t, "log", s.logs.String(), "refreshed ID token rejected", "different subject")
}

func TestRefreshProviderDown(t *testing.T) {
	s := newSite(t, nil)
	b := signedInWithShortTokens(t, s, time.Minute)
	before := currentTokens(t, s, b)
	s.idp.Mu.Lock()
	s.idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	}
	s.idp.Mu.Unlock()
	s.clock.Advance(2 * time.Minute)

	// The session outlives a passing failure; the old tokens stay.
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if got := currentTokens(t, s, b); got.AccessToken != before.AccessToken {
		t.Errorf("access token changed after a failed refresh")
	}
	mustContain(t, "log", s.logs.String(), "token refresh failed", "503")
	if n := strings.Count(s.logs.String(), "token refresh failed"); n != 2 {
		t.Errorf("refresh failures logged %d times for two requests, want 2 (one attempt, one remembered)", n)
	}

	s.idp.Mu.Lock()
	s.idp.Token = nil
	s.idp.Mu.Unlock()
	s.clock.Advance(refreshRetryAfter + time.Second)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if got := currentTokens(t, s, b); got.AccessToken == before.AccessToken {
		t.Errorf("access token unchanged once the provider is back, want refreshed")
	}
}

func TestRefreshNotNeededWithoutRefreshToken(t *testing.T) {
	tok := &Tokens{AccessToken: "a", Expiry: time.Now().Add(-time.Hour)}
	s := newSite(t, nil)
	if s.auth.needsRefresh(tok) {
		t.Error("needsRefresh without a refresh token = true, want false")
	}
	tok.refreshToken = "r"
	tok.Expiry = time.Time{}
	if s.auth.needsRefresh(tok) {
		t.Error("needsRefresh without an expiry = true, want false")
	}
}

func TestSignInURLOnlyForSafeTargets(t *testing.T) {
	s := newSite(t, nil)
	for target, want := range map[string]string{
		"/private?a=b": "/sign-in?return_to=%2Fprivate%3Fa%3Db",
		"/":            "/sign-in",
	} {
		req, _ := http.NewRequest("GET", s.srv.URL+target, nil)
		if got := s.auth.signInURL(req); got != want {
			t.Errorf("signInURL(%s) = %q, want %q", target, got, want)
		}
	}
	req := &http.Request{Method: "GET", URL: &url.URL{Path: "//evil.example/x"}}
	if got := s.auth.signInURL(req); got != "/sign-in" {
		t.Errorf("signInURL(//evil.example/x) = %q, want /sign-in without return_to", got)
	}
}

func TestWriteQueryEscapedMatchesNetURL(t *testing.T) {
	for _, s := range []string{"", "/private?x=1&y=%2F", "/a b+c", "/é~_.-!*'();:@&=+$,/?#[]", "\x00\x7f\xff"} {
		var b strings.Builder
		writeQueryEscaped(&b, s)
		if got, want := b.String(), url.QueryEscape(s); got != want {
			t.Errorf("writeQueryEscaped(%q) = %q, want %q as url.QueryEscape", s, got, want)
		}
	}
}

// TestRequireAuthOwnRoutes checks which requests for latch's own paths
// RequireAuth lets through: the exact paths, for the router to serve, and
// not the same paths written with escapes, which some routers hand to the
// application. A router that does not serve latch's routes is reported.
func TestRequireAuthOwnRoutes(t *testing.T) {
	s := newSite(t, nil)
	var reached atomic.Int32
	app := s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "application page")
	}))
	s.srv.Config.Handler = app

	b := s.browser()
	for _, path := range []string{"/sign%2Din", "/%73ign-in", "/sign-in%2F", "/sign%2dout", "/%2Fsign-in"} {
		r := b.get(s.srv.URL + path)
		if r.StatusCode != http.StatusFound || strings.Contains(r.body, "application page") {
			t.Errorf("GET %s anonymously = %d %q, want 302 to sign in", path, r.StatusCode, r.body)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the application served %d escaped requests, want none", n)
	}

	// The wrapped handler is not a router serving latch's routes.
	b.get(s.srv.URL + "/sign-in")
	b.get(s.srv.URL + "/sign-out")
	if got := strings.Count(s.logs.String(), "did not serve that route"); got != 1 {
		t.Errorf("logged the unserved route %d times, want once:\n%s", got, s.logs)
	}

	// Behind Wrap, latch serves its routes and nothing is logged.
	s2 := newSite(t, nil)
	s2.srv.Config.Handler = s2.auth.Wrap(s2.auth.RequireAuth(http.NotFoundHandler()))
	s2.browser().get(s2.srv.URL+"/sign-in").expectStatus(t, http.StatusFound)
	if strings.Contains(s2.logs.String(), "did not serve that route") {
		t.Errorf("logged an unserved route behind Wrap:\n%s", s2.logs)
	}
}
