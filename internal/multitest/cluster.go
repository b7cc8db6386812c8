// Package multitest runs a site on several latch instances that share
// their state, as behind a load balancer, for the tests of the shared
// stores in store/redis and store/postgres. It provides:
//
//   - [Start]: the cluster of instances behind one front server;
//   - [Browser]: a client that picks the instance of each request;
//   - [Outbox]: a code sender that keeps what it sends;
//   - [Proxy]: a TCP proxy that cuts or stalls the connection to a store;
//   - [RunSessions], [RunOTP] and [RunOutage]: the suites that every
//     shared backend runs.
package multitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/internal/oidctest"
)

// InstanceHeader is the request header that selects the instance serving a
// request, by its index in decimal. The front server strips it.
const InstanceHeader = "X-Multitest-Instance"

// Options configures [Start].
type Options struct {
	// Instances is the number of latch instances. Zero means two.
	Instances int

	// SessionStore returns the session store of instance i. Each call
	// should return an independent value (its own connection pool) on the
	// shared backend, as separate processes would have. Required.
	SessionStore func(t testing.TB, i int) scs.Store

	// Edit, when set, changes the Config of instance i before latch.New.
	Edit func(i int, c *latch.Config)

	// Provider is the OpenID provider. Nil means a new oidctest provider.
	Provider *oidctest.Provider
}

// Cluster is a site served by several latch instances behind one front
// server, like a load balancer whose choice of instance the test makes.
// Every instance has the same BaseURL, the front server's URL.
type Cluster struct {
	t testing.TB

	// URL is the front server's URL, every instance's BaseURL.
	URL string
	// IdP is the OpenID provider that the instances share.
	IdP *oidctest.Provider
	// Auth holds the instances, by index.
	Auth []*latch.Auth
	// Logs holds each instance's log output.
	Logs []*LogBuffer
	// Clock is the clock of the instances and of the provider.
	Clock *Clock

	handlers []http.Handler
}

// Start starts the provider (unless given), the front server and the
// instances. Each instance serves latch's routes, "/" (which names the
// signed-in user) and "/private" (behind RequireAuth); every body starts
// with "instance N:". Everything is closed when t ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Instances == 0 {
		opts.Instances = 2
	}
	c := &Cluster{t: t, IdP: opts.Provider, Clock: NewClock(time.Now())}
	if c.IdP == nil {
		c.IdP = oidctest.New(t)
	}
	c.IdP.Mu.Lock()
	c.IdP.Now = c.Clock.Now
	c.IdP.Mu.Unlock()

	// The front server must exist before the instances, since their
	// BaseURL names it.
	front := httptest.NewServer(nil)
	t.Cleanup(front.Close)
	c.URL = front.URL

	for i := range opts.Instances {
		logs := &LogBuffer{}
		cfg := latch.Config{
			Issuer:                  c.IdP.Issuer,
			ClientID:                c.IdP.ClientID,
			ClientSecret:            c.IdP.ClientSecret,
			BaseURL:                 front.URL,
			InsecureAllowHTTPIssuer: true,
			HTTPClient:              c.IdP.Client(),
			SessionStore:            opts.SessionStore(t, i),
			Logger:                  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Now:                     c.Clock.Now,
		}
		if opts.Edit != nil {
			opts.Edit(i, &cfg)
		}
		auth, err := latch.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("latch.New for instance %d: %v", i, err)
		}
		t.Cleanup(func() { _ = auth.Close() })
		c.Auth = append(c.Auth, auth)
		c.Logs = append(c.Logs, logs)
		c.handlers = append(c.handlers, auth.Wrap(app(i, auth)))
	}

	front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.Header.Get(InstanceHeader))
		if err != nil || i < 0 || i >= len(c.handlers) {
			i = 0
		}
		r.Header.Del(InstanceHeader)
		c.handlers[i].ServeHTTP(w, r)
	})
	return c
}

// app is the application behind instance i.
func app(i int, auth *latch.Auth) http.Handler {
	prefix := "instance " + strconv.Itoa(i) + ": "
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := latch.UserFrom(r.Context()); ok {
			io.WriteString(w, prefix+"home of "+u.Subject)
			return
		}
		io.WriteString(w, prefix+"home, anonymous")
	})
	mux.Handle("/private", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := latch.UserFrom(r.Context())
		io.WriteString(w, prefix+"private for "+u.Subject)
	})))
	return mux
}

