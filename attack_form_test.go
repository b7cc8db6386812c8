package latch

// Cross-site form posts, framing and reflected input on every page.

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/otp"
)

// crossSiteHeaders are the requests of forms on other sites, as browsers
// label them.
var crossSiteHeaders = []http.Header{
	{"Sec-Fetch-Site": {"cross-site"}},
	{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://sub.127.0.0.1"}},
	{"Origin": {"https://evil.example"}},
	{"Origin": {"null"}}, // a sandboxed frame or a data: page
	{"Origin": {"http://127.0.0.1:1"}},
	{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://127.0.0.1"}, "Referer": {"http://127.0.0.1/"}},
}

func TestAttackCrossSiteForms(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	mux := http.NewServeMux()
	mux.Handle("/reset", ps.auth.PhoneHandler(otp.ForgotPassword, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "reset")
	})))
	mux.Handle("/private", ps.auth.RequireAuth(http.NotFoundHandler()))
	ps.srv.Config.Handler = ps.auth.Wrap(mux)

	b := ps.browser()
	ps.phoneSignIn(b, "13800138000").expectStatus(t, http.StatusSeeOther)
	sent := ps.sender.count()

	for _, path := range []string{"/sign-out", "/sign-in/phone", "/sign-up/phone", "/reset"} {
		for _, action := range []string{"", "send", "verify", "resend", "restart"} {
			for _, h := range crossSiteHeaders {
				form := url.Values{"phone": {"13800138001"}, "country": {"CN"}, "code": {"123456"}}
				if action != "" {
					form.Set("action", action)
				}
				r := b.do(http.MethodPost, ps.srv.URL+path, form, h)
				if r.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s action=%s with %v: status %d, want 403", path, action, h, r.StatusCode)
					continue
				}
				mustContain(t, "page", r.body, "Request blocked")
				if r.Header.Get("X-Frame-Options") != "DENY" {
					t.Errorf("POST %s: 403 page without X-Frame-Options", path)
				}
			}
		}
	}
	if got := ps.sender.count(); got != sent {
		t.Errorf("cross-site posts sent %d codes", got-sent)
	}
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusNotFound) // still signed in: the app's 404

	// Sign-out by a cross-site GET, link or image, or a method override.
	for _, target := range []string{"/sign-out", "/sign-out?_method=POST", "/sign-out?action=confirm"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			b.do(method, ps.srv.URL+target, nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Dest": {"image"}})
		}
	}
	b.do(http.MethodPost, ps.srv.URL+"/sign-out", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}, "X-HTTP-Method-Override": {"GET"}})
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusNotFound)
}

// htmlHeaders are the headers every HTML page of latch carries.
var htmlHeaders = map[string]string{
	"X-Frame-Options":        "DENY",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control":          "no-store",
	"Referrer-Policy":        "no-referrer",
	"Content-Type":           "text/html; charset=utf-8",
}

func wantPageHeaders(t *testing.T, what string, r *response) {
	t.Helper()
	for k, v := range htmlHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s (status %d): %s = %q, want %q", what, r.StatusCode, k, got, v)
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s (status %d): Content-Security-Policy %q lacks %s", what, r.StatusCode, csp, d)
		}
	}
	if strings.Contains(r.body, "<script") {
		t.Errorf("%s: page has a script", what)
	}
}

