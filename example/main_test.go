package main

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
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/internal/teststores"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// syncBuffer collects the development sender's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exampleSite runs the example's handler with s on a test server.
type exampleSite struct {
	t       *testing.T
	srv     *httptest.Server
	browser *http.Client
}

func startExample(t *testing.T, s settings) *exampleSite {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	s.baseURL = srv.URL
	if s.regions == nil {
		s.regions = []string{"CN", "US"}
	}
	if s.console == nil {
		s.console = io.Discard
	}
	auth, err := newAuth(context.Background(), s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newAuth: %v", err)
	}
	srv.Config.Handler = auth.Wrap(routes(auth, s.issuer != ""))
	jar, _ := cookiejar.New(nil)
	return &exampleSite{t: t, srv: srv, browser: &http.Client{Jar: jar}}
}

func (e *exampleSite) do(method, path string, form url.Values) (int, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// phoneSignIn signs in with number, reading the code with readCode.
func (e *exampleSite) phoneSignIn(number string, readCode func() string) string {
	e.t.Helper()
	code, page := e.do("POST", "/sign-in/phone?return_to=%2Fdashboard", url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}, "return_to": {"/dashboard"}})
	m := flowField.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		e.t.Fatalf("after sending the code: status %d, page %.400s", code, page)
	}
	_, body := e.do("POST", "/sign-in/phone", url.Values{"action": {"verify"}, "flow": {m[1]}, "code": {readCode()}})
	return body
}

func TestExamplePhoneWithConsoleSender(t *testing.T) {
	console := &syncBuffer{}
	e := startExample(t, settings{console: console})
	if _, body := e.do("GET", "/", nil); !strings.Contains(body, "Sign in with your phone") {
		t.Errorf("home page before sign-in: %q", body)
	}
	body := e.phoneSignIn("138 0013 8000", func() string {
		m := regexp.MustCompile(`code (\d{6}) for \+8613800138000`).FindStringSubmatch(console.String())
		if m == nil {
			t.Fatalf("no code in the console output:\n%s", console.String())
		}
		return m[1]
	})
	if !strings.Contains(html.UnescapeString(body), "Signed in as <strong>+8613800138000</strong> (phone)") {
		t.Errorf("dashboard after phone sign-in: %.500s", body)
	}
	if !strings.Contains(console.String(), "DEVELOPMENT SENDER") {
		t.Errorf("the console sender does not say it is for development:\n%s", console.String())
	}
}

func TestExamplePhoneWithTencent(t *testing.T) {
	tc := tencenttest.NewServer(tencenttest.Options{})
	defer tc.Close()
	e := startExample(t, settings{tencentConfig: string(tc.ConnectorJSON()), tencentEndpoint: tc.URL})
	body := e.phoneSignIn("13800138000", func() string {
		code, ok := tc.LastCode("+8613800138000")
		if !ok {
			t.Fatal("the Tencent stand-in received no code")
		}
		return code
	})
	if !strings.Contains(body, "(phone)") {
		t.Errorf("dashboard after phone sign-in through Tencent: %.500s", body)
	}
}

func TestExampleOIDCSignInAndOut(t *testing.T) {
	idp := oidctest.New(t)
	e := startExample(t, settings{issuer: idp.Issuer, clientID: idp.ClientID, clientSecret: idp.ClientSecret})

	if _, body := e.do("GET", "/", nil); !strings.Contains(body, "You are not signed in") || !strings.Contains(body, "sign in with your provider") {
		t.Errorf("home page before sign-in: %q", body)
	}
	// Following the provider button signs in and returns to the dashboard.
	code, body := e.do("GET", "/sign-in?return_to=%2Fdashboard", nil)
	if code != http.StatusOK || !strings.Contains(body, "Signed in as <strong>Ada Lovelace</strong> (oidc)") || !strings.Contains(body, "ada@example.com") {
		t.Errorf("dashboard after sign-in: status %d body %q", code, body)
	}
	e.do("POST", "/sign-out", url.Values{})
	if _, body := e.do("GET", "/", nil); !strings.Contains(body, "You are not signed in") {
		t.Errorf("home page after sign-out: %q", body)
	}
	if len(idp.EndSessions) != 1 {
		t.Errorf("end-session requests = %d, want 1", len(idp.EndSessions))
	}
}

