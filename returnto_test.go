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
	// Dot segments that an RFC 3986 resolver removes, leaving "//".
	"/.//evil.example", "/..//evil.example", "/a/..//evil.example", "/a/b/../..//evil.example",
	"/%2e//evil.example", "/%2E%2E//evil.example", "/%2e%2e%2f%2fevil.example", "/.%2F/evil.example",
	"/%252e%252e%252f%252fevil.example",
	// Overlong and invalid UTF-8, read as a slash by lenient decoders.
	"/%C0%AFevil.example", "/%C0%AF%C0%AFevil.example", "/%E0%80%AFevil.example", "/%C1%9Cevil.example",
	"/%25C0%25AFevil.example", "/%FF/evil.example", "/..%C0%AF..%C0%AFevil.example",
	// More look-alikes and controls.
	"/%EF%B9%A8evil.example", "/%EF%BC%8F%EF%BC%8Fevil.example", "/%0B/evil.example", "/%00/evil.example",
	"/%7F/evil.example", "/%E3%80%80%0D%0A/x",
}

// acceptedReturnTo lists ordinary same-site targets that must keep working.
var acceptedReturnTo = []string{
	"/", "/dashboard", "/a/b/c", "/a?b=c&d=e", "/a#frag", "/a?next=%2Fb", "/search?q=a%20b",
	"/caf%C3%A9", "/a/./b", "/a/../b", "/@user", "/a:b", "/a;b", "/a,b", "/~user", "/a%25b",
	"/%2E%2E/x", "/a?x=https://evil.example",
	"/.well-known/x", "/a/../b/./c", "/a/.b", "/search?q=caf%E9", "/a?b=%2F%2Fx", "/a?next=//evil.example",
	"/a#//evil.example", "/%E2%88%95x",
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

func TestRemoveDotSegments(t *testing.T) {
	// The examples of RFC 3986 section 5.2.4 and 5.4, and the forms that
	// turn into "//".
	for in, want := range map[string]string{
		"/a/b/c/./../../g": "/a/g", "mid/content=5/../6": "mid/6", "/": "/", "/.": "/", "/..": "/",
		"/../x": "/x", "/a/./b": "/a/b", "/a/..": "/", "/.//x": "//x", "/..//x": "//x", "/a/..//x": "//x",
		"/.well-known": "/.well-known", "/a/.b/..": "/a/", "../x": "x", "./x": "x", "..": "",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
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
			if r := removeDotSegments(pathOf(browserForm(decoded))); strings.HasPrefix(r, "//") || strings.HasPrefix(r, "/\\") {
				t.Fatalf("accepted %q decodes to %q, which resolves to %q", got, decoded, r)
			}
		}
	})
}
