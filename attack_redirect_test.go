package latch

// Open-redirect forms against every place where latch takes or builds a
// redirect target. The forms themselves are listed in returnto_test.go.

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
)

// returnToCases maps every listed form to the return-to that latch must
// keep for it: the form itself, or the default "/".
func returnToCases() map[string]string {
	cases := map[string]string{}
	for _, raw := range rejectedReturnTo {
		cases[raw] = "/"
	}
	for _, raw := range acceptedReturnTo {
		cases[raw] = raw
	}
	return cases
}

// rawRequest sends a request to addr with the request-target exactly as
// given, which net/http's client would normalize, and returns the response
// with its body read.
func rawRequest(t *testing.T, addr, method, target string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	if body != "" {
		fmt.Fprintf(&req, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %q: reading the response: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var navigation = http.Header{"Accept": {"text/html"}, "Sec-Fetch-Mode": {"navigate"}}

// hrefPattern finds the URLs in href and action attributes of a page.
var hrefPattern = regexp.MustCompile(`(?:href|action)="([^"]*)"`)

// wantLocalLinks fails the test if a link or form of page, or the redirect
// Location, would take a browser off the site.
func wantLocalLinks(t *testing.T, what string, resp *http.Response, page string) {
	t.Helper()
	targets := []string{}
	if loc := resp.Header.Get("Location"); loc != "" {
		targets = append(targets, loc)
	}
	for _, m := range hrefPattern.FindAllStringSubmatch(page, -1) {
		targets = append(targets, html.UnescapeString(m[1]))
	}
	for _, target := range targets {
		if strings.HasPrefix(target, "https://example.com/") {
			continue // the test provider's profile picture is not a link
		}
		if !isSafeReturnTo(target) {
			t.Errorf("%s: link or redirect to %q leaves the site", what, target)
		}
	}
}

func TestAttackReturnToRequireAuth(t *testing.T) {
	s := newSite(t, nil)
	// RequireAuth around the whole application gets request paths before
	// any router cleans them.
	s.srv.Config.Handler = s.auth.Wrap(s.auth.RequireAuth(http.NotFoundHandler()))
	addr := strings.TrimPrefix(s.srv.URL, "http://")
	for raw, want := range returnToCases() {
		if !strings.HasPrefix(raw, "/") || strings.ContainsAny(raw, " \t\r\n\x00\x7f#") || strings.Contains(raw, "é") || strings.Contains(raw, "／") {
			continue // not a request-target that an HTTP server accepts
		}
		resp, _ := rawRequest(t, addr, http.MethodGet, raw, navigation, "")
		if resp.StatusCode == http.StatusBadRequest {
			continue // net/http refused the request line
		}
		if resp.StatusCode != http.StatusFound {
			t.Errorf("GET %q: status %d, want 302 to sign in", raw, resp.StatusCode)
			continue
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Path != "/sign-in" || loc.Host != "" {
			t.Errorf("GET %q redirects to %q, want /sign-in", raw, resp.Header.Get("Location"))
			continue
		}
		got := loc.Query().Get("return_to")
		switch {
		case want == "/" && got == raw:
			t.Errorf("GET %q: sign-in return_to %q, want it rejected", raw, got)
		case got != "" && SafeReturnTo(got, "") != got:
			t.Errorf("GET %q: sign-in return_to %q is not safe", raw, got)
		}
	}
}

func TestAttackReturnToPhonePages(t *testing.T) {
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
		oc.Limits = otp.Limits{PhoneHourly: 1000, PhoneDaily: 1000, ClientHourly: 10000, PrefixHourly: 10000, CountryHourly: 10000, GlobalDaily: 10000}
	})
	i := 0
	for raw, want := range returnToCases() {
		i++
		b := ps.browser()
		page := b.get(ps.srv.URL+"/sign-in/phone?return_to="+url.QueryEscape(raw)).expectStatus(t, http.StatusOK)
		field := `name="return_to" value="` + html.EscapeString(want) + `"`
		if !strings.Contains(page.text(), `name="return_to" value="`+want+`"`) && !strings.Contains(page.body, field) {
			t.Errorf("phone page with return_to %q: hidden field is not %q", raw, want)
		}
		wantLocalLinks(t, "phone page with return_to "+raw, page.Response, page.body)

		number := fmt.Sprintf("1380013%04d", i)
		r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}, "return_to": {raw}})
		r.expectStatus(t, http.StatusSeeOther)
		wantLocalLinks(t, "phone send with return_to "+raw, r.Response, "")
		ctx, err := ps.auth.sm.Load(context.Background(), ps.sessionCookie(b))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := ps.auth.loadPendingPhone(ctx, otp.SignIn)
		if !ok || p.ReturnTo != want {
			t.Errorf("phone send with return_to %q: pending return_to %q, want %q", raw, p.ReturnTo, want)
		}
	}
}

