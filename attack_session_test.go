package latch

// Session fixation, replay, timeouts and what cookies and URLs carry.

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/otp"
)

// plantCookie puts a session token into b's cookie jar for s, as an
// attacker who can set cookies for the site (a sibling subdomain on a
// site without the __Host- prefix, say) would.
func plantCookie(s *site, b *browser, token string) {
	u, _ := url.Parse(s.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: s.auth.sm.Cookie.Name, Value: token, Path: "/"}})
}

// wantAnonymous fails the test unless a request with the session token is
// anonymous.
func wantAnonymous(t *testing.T, s *site, what, token string) {
	t.Helper()
	b := s.browser()
	plantCookie(s, b, token)
	if r := b.get(s.srv.URL + "/"); r.body != "home, anonymous" {
		t.Errorf("%s: request with the token %s is %q, want anonymous", what, sessionID(token), r.body)
	}
}

func TestAttackSessionFixation(t *testing.T) {
	for _, method := range []string{"oidc", "phone"} {
		t.Run(method, func(t *testing.T) {
			ps := newPhoneSite(t, false, nil)
			s := ps.site
			attacker := s.browser()
			// The attacker gets a real session token of the site by
			// starting a sign-in, and plants it in the victim's browser.
			s.startSignIn(attacker, "")
			planted := s.sessionCookie(attacker)
			victim := s.browser()
			plantCookie(s, victim, planted)

			switch method {
			case "oidc":
				s.signIn(victim)
			case "phone":
				ps.phoneSignIn(victim, "13800138000").expectStatus(t, http.StatusSeeOther)
			}
			after := s.sessionCookie(victim)
			if after == planted {
				t.Fatalf("sign-in kept the planted session token")
			}
			victim.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
			wantAnonymous(t, s, "planted token after the victim signed in", planted)
			attacker.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
		})
	}
	t.Run("token chosen by the attacker", func(t *testing.T) {
		s := newSite(t, nil)
		victim := s.browser()
		plantCookie(s, victim, "attacker-chosen-token-0123456789abcdef")
		s.signIn(victim)
		if got := s.sessionCookie(victim); got == "attacker-chosen-token-0123456789abcdef" {
			t.Fatal("latch adopted a session token that the client chose")
		}
		wantAnonymous(t, s, "chosen token", "attacker-chosen-token-0123456789abcdef")
	})
}

