// Package adaptertest serves an application built on latch, signed in
// against an in-process OpenID provider, for the tests of the adapters and
// the conformance table that runs every framework.
package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/internal/oidctest"
)

// Clock is a settable clock shared by a site's provider and Auth.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer collects an Auth's log output, so that a failing test can show
// it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// FlakyStore is an in-memory scs store whose reads or writes fail while a
// test sets FailFind or FailCommit.
type FlakyStore struct {
	*memstore.MemStore
	FailFind   atomic.Bool
	FailCommit atomic.Bool
}

// ErrStoreDown is the error that a FlakyStore returns while set to fail.
var ErrStoreDown = errors.New("adaptertest: session store is down")

// Find returns ErrStoreDown while FailFind is set.
func (s *FlakyStore) Find(token string) ([]byte, bool, error) {
	if s.FailFind.Load() {
		return nil, false, ErrStoreDown
	}
	return s.MemStore.Find(token)
}

// Commit returns ErrStoreDown while FailCommit is set.
func (s *FlakyStore) Commit(token string, b []byte, expiry time.Time) error {
	if s.FailCommit.Load() {
		return ErrStoreDown
	}
	return s.MemStore.Commit(token, b, expiry)
}

// Site is one application under test: an Auth, the application built
// around it, and the provider that it signs in with.
type Site struct {
	// T is the test that the site belongs to.
	T *testing.T
	// IdP is the OpenID provider, with the fixed user "user-1".
	IdP *oidctest.Provider
	// Clock is the time of IdP and Auth.
	Clock *Clock
	// Store holds Auth's sessions.
	Store *FlakyStore
	// Auth is the site's latch.
	Auth *latch.Auth
	// Server serves the application at Server.URL, the Auth's BaseURL.
	Server *httptest.Server
	// Paths are the Auth's paths, with latch's defaults in place of the
	// fields that the Config left empty.
	Paths latch.Paths
	logs  *logBuffer
}

// NewSite starts a provider and serves the handler that build makes
// around a new Auth. The Auth keeps its sessions in Site.Store and logs to
// a buffer that is printed when the test fails. Each of edits may change
// the Config before latch.New.
func NewSite(t *testing.T, build func(*latch.Auth) http.Handler, edits ...func(*latch.Config)) *Site {
	t.Helper()
	s := &Site{
		T:     t,
		IdP:   oidctest.New(t),
		Clock: &Clock{now: time.Now()},
		Store: &FlakyStore{MemStore: memstore.NewWithCleanupInterval(0)},
		logs:  &logBuffer{},
	}
	s.IdP.Mu.Lock()
	s.IdP.Now = s.Clock.Now
	s.IdP.Mu.Unlock()

	// The server must exist before New, since BaseURL names it.
	s.Server = httptest.NewServer(nil)
	t.Cleanup(s.Server.Close)
	cfg := latch.Config{
		Issuer:                  s.IdP.Issuer,
		ClientID:                s.IdP.ClientID,
		ClientSecret:            s.IdP.ClientSecret,
		BaseURL:                 s.Server.URL,
		InsecureAllowHTTPIssuer: true,
		HTTPClient:              s.IdP.Client(),
		SessionStore:            s.Store,
		Logger:                  slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                     s.Clock.Now,
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	s.Paths = withDefaults(cfg.Paths)
	auth, err := latch.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("latch.New: %v", err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	s.Auth = auth
	s.Server.Config.Handler = build(auth)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("latch log:\n%s", s.logs.String())
		}
	})
	return s
}

// withDefaults fills the empty fields of p with the defaults that
// latch.Paths documents.
func withDefaults(p latch.Paths) latch.Paths {
	for _, f := range []struct {
		field    *string
		fallback string
	}{
		{&p.SignIn, "/sign-in"},
		{&p.Callback, "/callback"},
		{&p.SignOut, "/sign-out"},
		{&p.AfterSignIn, "/"},
		{&p.PhoneSignIn, "/sign-in/phone"},
		{&p.PhoneSignUp, "/sign-up/phone"},
	} {
		if *f.field == "" {
			*f.field = f.fallback
		}
	}
	return p
}