func TestAttackReturnToPhoneOnlySignIn(t *testing.T) {
	ps := newPhoneSite(t, true, nil)
	for raw, want := range returnToCases() {
		r := ps.browser().get(ps.srv.URL+"/sign-in?return_to="+url.QueryEscape(raw)).expectStatus(t, http.StatusFound)
		loc, _ := url.Parse(r.Header.Get("Location"))
		got := loc.Query().Get("return_to")
		if got == "" {
			got = "/"
		}
		if loc.Path != "/sign-in/phone" || got != want {
			t.Errorf("phone-only /sign-in with return_to %q redirects to %q, want the phone page with return_to %q", raw, r.Header.Get("Location"), want)
		}
	}
}

func TestAttackReturnToOwnRoutes(t *testing.T) {
	s := newSite(t, nil)
	for _, raw := range []string{
		"/sign%2Dout", "/%73ign-out", "/sign%2Din?prompt=login", "/%63allback?code=x&state=y", "/sign-in%3Freturn_to=/x",
		"/sign-in/", "/SIGN-OUT",
	} {
		b := s.browser()
		final := b.get(s.authorize(b, s.startSignIn(b, "return_to="+url.QueryEscape(raw))).String()).expectStatus(t, http.StatusFound)
		got := final.Header.Get("Location")
		// A path that net/http routes to a latch route falls back to the
		// default; other paths, such as "/sign-in/", are the application's.
		routed := routedPath(raw)
		wantDefault := routed == "/sign-out" || routed == "/sign-in" || routed == "/callback"
		if wantDefault && got != "/" {
			t.Errorf("return_to %q (routed to %s) ends at %q, want the default /", raw, routed, got)
		}
		if !wantDefault && got != raw {
			t.Errorf("return_to %q ends at %q, want it kept", raw, got)
		}
	}
}

func TestAttackReturnToSignOut(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	evil := url.QueryEscape("//evil.example")
	page := b.get(s.srv.URL+"/sign-out?return_to="+evil+"&next="+evil+"&lang="+url.QueryEscape(`"><script>x</script>`)).expectStatus(t, http.StatusOK)
	wantLocalLinks(t, "sign-out page", page.Response, page.body)
	if strings.Contains(page.body, "<script>x") {
		t.Error("sign-out page reflects lang unescaped")
	}
	r := b.post(s.srv.URL+"/sign-out?return_to="+evil+"&post_logout_redirect_uri="+evil, nil).expectStatus(t, http.StatusSeeOther)
	end := r.location(t)
	if end.Host != strings.TrimPrefix(s.idp.Issuer, "http://") || end.Query().Get("post_logout_redirect_uri") != s.srv.URL+"/" {
		t.Errorf("sign-out with forged parameters redirects to %s, want the end-session endpoint with the configured post sign-out URL", end)
	}
}

