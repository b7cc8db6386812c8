package latch

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rejectedReturnTo lists forms that a browser, or a decoder on the way to
// one, could read as another host or as script.
var rejectedReturnTo = []string{
	"", "dashboard", "./x", "../x", "#x", "?x=1",
	"//evil.example", "//evil.example/path", "///evil.example", "////evil.example",
	"/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
	"https://evil.example", "http://evil.example", "HTTPS://evil.example", "https:evil.example",
	"javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "vbscript:x", "file:///etc/passwd",
	"/%2Fevil.example", "/%2fevil.example", "/%5Cevil.example", "/%5cevil.example",
	"/%252Fevil.example", "/%25252Fevil.example", "/%2525252Fevil.example",
	"%2F%2Fevil.example", "/%2F%2Fevil.example",
	"/\tevil.example", "/\t/evil.example", "/%09/evil.example", "/%0A/evil.example", "/%0D/evil.example",
	"/\n/evil.example", "\t//evil.example", " //evil.example", "/ /evil.example",
	"/%EF%BC%8Fevil.example", "/／evil.example", "/%EF%BC%BCevil.example",
	"/evil\r\nSet-Cookie: x=1", "/%0D%0ASet-Cookie:x=1",
	"/a\x00b", "/a\x7fb", "/é",
	"https://app.example@evil.example", "//user@evil.example", "/@evil.example\\x",
	"/" + strings.Repeat("a", maxReturnToLen),
}

// acceptedReturnTo lists ordinary same-site targets that must keep working.
var acceptedReturnTo = []string{
	"/", "/dashboard", "/a/b/c", "/a?b=c&d=e", "/a#frag", "/a?next=%2Fb", "/search?q=a%20b",
	"/caf%C3%A9", "/a/./b", "/a/../b", "/@user", "/a:b", "/a;b", "/a,b", "/~user", "/a%25b",
	"/%2E%2E/x", "/a?x=https://evil.example",
}

func TestSafeReturnTo(t *testing.T) {
	for _, raw := range rejectedReturnTo {
		if got := SafeReturnTo(raw, "/"); got != "/" {
			t.Errorf("SafeReturnTo(%q) = %q, want the fallback /", raw, got)
		}
	}
	for _, raw := range acceptedReturnTo {
		if got := SafeReturnTo(raw, "/"); got != raw {
			t.Errorf("SafeReturnTo(%q) = %q, want it kept", raw, got)
		}
	}
}

func TestSignInReturnTo(t *testing.T) {
	s := newSite(t, nil)
	cases := map[string]string{}
	for _, raw := range rejectedReturnTo {
		cases[raw] = "/"
	}
	for _, raw := range acceptedReturnTo {
		cases[raw] = raw
	}
	// latch's own routes and a polluted parameter fall back too.
	cases["/callback?code=x"] = "/"
	cases["/sign-in"] = "/"
	cases["/sign-out"] = "/"

	for raw, want := range cases {
		b := s.browser()
		auth := s.startSignIn(b, "return_to="+url.QueryEscape(raw))
		r := b.get(s.authorize(b, auth).String()).expectStatus(t, http.StatusFound)
		if got := r.Header.Get("Location"); got != want {
			t.Errorf("sign-in with return_to %q ends at %q, want %q", raw, got, want)
		}
	}

	b := s.browser()
	auth := s.startSignIn(b, "return_to=/a&return_to=//evil.example")
	if got := b.get(s.authorize(b, auth).String()).Header.Get("Location"); got != "/" {
		t.Errorf("sign-in with two return_to values ends at %q, want /", got)
	}
}

func TestSignInReturnToCustomDefault(t *testing.T) {
	s := newSite(t, func(c *Config) { c.Paths.AfterSignIn = "/home" })
	b := s.browser()
	auth := s.startSignIn(b, "return_to=//evil.example")
	if got := b.get(s.authorize(b, auth).String()).Header.Get("Location"); got != "/home" {
		t.Errorf("rejected return_to falls back to %q, want Paths.AfterSignIn /home", got)
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range append(rejectedReturnTo, acceptedReturnTo...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := SafeReturnTo(raw, "")
		if got == "" {
			return
		}
		if got != raw {
			t.Fatalf("SafeReturnTo(%q) = %q, want raw or the fallback", raw, got)
		}
		// Whatever is accepted must resolve to this site in a browser,
		// which the URL package models closely enough here.
		base, _ := url.Parse("https://app.example/some/page")
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q does not parse: %v", got, err)
		}
		if res := base.ResolveReference(ref); res.Host != "app.example" || res.Scheme != "https" {
			t.Fatalf("accepted %q resolves to %s", got, res)
		}
		for _, bad := range []string{"\\", "\t", "\n", "\r", "//"} {
			if strings.HasPrefix(got[1:], bad[:1]) && (bad == "\\" || bad == "//") {
				t.Fatalf("accepted %q starts with a second slash or a backslash", got)
			}
		}
		decoded := got
		for range maxReturnToDecodings {
			d, err := url.PathUnescape(decoded)
			if err != nil {
				break
			}
			decoded = d
			if f := browserForm(decoded); strings.HasPrefix(f, "//") || strings.HasPrefix(f, "/\\") {
				t.Fatalf("accepted %q decodes to %q", got, decoded)
			}
		}
	})
}
