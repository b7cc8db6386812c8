package latch

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/oidctest"
)

// clock is a settable clock shared by a test's provider and Auth.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer collects an Auth's log output for assertions.
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

// site is a relying party under test: an Auth wrapped around a small
// application, served by an httptest server.
type site struct {
	t     *testing.T
	auth  *Auth
	srv   *httptest.Server
	idp   *oidctest.Provider
	clock *clock
	logs  *logBuffer
}

// newSite starts a provider and a site that uses it. edit may change the
// Config before New.
func newSite(t *testing.T, edit func(*Config)) *site {
	t.Helper()
	idp := oidctest.New(t)
	return newSiteFor(t, idp, edit)
}

func newSiteFor(t *testing.T, idp *oidctest.Provider, edit func(*Config)) *site {
	t.Helper()
	s := &site{t: t, idp: idp, clock: newClock(), logs: &logBuffer{}}
	idp.Mu.Lock()
	idp.Now = s.clock.Now
	idp.Mu.Unlock()

	// The server must exist before New, since BaseURL names it.
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(nil)
	t.Cleanup(s.srv.Close)

	cfg := Config{
		Issuer:                  idp.Issuer,
		ClientID:                idp.ClientID,
		ClientSecret:            idp.ClientSecret,
		BaseURL:                 s.srv.URL,
		InsecureAllowHTTPIssuer: true,
		HTTPClient:              idp.Client(),
		Logger:                  slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                     s.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	auth, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = auth.Close() })
	s.auth = auth

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom(r.Context()); ok {
			io.WriteString(w, "home of "+u.Subject)
			return
		}
		io.WriteString(w, "home, anonymous")
	})
	mux.Handle("/private", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if !ok {
			t.Errorf("UserFrom inside RequireAuth: no user")
		}
		io.WriteString(w, "private for "+u.Subject)
	})))
	s.srv.Config.Handler = auth.Wrap(mux)
	return s
}

// testTransport is the transport of every test browser. It is not
// http.DefaultTransport, whose idle connections httptest.Server.Close
// closes, which breaks requests of tests running in parallel. It is
// shared, so that browsers made by the thousand in the soak test reuse
// connections instead of leaving idle ones behind.
var testTransport = http.DefaultTransport.(*http.Transport).Clone()

// browser is a cookie-keeping client that does not follow redirects, so
// tests see every step.
type browser struct {
	t      *testing.T
	client *http.Client
	header http.Header
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{
		t: s.t,
		client: &http.Client{
			Transport:     testTransport,
			Jar:           jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       10 * time.Second,
		},
		header: http.Header{
			"Accept":         {"text/html,application/xhtml+xml"},
			"Sec-Fetch-Mode": {"navigate"},
		},
	}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

func (b *browser) do(method, target string, form url.Values, header http.Header) *response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatalf("NewRequest(%s %s): %v", method, target, err)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(data)}
}

func (b *browser) get(target string) *response { return b.do(http.MethodGet, target, nil, nil) }

// post sends a form as a same-origin browser would.
func (b *browser) post(target string, form url.Values) *response {
	u, _ := url.Parse(target)
	return b.do(http.MethodPost, target, form, http.Header{
		"Sec-Fetch-Site": {"same-origin"},
		"Origin":         {u.Scheme + "://" + u.Host},
	})
}

// text returns the body with HTML character references decoded, for
// checking the words a person reads.
func (r *response) text() string { return html.UnescapeString(r.body) }

// location returns the resolved Location of a redirect.
func (r *response) location(t *testing.T) *url.URL {
	t.Helper()
	loc, err := r.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d, no Location: %v", r.Request.Method, r.Request.URL, r.StatusCode, err)
	}
	return loc
}

// expectStatus fails the test unless r has the wanted status.
func (r *response) expectStatus(t *testing.T, want int) *response {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.body)
	}
	return r
}

// startSignIn requests the sign-in page and returns the provider's
// authorization URL it redirects to.
func (s *site) startSignIn(b *browser, query string) *url.URL {
	s.t.Helper()
	target := s.srv.URL + "/sign-in"
	if query != "" {
		target += "?" + query
	}
	return b.get(target).expectStatus(s.t, http.StatusFound).location(s.t)
}

// authorize follows the provider's redirect and returns the callback URL.
func (s *site) authorize(b *browser, authURL *url.URL) *url.URL {
	s.t.Helper()
	return b.get(authURL.String()).expectStatus(s.t, http.StatusFound).location(s.t)
}

// signIn runs a whole sign-in and returns the final redirect target.
func (s *site) signIn(b *browser) *url.URL {
	s.t.Helper()
	callback := s.authorize(b, s.startSignIn(b, ""))
	return b.get(callback.String()).expectStatus(s.t, http.StatusFound).location(s.t)
}

// sessionCookie returns the site's session cookie held by b.
func (s *site) sessionCookie(b *browser) string {
	u, _ := url.Parse(s.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == s.auth.sm.Cookie.Name {
			return c.Value
		}
	}
	return ""
}

// mustContain fails the test unless s contains every one of subs.
func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q; it is:\n%.600s", what, sub, s)
		}
	}
}

// serve runs one request through h with a recorder.
func serve(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