func TestAttackSessionReplayAfterSignOut(t *testing.T) {
	for _, method := range []string{"oidc", "phone"} {
		t.Run(method, func(t *testing.T) {
			ps := newPhoneSite(t, false, nil)
			b := ps.browser()
			if method == "oidc" {
				ps.signIn(b)
			} else {
				ps.phoneSignIn(b, "13800138000").expectStatus(t, http.StatusSeeOther)
			}
			token := ps.sessionCookie(b)
			b.post(ps.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
			wantAnonymous(t, ps.site, "token after sign-out", token)
		})
	}
}

// TestAttackSessionReplayOtherInstance runs two instances of a site on one
// shared session store, as behind a load balancer: a session ended on one
// instance is over on the other too.
func TestAttackSessionReplayOtherInstance(t *testing.T) {
	shared := newMemorySessions(1000, time.Now)
	idp := oidctest.New(t)
	edit := func(c *Config) { c.SessionStore = shared }
	first := newSiteFor(t, idp, edit)
	second := newSiteFor(t, idp, edit)

	b := first.browser()
	first.signIn(b)
	token := first.sessionCookie(b)
	other := second.browser()
	plantCookie(second, other, token)
	if r := other.get(second.srv.URL + "/private"); r.StatusCode != http.StatusOK {
		t.Fatalf("the session of the first instance on the second: status %d, want 200 (shared store)", r.StatusCode)
	}
	b.post(first.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	wantAnonymous(t, second, "token replayed on the second instance after sign-out on the first", token)
}

func TestAttackSessionAbsoluteLifetimeWithActivity(t *testing.T) {
	s := newSite(t, func(c *Config) { c.SessionLifetime = time.Hour; c.IdleTimeout = 30 * time.Minute })
	b := s.browser()
	s.signIn(b)
	for range 5 {
		s.clock.Advance(10 * time.Minute)
		b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	}
	// Activity never extends the absolute lifetime. Two more minutes
	// cover the real time that passed, since scs sets the deadline from
	// the real clock.
	s.clock.Advance(12 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

// newTLSSite is newSiteFor with the site served over https, so that the
// session cookie is the production one: __Host- prefixed and Secure.
func newTLSSite(t *testing.T, phone bool) (*site, *codeSender) {
	t.Helper()
	idp := oidctest.New(t)
	s := &site{t: t, idp: idp, clock: newClock(), logs: &logBuffer{}}
	idp.Now = s.clock.Now
	s.srv = httptest.NewUnstartedServer(nil)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)

	sender := &codeSender{}
	cfg := Config{
		Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		BaseURL: s.srv.URL, InsecureAllowHTTPIssuer: true, HTTPClient: idp.Client(),
		Logger: slog.New(slog.NewTextHandler(s.logs, nil)), Now: s.clock.Now,
	}
	if phone {
		codes, err := otp.New(otp.Config{Sender: sender, Key: []byte(strings.Repeat("k", 32)), DefaultRegion: "CN", Now: s.clock.Now, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Phone = &PhoneConfig{Codes: codes}
	}

	auth, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.auth = auth

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	mux.Handle("/private", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "private") })))
	s.srv.Config.Handler = auth.Wrap(mux)
	return s, sender
}

// tlsBrowser is a browser that trusts the site's certificate.
func tlsBrowser(s *site) *browser {
	b := s.browser()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// trail records the responses of a flow, for checking every Location and
// Set-Cookie header in it.
type trail []*response

func (tr *trail) add(r *response) *response {
	*tr = append(*tr, r)
	return r
}

func TestAttackCookieAttributesOverTLS(t *testing.T) {
	s, sender := newTLSSite(t, true)
	var all trail
	b := tlsBrowser(s)

	// OpenID Connect sign-in and sign-out.
	auth := all.add(b.get(s.srv.URL + "/sign-in?return_to=/private")).location(t)
	cb := s.authorize(b, auth)
	all.add(b.get(cb.String())).expectStatus(t, http.StatusFound)
	all.add(b.get(s.srv.URL+"/private")).expectStatus(t, http.StatusOK)
	all.add(b.post(s.srv.URL+"/sign-out", nil)).expectStatus(t, http.StatusSeeOther)

	// Phone sign-in and sign-out.
	r := all.add(b.post(s.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}}))
	page := all.add(b.get(r.location(t).String())).expectStatus(t, http.StatusOK)
	all.add(b.post(s.srv.URL+"/sign-in/phone", url.Values{"action": {"verify"}, "flow": {flowOf(t, page)}, "code": {sender.last(t).Code}})).expectStatus(t, http.StatusSeeOther)
	all.add(b.post(s.srv.URL+"/sign-out", nil)).expectStatus(t, http.StatusSeeOther)

	seen := 0
	for _, r := range all {
		for _, c := range r.Header.Values("Set-Cookie") {
			seen++
			what := r.Request.Method + " " + r.Request.URL.Path
			if !strings.HasPrefix(c, "__Host-latch=") {
				t.Errorf("%s sets cookie %.40q, want only __Host-latch", what, c)
			}
			for _, attr := range []string{"; Path=/", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
				if !strings.Contains(c, attr) {
					t.Errorf("%s: Set-Cookie %q lacks %q", what, c, attr)
				}
			}
			if strings.Contains(strings.ToLower(c), "domain=") {
				t.Errorf("%s: Set-Cookie %q has a Domain attribute, which the __Host- prefix forbids", what, c)
			}
			if len(c) > 200 {
				t.Errorf("%s: Set-Cookie is %d bytes, want only a session token", what, len(c))
			}
		}
	}
	if seen < 4 {
		t.Errorf("saw %d Set-Cookie headers in two sign-ins and sign-outs, want at least 4", seen)
	}
}