func TestAttackFramingEveryPage(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	pages := map[string]*response{}
	pages["phone number"] = b.get(ps.srv.URL + "/sign-in/phone")
	pages["phone sign-up"] = b.get(ps.srv.URL + "/sign-up/phone")
	pages["phone number error"] = b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"1"}, "country": {"CN"}})
	pages["phone code"] = ps.sendCode(b, "/sign-in/phone", "13800138000")
	pages["phone code error"] = ps.enterCode(b, "/sign-in/phone", "stale", "000000")
	pages["phone bad request"] = b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"dance"}})
	pages["method not allowed"] = b.do(http.MethodPut, ps.srv.URL+"/sign-in/phone", nil, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	pages["cross-site"] = b.do(http.MethodPost, ps.srv.URL+"/sign-out", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	pages["expired"] = b.get(ps.srv.URL + "/callback?state=forged&code=x")
	pages["bad sign-in request"] = b.get(ps.srv.URL + "/sign-in?first_screen=nope")

	signedIn := ps.browser()
	ps.signIn(signedIn)
	pages["sign-out confirmation"] = signedIn.get(ps.srv.URL + "/sign-out")
	ps.srv.Config.Handler = ps.auth.Wrap(ps.auth.RequireAuth(http.NotFoundHandler(), RequireClaim("roles", "admin")))
	pages["forbidden"] = signedIn.get(ps.srv.URL + "/admin")

	for _, setup := range []struct {
		name string
		edit func(p *oidctest.Provider)
	}{
		{"cancelled", func(p *oidctest.Provider) { p.AuthorizeError = "access_denied" }},
		{"provider error", func(p *oidctest.Provider) { p.AuthorizeError = "server_error" }},
		{"rejected", func(p *oidctest.Provider) { p.IDToken = func(h, c map[string]any) { c["nonce"] = "x" } }},
		{"timeout", func(p *oidctest.Provider) { p.Token = hang }},
	} {
		idp := oidctest.New(t)
		setup.edit(idp)
		s := newSiteFor(t, idp, func(c *Config) { c.HTTPClient.Timeout = 300e6 })
		sb := s.browser()
		pages[setup.name] = sb.get(s.authorize(sb, s.startSignIn(sb, "")).String())
	}

	cs, store := newCountingSite(t, nil)
	cb := cs.browser()
	cs.startSignIn(cb, "")
	store.fail.Store(true)
	pages["unavailable"] = cb.get(cs.srv.URL + "/private")

	for name, r := range pages {
		if r.StatusCode < 200 || r.StatusCode >= 600 {
			t.Errorf("%s: status %d", name, r.StatusCode)
		}
		wantPageHeaders(t, name, r)
	}
}

// payload is text that breaks out of HTML, attributes and URLs if it is
// reflected unescaped.
const payload = `"'><svg onload=alert(1)></title><script>alert(2)</script>javascript:alert(3)`

func TestAttackReflectedInput(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	q := url.Values{
		"return_to": {"/a?x=" + payload}, "lang": {payload}, "login_hint": {payload},
		"step": {payload}, "sent": {payload}, "error_description": {payload},
	}.Encode()
	pages := map[string]*response{
		"phone page":          b.get(ps.srv.URL + "/sign-in/phone?" + q),
		"phone sign-up page":  b.get(ps.srv.URL + "/sign-up/phone?" + q),
		"phone number posted": b.post(ps.srv.URL+"/sign-in/phone?"+q, url.Values{"action": {"send"}, "phone": {payload}, "country": {payload}, "return_to": {payload}}),
		"phone code posted":   b.post(ps.srv.URL+"/sign-in/phone?"+q, url.Values{"action": {"verify"}, "flow": {payload}, "code": {payload}}),
		"callback":            b.get(ps.srv.URL + "/callback?state=x&error=access_denied&" + q),
		"sign-in":             b.get(ps.srv.URL + "/sign-in?" + q),
	}
	// A real pending attempt, so the provider's error response reaches
	// the page that explains it.
	cb := ps.authorize(b, ps.startSignIn(b, ""))
	cq := cb.Query()
	cq.Set("error", "access_denied")
	cq.Set("error_description", payload)
	cq.Set("error_uri", payload)
	cb.RawQuery = cq.Encode()
	pages["callback with the provider's error"] = b.get(cb.String())

	signedIn := ps.browser()
	ps.idp.Claims["name"] = payload
	ps.signIn(signedIn)
	pages["sign-out with a hostile name"] = signedIn.get(ps.srv.URL + "/sign-out?" + q)

	for name, r := range pages {
		for _, raw := range []string{"<svg", "<script>alert", `"'>`, `href="javascript:`} {
			if strings.Contains(r.body, raw) {
				t.Errorf("%s reflects %q unescaped", name, raw)
			}
		}
		for _, h := range []string{"Location", "Content-Security-Policy", "Set-Cookie"} {
			if v := r.Header.Get(h); strings.Contains(v, "<svg") || strings.Contains(v, "\n") {
				t.Errorf("%s: %s header carries the input: %.100s", name, h, v)
			}
		}
	}
	mustContain(t, "sign-out page", pages["sign-out with a hostile name"].body, "&lt;svg onload=alert(1)&gt;")
}