func TestExampleBadSettings(t *testing.T) {
	for name, s := range map[string]settings{
		"no regions":     {regions: []string{" "}},
		"bad key":        {otpKey: "not hex", regions: []string{"CN"}},
		"bad tencent":    {tencentConfig: `{"accessKeyId": ""}`, regions: []string{"CN"}},
		"missing file":   {tencentConfig: "/nonexistent/tencent.json", regions: []string{"CN"}},
		"unknown region": {regions: []string{"ZZ"}},
		"bad proxy":      {trustedProxies: "10.0.0.0/8, proxy.internal", regions: []string{"CN"}},
	} {
		s.baseURL = "http://localhost:3000"
		s.console = io.Discard
		if _, err := newAuth(context.Background(), s, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("newAuth with %s: no error", name)
		}
	}
}

func TestParseProxies(t *testing.T) {
	got, err := parseProxies(" 10.1.2.3/8, 192.0.2.7 ,, 2001:db8::1 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128"}
	if len(got) != len(want) {
		t.Fatalf("parseProxies = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := parseProxies("proxy.internal"); err == nil || !strings.Contains(err.Error(), "LATCH_TRUSTED_PROXIES") {
		t.Errorf("parseProxies(host name) error = %v, want one naming LATCH_TRUSTED_PROXIES", err)
	}
}

func TestIsLocalHTTP(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:9000": true, "http://localhost:9000": true, "http://[::1]:9000": true,
		"https://127.0.0.1": false, "http://id.example": false, "http://10.0.0.1": false,
	} {
		if got := isLocalHTTP(raw); got != want {
			t.Errorf("isLocalHTTP(%q) = %v, want %v", raw, got, want)
		}
	}
}

// sharedStoreFor opens a store of the named kind for the test, isolated
// from other tests, or skips when its server is not configured.
func sharedStoreFor(t *testing.T, kind string) *sharedStore {
	t.Helper()
	if kind == "redis" {
		rs := teststores.Redis(t, "latch-example")
		return &sharedStore{name: kind, codes: rs, sessions: rs.Sessions(), close: rs.Close}
	}
	ps := teststores.Postgres(t, "latch_example")
	return &sharedStore{name: kind, codes: ps, sessions: ps.Sessions(), close: func() error { ps.Close(); return nil }}
}

func TestExampleSharedStore(t *testing.T) {
	for _, kind := range []string{"redis", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			shared := sharedStoreFor(t, kind)
			console := &syncBuffer{}
			s := settings{console: console, shared: shared, otpKey: strings.Repeat("ab", 32)}
			one, two := startExample(t, s), startExample(t, s)

			// The code is sent by one instance and verified by the other,
			// with the session cookie carried over as a load balancer would.
			code, page := one.do("POST", "/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}, "return_to": {"/dashboard"}})
			m := flowField.FindStringSubmatch(page)
			if code != http.StatusOK || m == nil {
				t.Fatalf("sending the code on instance one: status %d: %.300s", code, page)
			}
			u1, _ := url.Parse(one.srv.URL)
			u2, _ := url.Parse(two.srv.URL)
			two.browser.Jar.SetCookies(u2, one.browser.Jar.Cookies(u1))
			sent := regexp.MustCompile(`code (\d{6}) for \+8613800138000`).FindStringSubmatch(console.String())
			if sent == nil {
				t.Fatalf("no code in the console output")
			}
			if _, body := two.do("POST", "/sign-in/phone", url.Values{"action": {"verify"}, "flow": {m[1]}, "code": {sent[1]}}); !strings.Contains(body, "(phone)") {
				t.Errorf("verifying on instance two: %.300s", body)
			}
			one.browser.Jar.SetCookies(u1, two.browser.Jar.Cookies(u2))
			if _, body := one.do("GET", "/dashboard", nil); !strings.Contains(body, "(phone)") {
				t.Errorf("the session made on instance two is not valid on instance one: %.300s", body)
			}
		})
	}
}

func TestExampleSharedStoreSettings(t *testing.T) {
	ctx := context.Background()
	if _, err := openSharedStore(ctx, settings{redisURL: "redis://x", postgresURL: "postgres://x"}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("both store URLs set: no error")
	}
	if _, err := openSharedStore(ctx, settings{redisURL: "redis://127.0.0.1:1/0"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "LATCH_REDIS_URL") {
		t.Errorf("unreachable Redis = %v, want an error naming LATCH_REDIS_URL", err)
	}
	if s, err := openSharedStore(ctx, settings{}, slog.New(slog.DiscardHandler)); s != nil || err != nil {
		t.Errorf("no store URL = %v, %v; want nil, nil", s, err)
	}
	s := settings{shared: &sharedStore{}, regions: []string{"CN"}, console: io.Discard}
	if _, err := newCodes(s, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "LATCH_OTP_KEY") {
		t.Errorf("shared store without LATCH_OTP_KEY = %v, want an error naming it", err)
	}
}