// TestAttackNothingSecretInURLsOrCookies runs full flows and checks every
// Location and Set-Cookie header that latch sends for tokens, codes and
// personal data. The one token that travels in a URL is the ID token in
// id_token_hint. It goes to the provider that issued it, as RP-Initiated
// Logout 1.0 defines (see SECURITY.md).
func TestAttackNothingSecretInURLsOrCookies(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	ps.idp.Claims["phone_number"] = "+8613900139000"
	ps.idp.AccessTokenTTL = time.Minute
	var all trail
	b := ps.browser()

	auth := all.add(b.get(ps.srv.URL + "/sign-in?return_to=/private")).location(t)
	cb := ps.authorize(b, auth)
	all.add(b.get(cb.String())).expectStatus(t, http.StatusFound)
	first := currentTokens(t, ps.site, b)
	ps.clock.Advance(2 * time.Minute)
	all.add(b.get(ps.srv.URL+"/private")).expectStatus(t, http.StatusOK)
	refreshed := currentTokens(t, ps.site, b)
	out := all.add(b.post(ps.srv.URL+"/sign-out", nil)).expectStatus(t, http.StatusSeeOther)

	r := all.add(b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}, "return_to": {"/private"}}))
	page := all.add(b.get(r.location(t).String()))
	code := ps.sender.last(t).Code
	all.add(ps.enterCode(b, "/sign-in/phone", flowOf(t, page), code)).expectStatus(t, http.StatusSeeOther)
	all.add(b.get(ps.srv.URL+"/private")).expectStatus(t, http.StatusOK)
	all.add(b.post(ps.srv.URL+"/sign-out", nil)).expectStatus(t, http.StatusSeeOther)

	secrets := map[string]string{
		"authorization code": cb.Query().Get("code"),
		"access token":       first.AccessToken,
		"refresh token":      first.refreshToken,
		"refreshed access":   refreshed.AccessToken,
		"refreshed refresh":  refreshed.refreshToken,
		"ID token payload":   strings.Split(first.IDToken, ".")[1],
		"refreshed ID token": strings.Split(refreshed.IDToken, ".")[1],
		"client secret":      ps.idp.ClientSecret + "&",
		"email":              "ada@example.com",
		"email, encoded":     "ada%40example.com",
		"name":               "Lovelace",
		"OIDC phone":         "13900139000",
		"phone":              "13800138000",
		"phone code":         "=" + code,
	}
	for _, r := range all {
		what := r.Request.Method + " " + r.Request.URL.Path
		headers := r.Header.Values("Set-Cookie")
		loc := r.Header.Get("Location")
		// The page after a redirect must not learn the URL before it,
		// such as the callback's, from the Referer header.
		if loc != "" && (r.Header.Get("Referrer-Policy") != "no-referrer" || r.Header.Get("Cache-Control") != "no-store") {
			t.Errorf("%s redirects with Referrer-Policy %q and Cache-Control %q, want no-referrer and no-store",
				what, r.Header.Get("Referrer-Policy"), r.Header.Get("Cache-Control"))
		}
		if r != out {
			headers = append(headers, loc)
		} else if end, err := url.Parse(loc); err == nil {
			// The end-session request: the ID token only in id_token_hint.
			q := end.Query()
			q.Del("id_token_hint")
			headers = append(headers, q.Encode())
		}
		for _, h := range headers {
			for name, secret := range secrets {
				if secret != "" && strings.Contains(h, secret) {
					t.Errorf("%s sends the %s in a header: %.120s", what, name, h)
				}
			}
		}
	}
}

func TestAttackHugeIDToken(t *testing.T) {
	s := newSite(t, nil)
	groups := make([]string, 20000)
	for i := range groups {
		groups[i] = "group-with-a-long-name-" + strings.Repeat("x", 4)
	}
	s.idp.Claims["groups"] = groups // an ID token of about 800 KiB
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	r := b.get(cb.String()).expectStatus(t, http.StatusFound)
	for _, c := range r.Header.Values("Set-Cookie") {
		if len(c) > 4096 {
			t.Errorf("Set-Cookie is %d bytes with a huge ID token, want under 4 KiB", len(c))
		}
	}
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	end := b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	if n := len(end.Header.Get("Location")); n > 1<<20 {
		t.Errorf("end-session Location is %d bytes", n)
	}
}

// TestAttackStoreHoldsHashedTokens checks that a copy of a shared session
// store holds no token that a cookie could carry.
func TestAttackStoreHoldsHashedTokens(t *testing.T) {
	s, store := newCountingSite(t, nil)
	b := s.browser()
	s.signIn(b)
	token := s.sessionCookie(b)
	ms := store.Store.(*memorySessions)
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	if _, ok := ms.items[token]; ok {
		t.Fatal("the shared store holds the session token as it is")
	}
	if _, ok := ms.items[sessionStore{hash: true}.key(token)]; !ok {
		t.Errorf("the shared store has no session under the token's SHA-256; keys: %d", len(ms.items))
	}
}