// Browser is a cookie-keeping client that does not follow redirects, so a
// test checks and routes every step.
type Browser struct {
	t       testing.TB
	cluster *Cluster
	client  *http.Client
	// Header is sent with every request. It starts as a browser
	// navigation's Accept and Sec-Fetch-Mode.
	Header http.Header
}

// Browser returns a new browser with an empty cookie jar.
func (c *Cluster) Browser() *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		c.t.Fatalf("cookiejar.New: %v", err)
	}
	return &Browser{
		t:       c.t,
		cluster: c,
		client: &http.Client{
			Jar:           jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       30 * time.Second,
		},
		Header: http.Header{
			"Accept":         {"text/html,application/xhtml+xml"},
			"Sec-Fetch-Mode": {"navigate"},
		},
	}
}

// APIClient returns a new client that asks for JSON, as a script or a
// fetch call does, with an empty cookie jar.
func (c *Cluster) APIClient() *Browser {
	b := c.Browser()
	b.Header = http.Header{"Accept": {"application/json"}}
	return b
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
	// Elapsed is the time from sending the request to reading the body.
	Elapsed time.Duration
}

// Do sends a request to target: a path, which goes to the given instance
// through the front server, or an absolute URL, which goes where it names.
// It fails the test when no response arrives.
func (b *Browser) Do(instance int, method, target string, form url.Values, header http.Header) *Response {
	b.t.Helper()
	r, err := b.Send(instance, method, target, form, header)
	if err != nil {
		b.t.Fatalf("%s %s on instance %d: %v", method, target, instance, err)
	}
	return r
}

// Send is Do for goroutines other than the test's: it returns the error
// instead of failing the test.
func (b *Browser) Send(instance int, method, target string, form url.Values, header http.Header) (*Response, error) {
	if strings.HasPrefix(target, "/") {
		target = b.cluster.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}

	for k, v := range b.Header {
		req.Header[k] = v
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(InstanceHeader, strconv.Itoa(instance))

	start := time.Now()
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return &Response{Response: resp, Body: string(data), Elapsed: time.Since(start)}, nil
}

// Get sends a GET for target to the given instance.
func (b *Browser) Get(instance int, target string) *Response {
	b.t.Helper()
	return b.Do(instance, http.MethodGet, target, nil, nil)
}

// Post sends a form to the given instance as a same-origin page would.
func (b *Browser) Post(instance int, target string, form url.Values) *Response {
	b.t.Helper()
	return b.Do(instance, http.MethodPost, target, form, http.Header{
		"Sec-Fetch-Site": {"same-origin"},
		"Origin":         {b.cluster.URL},
	})
}

// SessionCookie returns the value of the site's session cookie, or "".
func (b *Browser) SessionCookie() string {
	u, _ := url.Parse(b.cluster.URL)
	name := b.cluster.Auth[0].SessionManager().Cookie.Name
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetSessionCookie replaces the site's session cookie, as a client
// replaying a stolen or old cookie would.
func (b *Browser) SetSessionCookie(value string) {
	u, _ := url.Parse(b.cluster.URL)
	name := b.cluster.Auth[0].SessionManager().Cookie.Name
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// SignIn signs the provider's user in, starting at the sign-in route on
// instance start and returning through the callback on instance callback,
// and returns the final redirect's target.
func (c *Cluster) SignIn(b *Browser, start, callback int) *url.URL {
	c.t.Helper()
	authURL := b.Get(start, "/sign-in").Expect(c.t, http.StatusFound).Location(c.t)
	back := b.Do(0, http.MethodGet, authURL.String(), nil, nil).Expect(c.t, http.StatusFound).Location(c.t)
	if !strings.HasPrefix(back.String(), c.URL+"/") {
		c.t.Fatalf("provider redirected to %s, want the site at %s", back, c.URL)
	}
	return b.Get(callback, back.RequestURI()).Expect(c.t, http.StatusFound).Location(c.t)
}

// Expect fails the test unless r has the wanted status.
func (r *Response) Expect(t testing.TB, want int) *Response {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.Body)
	}
	return r
}

// Location returns the resolved Location of a redirect.
func (r *Response) Location(t testing.TB) *url.URL {
	t.Helper()
	loc, err := r.Response.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d, no Location: %v", r.Request.Method, r.Request.URL, r.StatusCode, err)
	}
	return loc
}

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

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

// LogBuffer collects log output for assertions. It is safe for concurrent
// use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