// SessionCookie returns latch's session cookie among those that r sets,
// or nil.
func (s *Site) SessionCookie(r *http.Response) *http.Cookie {
	name := s.Auth.SessionManager().Cookie.Name
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Browser is a cookie-keeping client that does not follow redirects, so
// that tests see every step.
type Browser struct {
	// Client has the browser's cookie jar.
	Client *http.Client
	site   *Site
}

// Browser returns a new browser without cookies.
func (s *Site) Browser() *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.T.Fatalf("cookiejar.New: %v", err)
	}
	// A transport of its own, because httptest.Server.Close closes the
	// idle connections of http.DefaultTransport, which breaks requests of
	// parallel tests that are about to reuse one.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	s.T.Cleanup(transport.CloseIdleConnections)
	return &Browser{
		site: s,
		Client: &http.Client{
			Transport:     transport,
			Jar:           jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       10 * time.Second,
		},
	}
}

// SignedIn returns a new browser that has signed in.
func (s *Site) SignedIn() *Browser {
	s.T.Helper()
	b := s.Browser()
	ExpectStatus(s.T, b.SignIn(""), http.StatusFound)
	return b
}

// Request headers of the kinds of client that latch distinguishes.
var (
	Navigation = http.Header{"Accept": {"text/html,application/xhtml+xml"}, "Sec-Fetch-Mode": {"navigate"}}
	JSONClient = http.Header{"Accept": {"application/json"}}
	Fetch      = http.Header{"Accept": {"*/*"}, "Sec-Fetch-Mode": {"cors"}, "Sec-Fetch-Site": {"same-origin"}}
)

// Request is a request for a Browser to send.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is a path on the site, with its query, or an absolute URL.
	Path string
	// Header holds the request headers to send.
	Header http.Header
	// Form, when not nil, is sent as a URL-encoded body.
	Form url.Values
}

// Page returns a browser navigation to path.
func Page(path string) Request {
	return Request{Method: http.MethodGet, Path: path, Header: Navigation}
}

// API returns a GET of path from a JSON client.
func API(path string) Request {
	return Request{Method: http.MethodGet, Path: path, Header: JSONClient}
}

// SameOriginPost returns a form post from one of the site's own pages.
func SameOriginPost(path string) Request {
	return Request{Method: http.MethodPost, Path: path, Form: url.Values{}, Header: http.Header{
		"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"same-origin"},
	}}
}

// CrossSitePost returns a form post from another site's page.
func CrossSitePost(path string) Request {
	return Request{Method: http.MethodPost, Path: path, Form: url.Values{}, Header: http.Header{
		"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"cross-site"},
		"Origin": {"https://attacker.example"},
	}}
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	// Body is the whole response body.
	Body string
}

// String names the response's request, for failure messages.
func (r *Response) String() string {
	return r.Request.Method + " " + r.Request.URL.RequestURI()
}

// Send sends req and reads the whole response. A same-origin form post
// gets the site's Origin header, as a browser would send it.
func (b *Browser) Send(req Request) *Response {
	t := b.site.T
	t.Helper()
	target := req.Path
	if strings.HasPrefix(target, "/") {
		target = b.site.Server.URL + target
	}

	var body io.Reader
	if req.Form != nil {
		body = strings.NewReader(req.Form.Encode())
	}
	r, err := http.NewRequest(req.Method, target, body)
	if err != nil {
		t.Fatalf("NewRequest(%s %s): %v", req.Method, target, err)
	}
	for k, v := range req.Header {
		r.Header[k] = v
	}
	if req.Form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
			r.Header.Set("Origin", b.site.Server.URL)
		}
	}

	resp, err := b.Client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, target, err)
	}
	return &Response{Response: resp, Body: string(data)}
}

// SignIn runs a whole sign-in through the provider, asking to return to
// returnTo unless it is empty, and returns the callback's response.
func (b *Browser) SignIn(returnTo string) *Response {
	t := b.site.T
	t.Helper()
	path := b.site.Paths.SignIn
	if returnTo != "" {
		path += "?return_to=" + url.QueryEscape(returnTo)
	}
	start := b.Send(Page(path))
	ExpectStatus(t, start, http.StatusFound)
	authorize := b.Send(Page(start.Header.Get("Location")))
	ExpectStatus(t, authorize, http.StatusFound)
	return b.Send(Page(authorize.Header.Get("Location")))
}

// ExpectStatus ends the test unless r has the wanted status.
func ExpectStatus(t testing.TB, r *Response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body: %.300s", r, r.StatusCode, want, r.Body)
	}
}
