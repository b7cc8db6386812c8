package latch

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/oidctest"
)

func TestSignInFlow(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()

	auth := s.startSignIn(b, "return_to="+url.QueryEscape("/private?tab=2"))
	q := auth.Query()
	if got := auth.Scheme + "://" + auth.Host + auth.Path; got != s.idp.Issuer+"/authorize" {
		t.Errorf("sign-in redirects to %s, want the authorization endpoint", got)
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("authorization request %s = %q, want at least 43 characters (256 bits)", k, q.Get(k))
		}
	}
	checks := map[string]string{
		"response_type":         "code",
		"client_id":             "client",
		"redirect_uri":          s.srv.URL + "/callback",
		"code_challenge_method": "S256",
		"scope":                 "openid profile email phone offline_access",
	}
	for k, want := range checks {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if q.Has("prompt") {
		t.Errorf("authorization request has prompt=%q, want none unless configured", q.Get("prompt"))
	}
	before := s.sessionCookie(b)

	callback := s.authorize(b, auth)
	final := b.get(callback.String()).expectStatus(t, http.StatusFound)
	if got := final.Header.Get("Location"); got != "/private?tab=2" {
		t.Errorf("callback redirects to %q, want the return_to /private?tab=2", got)
	}
	after := s.sessionCookie(b)
	if before == "" || after == "" || before == after {
		t.Errorf("session token before sign-in %q, after %q: want both set and different (renewed)", before, after)
	}

	r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if r.body != "private for user-1" {
		t.Errorf("GET /private = %q, want the signed-in user's page", r.body)
	}
	mustContain(t, "log", s.logs.String(), "latch: signed in", "subject=user-1")
}

func TestSignInStoresIdentity(t *testing.T) {
	s := newSite(t, nil)
	s.idp.ProfileInUserInfoOnly = true
	s.idp.Claims["phone_number"] = "+8613800000000"
	s.idp.Claims["phone_number_verified"] = "true"
	s.idp.Claims["roles"] = []string{"admin"}
	b := s.browser()
	s.signIn(b)

	var got *User
	var tokens *Tokens
	h := s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = UserFrom(r.Context())
		tokens, _ = TokensFrom(r.Context())
	}))
	s.srv.Config.Handler = s.auth.Wrap(h)
	b.get(s.srv.URL+"/anything").expectStatus(t, http.StatusOK)

	if got == nil {
		t.Fatal("UserFrom: no user after sign-in")
	}
	want := User{Subject: "user-1", Issuer: s.idp.Issuer, Method: MethodOIDC, Name: "Ada Lovelace",
		Email: "ada@example.com", EmailVerified: true, Phone: "+8613800000000", PhoneVerified: true,
		Picture: "https://example.com/ada.png"}
	got.claims, got.SignedInAt = nil, time.Time{}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("UserFrom = %+v\nwant %+v", *got, want)
	}
	if tokens == nil || tokens.AccessToken == "" || tokens.IDToken == "" || tokens.TokenType != "Bearer" {
		t.Errorf("TokensFrom = %+v, want access token, ID token and type", tokens)
	}
	if s.idp.UserInfoRequests != 1 {
		t.Errorf("UserInfo requests = %d, want 1", s.idp.UserInfoRequests)
	}
}