// TestAttackStoredReturnTo changes the return-to kept in a session, as
// someone with write access to a shared session store could, and checks
// that latch does not redirect off the site on its word.
func TestAttackStoredReturnTo(t *testing.T) {
	tamper := func(t *testing.T, s *site, b *browser, change func(ctx context.Context)) {
		t.Helper()
		ctx, err := s.auth.sm.Load(context.Background(), s.sessionCookie(b))
		if err != nil {
			t.Fatal(err)
		}
		change(ctx)
		if _, _, err := s.auth.sm.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("OpenID Connect", func(t *testing.T) {
		s := newSite(t, nil)
		b := s.browser()
		cb := s.authorize(b, s.startSignIn(b, "return_to=/private"))
		tamper(t, s, b, func(ctx context.Context) {
			list := s.auth.loadPending(ctx)
			list[0].ReturnTo = "//evil.example"
			s.auth.savePending(ctx, list)
		})
		r := b.get(cb.String()).expectStatus(t, http.StatusFound)
		if got := r.Header.Get("Location"); got != "/" {
			t.Errorf("callback with a tampered return_to redirects to %q, want /", got)
		}
		// The record of the finished sign-in, used when the callback page
		// is reloaded.
		tamper(t, s, b, func(ctx context.Context) { s.auth.markCompleted(ctx, cb.Query().Get("state"), "https://evil.example") })
		r = b.get(cb.String()).expectStatus(t, http.StatusFound)
		if got := r.Header.Get("Location"); got != "/" {
			t.Errorf("reloaded callback with a tampered record redirects to %q, want /", got)
		}
	})
	t.Run("phone", func(t *testing.T) {
		ps := newPhoneSite(t, false, nil)
		b := ps.browser()
		page := ps.sendCode(b, "/sign-in/phone", "13800138000")
		tamper(t, ps.site, b, func(ctx context.Context) {
			p, _ := ps.auth.loadPendingPhone(ctx, otp.SignIn)
			p.ReturnTo = "/\\evil.example"
			ps.auth.savePendingPhone(ctx, p)
		})
		r := ps.enterCode(b, "/sign-in/phone", flowOf(t, page), ps.sender.last(t).Code).expectStatus(t, http.StatusSeeOther)
		if got := r.Header.Get("Location"); got != "/" {
			t.Errorf("phone sign-in with a tampered return_to redirects to %q, want /", got)
		}
	})
}

// TestAttackSelfLinks requests pages at paths that a browser reads as
// another site, such as //evil.example/x, where latch's pages link or
// redirect back to the page itself.
func TestAttackSelfLinks(t *testing.T) {
	t.Run("error page", func(t *testing.T) {
		s, store := newCountingSite(t, nil)
		store.fail.Store(true)
		withCookie := http.Header{"Cookie": {s.auth.sm.Cookie.Name + "=some-token"}}
		for k, v := range navigation {
			withCookie[k] = v
		}
		resp, body := rawRequest(t, strings.TrimPrefix(s.srv.URL, "http://"), http.MethodGet, "//evil.example/x", withCookie, "")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET //evil.example/x with the store down: status %d, want 503", resp.StatusCode)
		}
		wantLocalLinks(t, "503 page", resp, body)
	})
	t.Run("phone handler mounted for every path", func(t *testing.T) {
		ps := newPhoneSite(t, false, nil)
		ps.srv.Config.Handler = ps.auth.Wrap(ps.auth.PhoneHandler(otp.SignIn, nil))
		addr := strings.TrimPrefix(ps.srv.URL, "http://")
		sameOrigin := http.Header{"Accept": {"text/html"}, "Sec-Fetch-Site": {"same-origin"}}
		for _, target := range []string{"//evil.example/x", "//evil.example/x?lang=es", "/%2F/evil.example"} {
			resp, body := rawRequest(t, addr, http.MethodGet, target, navigation, "")
			resp.Body.Close()
			wantLocalLinks(t, "GET "+target, resp, body)

			resp, body = rawRequest(t, addr, http.MethodPost, target, sameOrigin, "action=restart")
			wantLocalLinks(t, "POST "+target+" restart", resp, body)
			resp, body = rawRequest(t, addr, http.MethodPost, target, sameOrigin, "action=send&country=CN&phone=13800138000")
			wantLocalLinks(t, "POST "+target+" send", resp, body)
			ps.clock.Advance(2 * time.Minute) // past the resend cooldown
		}
	})
}

// TestAttackForwardedHeadersIgnored checks that request headers cannot move
// the site: the redirect URI, the post sign-out URL and the cookie come
// from BaseURL alone.
func TestAttackForwardedHeadersIgnored(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	forged := http.Header{
		"X-Forwarded-Host":  {"evil.example"},
		"X-Forwarded-Proto": {"https"},
		"Forwarded":         {"host=evil.example;proto=https"},
		"X-Original-Url":    {"//evil.example/"},
		"X-Rewrite-Url":     {"//evil.example/"},
	}
	auth := b.do(http.MethodGet, s.srv.URL+"/sign-in", nil, forged).expectStatus(t, http.StatusFound).location(t)
	if got := auth.Query().Get("redirect_uri"); got != s.srv.URL+"/callback" {
		t.Errorf("redirect_uri with forged forwarding headers = %q, want %s/callback", got, s.srv.URL)
	}
	cb := s.authorize(b, auth)
	r := b.do(http.MethodGet, cb.String(), nil, forged).expectStatus(t, http.StatusFound)
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.Contains(c, "evil") || strings.Contains(c, "Secure") {
			t.Errorf("Set-Cookie with forged forwarding headers: %q", c)
		}
	}
	if got := r.Header.Get("Location"); got != "/" {
		t.Errorf("callback with forged forwarding headers redirects to %q, want /", got)
	}
	end := b.do(http.MethodPost, s.srv.URL+"/sign-out", url.Values{}, http.Header{
		"X-Forwarded-Host": {"evil.example"}, "Sec-Fetch-Site": {"same-origin"},
	}).expectStatus(t, http.StatusSeeOther).location(t)
	if got := end.Query().Get("post_logout_redirect_uri"); got != s.srv.URL+"/" {
		t.Errorf("post_logout_redirect_uri with a forged X-Forwarded-Host = %q, want %s/", got, s.srv.URL)
	}
}
