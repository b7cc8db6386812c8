package latch

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/testprovider"
)

// interopSite is a relying party in front of a real oidc-provider.
type interopSite struct {
	srv  *httptest.Server
	auth *Auth
	op   *testprovider.Provider
	logs *logBuffer
}

func startInterop(t *testing.T, opts testprovider.Options, edit func(*Config)) *interopSite {
	t.Helper()
	if reason, ok := testprovider.Available(); !ok {
		t.Skip(reason)
	}
	s := &interopSite{logs: &logBuffer{}}
	s.srv = httptest.NewServer(nil)
	t.Cleanup(s.srv.Close)

	opts.RedirectURIs = []string{s.srv.URL + "/callback"}
	opts.PostLogoutRedirectURIs = []string{s.srv.URL + "/"}
	opts.AutoConsent = true
	s.op = testprovider.Start(t, opts)

	client := &http.Client{Timeout: 10 * time.Second}
	if pool := s.op.CertPool(); pool != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	cfg := Config{
		Issuer:       s.op.Issuer(),
		ClientID:     s.op.ClientID(),
		ClientSecret: s.op.ClientSecret(),
		BaseURL:      s.srv.URL,
		HTTPClient:   client,
		Logger:       slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if strings.HasPrefix(cfg.Issuer, "http:") {
		cfg.InsecureAllowHTTPIssuer = true
	}
	if edit != nil {
		edit(&cfg)
	}
	auth, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New against oidc-provider: %v\nprovider output:\n%s", err, s.op.Output())
	}
	s.auth = auth

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := UserFrom(r.Context()); ok {
			io.WriteString(w, "home of "+u.Subject)
			return
		}
		io.WriteString(w, "home, anonymous")
	})
	mux.Handle("/private", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		io.WriteString(w, strings.Join([]string{u.Subject, u.Name, u.Email, u.Phone, u.Picture}, "|"))
	})))
	mux.Handle("/token", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := TokensFrom(r.Context())
		io.WriteString(w, tok.AccessToken)
	})))
	s.srv.Config.Handler = auth.Wrap(mux)
	return s
}

func (s *interopSite) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func TestInteropOIDCProvider(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startInterop(t, testprovider.Options{TLS: tlsOn, AccessTokenTTL: 4 * time.Second}, nil)
			alice := testprovider.Alice
			browser := s.op.HTTPClient()

			res, err := s.op.SignIn(browser, s.srv.URL+"/sign-in?return_to=%2Fprivate", alice.Login)
			if err != nil {
				t.Fatalf("sign-in through oidc-provider: %v\nprovider output:\n%s\nlatch log:\n%s", err, s.op.Output(), s.logs.String())
			}
			want := strings.Join([]string{alice.Subject, alice.Name, alice.Email, alice.PhoneNumber, alice.Picture}, "|")
			if got := string(res.Body); got != want {
				t.Fatalf("page after sign-in = %q, want the protected page with %q\nlatch log:\n%s", got, want, s.logs.String())
			}
			if q := res.ReturnURL.Query(); q.Get("iss") != s.op.Issuer() {
				t.Errorf("authorization response iss = %q, want %q", q.Get("iss"), s.op.Issuer())
			}

			_, first := s.get(t, browser, "/token")
			time.Sleep(5 * time.Second) // past the access token's lifetime
			code, second := s.get(t, browser, "/token")
			if code != http.StatusOK || second == first || second == "" {
				t.Fatalf("after expiry: status %d, token changed %v; want 200 and a refreshed token\nlatch log:\n%s", code, second != first, s.logs.String())
			}

			// Concurrent requests share one refresh. oidc-provider revokes the
			// grant when a rotated refresh token is used twice, so a second
			// refresh would show up below as a signed-out session.
			time.Sleep(5 * time.Second)
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if code, body := s.get(t, browser, "/private"); code != http.StatusOK {
						t.Errorf("concurrent request after expiry: status %d: %.100s", code, body)
					}
				})
			}
			wg.Wait()
			time.Sleep(5 * time.Second)
			if code, _ := s.get(t, browser, "/private"); code != http.StatusOK {
				t.Fatalf("request after the next expiry: status %d, want 200 (grant intact)\nlatch log:\n%s", code, s.logs.String())
			}
			if strings.Contains(s.logs.String(), "refresh failed") || strings.Contains(s.logs.String(), "rejected the refresh token") {
				t.Errorf("latch log shows a failed refresh:\n%s", s.logs.String())
			}

			// Sign out: latch ends its session and sends the browser to the
			// provider's end-session endpoint, which returns to the site.
			req, _ := http.NewRequest("POST", s.srv.URL+"/sign-out", nil)
			resp, err := noRedirects(browser).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			end, err := resp.Location()
			if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(end.String(), s.op.Issuer()) {
				t.Fatalf("POST /sign-out: status %d to %v, want 303 to the provider", resp.StatusCode, end)
			}
			out, err := s.op.SignOut(browser, end.String())
			if err != nil {
				t.Fatalf("end-session at oidc-provider: %v\n%s", err, s.op.Output())
			}
			if out.ReturnURL == nil || out.ReturnURL.String() != s.srv.URL+"/" || string(out.Body) != "home, anonymous" {
				t.Errorf("after end-session: returned to %v with %q, want the site's home page, anonymous", out.ReturnURL, out.Body)
			}
			if code, _ := s.get(t, noRedirects(browser), "/private"); code != http.StatusFound {
				t.Errorf("GET /private after sign-out: status %d, want 302 to sign in", code)
			}
		})
	}
}

func TestInteropDeniedAndReplayed(t *testing.T) {
	s := startInterop(t, testprovider.Options{}, nil)
	browser := s.op.HTTPClient()
	res, err := s.op.Deny(browser, s.srv.URL+"/sign-in")
	if err != nil {
		t.Fatalf("Deny: %v", err)
	}
	// The harness sends no Accept header, so latch responds as it does to
	// an API client.
	if res.Response.StatusCode != http.StatusForbidden || !strings.Contains(string(res.Body), `"error":"access_denied"`) {
		t.Errorf("after cancelling at the provider: status %d, body %.200s; want 403 and access_denied", res.Response.StatusCode, res.Body)
	}

	browser = s.op.HTTPClient()
	back, err := s.op.SignInUntilReturn(browser, s.srv.URL+"/sign-in", testprovider.Bob.Login)
	if err != nil {
		t.Fatalf("SignInUntilReturn: %v", err)
	}
	// The callback URL opened in another browser (login CSRF, or a leaked
	// URL) fails and does not spend the code.
	other := s.op.HTTPClient()
	if code, body := s.get(t, other, back.RequestURI()); code != http.StatusBadRequest {
		t.Errorf("callback in another browser: status %d, want 400: %.200s", code, body)
	}
	if code, body := s.get(t, browser, back.RequestURI()); code != http.StatusOK || !strings.Contains(body, "home of "+testprovider.Bob.Subject) {
		t.Errorf("callback in the right browser: status %d body %q, want Bob's home page", code, body)
	}
	tampered := *back
	q := tampered.Query()
	q.Set("iss", "https://evil.example")
	tampered.RawQuery = q.Encode()
	if code, _ := s.get(t, s.op.HTTPClient(), tampered.RequestURI()); code != http.StatusBadRequest {
		t.Errorf("callback with a foreign iss: status %d, want 400", code)
	}
}
