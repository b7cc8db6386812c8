// Package exampletest checks the router example programs under example/
// against an in-process OpenID provider. Every program serves the same
// site: a home page, a /dashboard page and an /api/me JSON endpoint, both
// behind RequireAuth, and latch's routes.
package exampletest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/oidctest"
)

// Settings are the environment variables that an example reads, pointing
// at the test's provider and server.
type Settings struct {
	Issuer, ClientID, ClientSecret string
	BaseURL                        string
}

// Run starts a provider, serves the handler that build returns for it, and
// walks a browser and a JSON client through the site: anonymous visits,
// sign-in through /dashboard, /api/me, and sign-out.
func Run(t *testing.T, build func(Settings) (http.Handler, error)) {
	t.Helper()
	idp := oidctest.New(t)
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	h, err := build(Settings{Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, BaseURL: srv.URL})
	if err != nil {
		t.Fatalf("building the example: %v", err)
	}
	srv.Config.Handler = h

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A transport of its own, because httptest.Server.Close closes the
	// idle connections of http.DefaultTransport, which breaks requests of
	// parallel tests that are about to reuse one.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	c := &client{t: t, base: srv.URL, http: &http.Client{Transport: transport, Jar: jar, Timeout: 10 * time.Second}}

	if code, body := c.page("/"); code != http.StatusOK || !strings.Contains(body, "You are not signed in") {
		t.Errorf("GET / before sign-in: status %d, body %.300q; want 200 and %q", code, body, "You are not signed in")
	}
	if code, body := c.api("/api/me"); code != http.StatusUnauthorized || !strings.Contains(body, `"unauthenticated"`) {
		t.Errorf("GET /api/me before sign-in: status %d, body %.300q; want 401 and latch's JSON error", code, body)
	}

	// The dashboard sends the browser through the provider and back.
	if code, body := c.page("/dashboard"); code != http.StatusOK || !strings.Contains(body, "Signed in as <strong>Ada Lovelace</strong>") {
		t.Errorf("GET /dashboard through sign-in: status %d, body %.300q; want 200 and the user's name", code, body)
	}
	code, body := c.api("/api/me")
	var me map[string]string
	if err := json.Unmarshal([]byte(body), &me); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/me after sign-in: status %d, body %.300q; want 200 and a JSON object", code, body)
	}
	if me["subject"] != "user-1" || me["email"] != "ada@example.com" || me["method"] != "oidc" {
		t.Errorf("GET /api/me after sign-in: %v; want subject user-1, email ada@example.com, method oidc", me)
	}

	// Sign-out goes to the provider's end-session endpoint, which sends
	// the browser back to the home page.
	if code, body := c.signOut(); code != http.StatusOK || !strings.Contains(body, "You are not signed in") {
		t.Errorf("POST /sign-out: ends with status %d, body %.300q; want 200 and the anonymous home page", code, body)
	}
	idp.Mu.Lock()
	endSessions := len(idp.EndSessions)
	idp.Mu.Unlock()
	if endSessions != 1 {
		t.Errorf("end-session requests at the provider = %d, want 1", endSessions)
	}
	if code, _ := c.api("/api/me"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/me after sign-out: status %d, want 401", code)
	}
}

// client follows redirects and keeps cookies, as a browser does.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c *client) do(method, path string, header http.Header) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		c.t.Fatalf("NewRequest(%s %s): %v", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

func (c *client) page(path string) (int, string) {
	c.t.Helper()
	return c.do(http.MethodGet, path, http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}})
}

func (c *client) api(path string) (int, string) {
	c.t.Helper()
	return c.do(http.MethodGet, path, http.Header{"Accept": {"application/json"}})
}

// signOut posts the home page's sign-out form.
func (c *client) signOut() (int, string) {
	c.t.Helper()
	return c.do(http.MethodPost, "/sign-out", http.Header{
		"Accept": {"text/html"}, "Origin": {c.base}, "Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Mode": {"navigate"},
	})
}