func TestSignInQueryParameters(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  map[string]string
	}{
		{"sign-up screen", "first_screen=register", map[string]string{"first_screen": "register"}},
		{"legacy interaction mode", "interaction_mode=signUp", map[string]string{"first_screen": "register"}},
		{"login hint escaped", "login_hint=" + url.QueryEscape("a+b&c=d@example.com"), map[string]string{"login_hint": "a+b&c=d@example.com"}},
		{"identifier", "first_screen=identifier:register&identifier=email+phone", map[string]string{"identifier": "email phone"}},
		{"prompt", "prompt=login", map[string]string{"prompt": "login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			q := s.startSignIn(s.browser(), tt.query).Query()
			for k, want := range tt.want {
				if got := q.Get(k); got != want {
					t.Errorf("authorization request %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestSignInRejectsBadParameters(t *testing.T) {
	for _, query := range []string{
		"first_screen=evil",
		"prompt=consent%20none",
		"prompt=bogus",
		"identifier=ssn",
		"login_hint=a%0Ab",
		"login_hint=" + strings.Repeat("x", maxHintLen+1),
		"first_screen=register&first_screen=sign_in",
		"return_to=%zz",
	} {
		s := newSite(t, nil)
		r := s.browser().get(s.srv.URL + "/sign-in?" + query)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /sign-in?%s: status %d, want 400", query, r.StatusCode)
		}
	}
}

func TestSignInConfiguredOptions(t *testing.T) {
	s := newSite(t, func(c *Config) {
		c.Scopes = []string{"profile", "custom:read"}
		c.Resources = []string{"https://api.example/"}
		c.Prompt = "consent"
	})
	q := s.startSignIn(s.browser(), "").Query()
	if got := q.Get("scope"); got != "openid profile custom:read" {
		t.Errorf("scope = %q, want openid added in front of the configured scopes", got)
	}
	if got := q["resource"]; len(got) != 1 || got[0] != "https://api.example/" {
		t.Errorf("resource = %q, want the configured resource", got)
	}
	if got := q.Get("prompt"); got != "consent" {
		t.Errorf("prompt = %q, want the configured consent", got)
	}

	h := s.auth.SignInHandler(WithFirstScreen("register"), WithScopes("extra"), WithResources("https://other.example"))
	rec := serve(h, http.MethodGet, "/sign-up", nil)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q = loc.Query()
	if q.Get("first_screen") != "register" || q.Get("scope") != "openid profile custom:read extra" || len(q["resource"]) != 2 {
		t.Errorf("SignInHandler with options redirects with %v, want register screen, the extra scope and two resources", q)
	}
}

func TestSignInHandlerPanicsOnBadOption(t *testing.T) {
	s := newSite(t, nil)
	defer func() {
		if recover() == nil {
			t.Error("SignInHandler(WithFirstScreen(\"nope\")) did not panic")
		}
	}()
	s.auth.SignInHandler(WithFirstScreen("nope"))
}

func TestSignInTwoTabs(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	first := s.startSignIn(b, "return_to=/one")
	second := s.startSignIn(b, "return_to=/two")

	cb2 := s.authorize(b, second)
	cb1 := s.authorize(b, first)
	if got := b.get(cb2.String()).expectStatus(t, http.StatusFound).Header.Get("Location"); got != "/two" {
		t.Errorf("second tab's callback goes to %q, want /two", got)
	}
	if got := b.get(cb1.String()).expectStatus(t, http.StatusFound).Header.Get("Location"); got != "/one" {
		t.Errorf("first tab's callback goes to %q, want /one", got)
	}
}

func TestSignInPendingBounded(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	var auths []*url.URL
	for range maxPendingSignIns + 1 {
		auths = append(auths, s.startSignIn(b, ""))
	}
	oldest := s.authorize(b, auths[0])
	r := b.get(oldest.String())
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("callback of an attempt beyond the bound: status %d, want 400 (dropped)", r.StatusCode)
	}
	newest := s.authorize(b, auths[len(auths)-1])
	b.get(newest.String()).expectStatus(t, http.StatusFound)
}

func TestSignInPendingExpires(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	s.clock.Advance(pendingLifetime + time.Second)
	r := b.get(cb.String()).expectStatus(t, http.StatusBadRequest)
	mustContain(t, "expired page", r.body, "This sign-in has expired")
}

func TestSignInWhenSignedIn(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	r := b.get(s.srv.URL+"/sign-in?return_to=/private").expectStatus(t, http.StatusFound)
	if got := r.Header.Get("Location"); got != "/private" {
		t.Errorf("sign-in while signed in redirects to %q, want straight to /private", got)
	}
	r = b.get(s.srv.URL+"/sign-in?prompt=login").expectStatus(t, http.StatusFound)
	if !strings.HasPrefix(r.Header.Get("Location"), s.idp.Issuer) {
		t.Errorf("sign-in with prompt=login while signed in redirects to %q, want the provider", r.Header.Get("Location"))
	}
}

func TestCallbackReload(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, "return_to=/private"))
	b.get(cb.String()).expectStatus(t, http.StatusFound)

	r := b.get(cb.String()).expectStatus(t, http.StatusFound)
	if got := r.Header.Get("Location"); got != "/private" {
		t.Errorf("reloaded callback redirects to %q, want /private again", got)
	}
	if s.idp.TokenRequests != 1 {
		t.Errorf("token requests = %d, want 1: a reload must not redeem the code again", s.idp.TokenRequests)
	}
}

func TestCallbackReplayInOtherBrowser(t *testing.T) {
	s := newSite(t, nil)
	victim, attacker := s.browser(), s.browser()
	cb := s.authorize(attacker, s.startSignIn(attacker, ""))

	// Login CSRF: the attacker's callback URL opened in the victim's
	// browser finds no attempt there.
	r := victim.get(cb.String()).expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.body, "This sign-in has expired")
	if s.idp.TokenRequests != 0 {
		t.Errorf("token requests = %d, want 0", s.idp.TokenRequests)
	}
	victim.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

func TestCallbackFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(p *oidctest.Provider)
		query  func(cb url.Values) url.Values
		status int
		page   string
		log    string
	}{
		{"access denied", func(p *oidctest.Provider) { p.AuthorizeError = "access_denied" }, nil, http.StatusForbidden, "Sign-in cancelled", "provider_error=access_denied"},
		{"login required", func(p *oidctest.Provider) { p.AuthorizeError = "login_required" }, nil, http.StatusUnauthorized, "Sign-in cancelled", "login_required"},
		{"server error", func(p *oidctest.Provider) { p.AuthorizeError = "server_error" }, nil, http.StatusBadGateway, "could not complete", "server_error"},
		{"no state", nil, func(q url.Values) url.Values { q.Del("state"); return q }, http.StatusBadRequest, "expired", "without state"},
		{"wrong state", nil, func(q url.Values) url.Values { q.Set("state", "forged"); return q }, http.StatusBadRequest, "expired", "matches no pending"},
		{"repeated state", nil, func(q url.Values) url.Values { q.Add("state", "forged"); return q }, http.StatusBadRequest, "Invalid request", "repeated"},
		{"no code", nil, func(q url.Values) url.Values { q.Del("code"); return q }, http.StatusBadRequest, "could not be verified", "without code"},
		{"wrong code", nil, func(q url.Values) url.Values { q.Set("code", "guess"); return q }, http.StatusBadGateway, "could not complete", "invalid_grant"},
		{"iss mismatch", func(p *oidctest.Provider) { p.SendIss = true }, func(q url.Values) url.Values { q.Set("iss", "https://evil.example"); return q }, http.StatusBadRequest, "could not be verified", "not the configured issuer"},
		{"iss missing though advertised", func(p *oidctest.Provider) { p.AdvertiseIss = true }, nil, http.StatusBadRequest, "could not be verified", "lacks the iss"},
		{"token endpoint error", func(p *oidctest.Provider) {
			p.Token = func(w http.ResponseWriter, r *http.Request) bool {
				http.Error(w, `{"error":"server_error","access_token":"leak-me"}`, http.StatusInternalServerError)
				return true
			}
		}, nil, http.StatusBadGateway, "could not complete", "500 Internal Server Error"},
		{"token endpoint answers HTML", func(p *oidctest.Provider) {
			p.Token = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<html>oops</html>"))
				return true
			}
		}, nil, http.StatusBadGateway, "", "sign-in failed"},
		{"no id token", func(p *oidctest.Provider) {
			p.Token = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"a","token_type":"Bearer"}`))
				return true
			}
		}, nil, http.StatusBadGateway, "could not be verified", "no id_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := oidctest.New(t)
			if tt.setup != nil {
				tt.setup(idp)
			}
			s := newSiteFor(t, idp, nil)
			b := s.browser()
			cb := s.authorize(b, s.startSignIn(b, ""))
			if tt.query != nil {
				cb.RawQuery = tt.query(cb.Query()).Encode()
			}
			r := b.get(cb.String())
			if r.StatusCode != tt.status {
				t.Errorf("callback: status %d, want %d; body %.200s", r.StatusCode, tt.status, r.body)
			}
			mustContain(t, "page", r.body, tt.page)
			mustContain(t, "log", s.logs.String(), tt.log)
			if strings.Contains(s.logs.String(), "leak-me") {
				t.Errorf("log contains the token endpoint's body:\n%s", s.logs.String())
			}
			b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
		})
	}
}

func TestCallbackJSONForAPIClients(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	q := cb.Query()
	q.Set("state", "forged")
	cb.RawQuery = q.Encode()
	r := b.do(http.MethodGet, cb.String(), nil, http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": {"cors"}})
	r.expectStatus(t, http.StatusBadRequest)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	mustContain(t, "body", r.body, `"error":"sign_in_expired"`)
}

func TestCallbackIssAccepted(t *testing.T) {
	s := newSite(t, nil)
	s.idp.SendIss, s.idp.AdvertiseIss = true, true
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
}

func TestCallbackSameResponseTwice(t *testing.T) {
	s := newSite(t, nil)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s.idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
		entered <- struct{}{}
		<-release
		return false
	}
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, "return_to=/private"))

	first := make(chan *response)
	go func() { first <- b.get(cb.String()) }()
	<-entered
	second := make(chan *response)
	go func() { second <- b.get(cb.String()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)

	r1, r2 := <-first, <-second
	for i, r := range []*response{r1, r2} {
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/private" {
			t.Errorf("copy %d of the response: status %d to %q, want 302 to /private", i+1, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if s.idp.TokenRequests != 1 {
		t.Errorf("token requests = %d, want 1", s.idp.TokenRequests)
	}
}

func TestSignOut(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	token := s.sessionCookie(b)

	page := b.get(s.srv.URL+"/sign-out").expectStatus(t, http.StatusOK)
	mustContain(t, "confirm page", page.body, `method="post"`, "Ada Lovelace", "Do you want to sign out?")
	mustContain(t, "CSP", page.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", "form-action 'self'")

	r := b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	end := r.location(t)
	if got := end.Scheme + "://" + end.Host + end.Path; got != s.idp.Issuer+"/end_session" {
		t.Fatalf("sign-out redirects to %s, want the end-session endpoint", got)
	}
	q := end.Query()
	if q.Get("id_token_hint") == "" || q.Get("client_id") != "client" || q.Get("post_logout_redirect_uri") != s.srv.URL+"/" {
		t.Errorf("end-session request %v, want id_token_hint, client_id and post_logout_redirect_uri", q)
	}
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)

	// The old session token is worthless, even presented again.
	replay := s.browser()
	u, _ := url.Parse(s.srv.URL)
	replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: s.auth.sm.Cookie.Name, Value: token}})
	replay.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
	mustContain(t, "log", s.logs.String(), "latch: signed out")
}

func TestSignOutWithoutEndSession(t *testing.T) {
	idp := newSite(t, nil).idp
	idp.NoEndSession = true
	s := newSiteFor(t, idp, func(c *Config) { c.PostSignOutURL = "https://app.example/bye" })
	b := s.browser()
	s.signIn(b)
	r := b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "https://app.example/bye" {
		t.Errorf("sign-out without end-session endpoint redirects to %q, want the post sign-out URL", got)
	}
}

func TestSignOutCrossSite(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		r := b.do(http.MethodPost, s.srv.URL+"/sign-out", url.Values{}, h)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST /sign-out with %v: status %d, want 403", h, r.StatusCode)
		}
	}
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	mustContain(t, "log", s.logs.String(), "cross-site form post blocked")
}

func TestSignOutGetDoesNotSignOut(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	b.do(http.MethodGet, s.srv.URL+"/sign-out", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}).expectStatus(t, http.StatusOK)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
}

func TestSignOutAnonymous(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	b.get(s.srv.URL+"/sign-out").expectStatus(t, http.StatusFound)
	r := b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != s.srv.URL+"/" {
		t.Errorf("anonymous sign-out redirects to %q, want the post sign-out URL", got)
	}
}

func TestMethodsNotAllowed(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	for _, path := range []string{"/sign-in", "/callback"} {
		r := b.post(s.srv.URL+path, url.Values{})
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" {
			t.Errorf("POST %s: status %d, Allow %q; want 405 and GET", path, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	r := b.do(http.MethodPut, s.srv.URL+"/sign-out", nil, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT /sign-out: status %d, want 405", r.StatusCode)
	}
}

func TestAuthorizationRequestPKCE(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	auth := s.startSignIn(b, "")
	st := auth.Query().Get("state")
	ctx, _ := s.auth.sm.Load(t.Context(), s.sessionCookie(b))
	var verifier string
	for _, p := range s.auth.loadPending(ctx) {
		if p.State == st {
			verifier = p.Verifier
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); verifier == "" || auth.Query().Get("code_challenge") != want {
		t.Errorf("code_challenge = %q, want S256 of the stored verifier (%q)", auth.Query().Get("code_challenge"), want)
	}
}

func TestRoutesMountedSeparately(t *testing.T) {
	s := newSite(t, nil)
	mux := http.NewServeMux()
	for _, r := range s.auth.Routes() {
		for _, m := range r.Methods {
			mux.Handle(m+" "+r.Path, r.Handler)
		}
	}
	mux.Handle("/private", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		w.Write([]byte(u.Subject))
	})))
	s.srv.Config.Handler = mux
	b := s.browser()
	s.signIn(b)
	if r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK); r.body != "user-1" {
		t.Errorf("GET /private with routes mounted one by one = %q", r.body)
	}
	b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
}
