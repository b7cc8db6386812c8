package latch

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxReturnToLen bounds a return-to path; longer values fall back to the
// default rather than bloat the session.
const maxReturnToLen = 2048

// maxReturnToDecodings is how many rounds of percent-decoding a return-to
// value is checked through. A value may pass through several decoders (a
// proxy, a framework, the application) before a browser reads it.
const maxReturnToDecodings = 3

// SafeReturnTo returns raw when a browser would read it as a path on this
// site, and fallback otherwise. latch applies it to every return-to value
// it receives; applications can use it for their own redirects.
//
// A safe value is printable ASCII with no backslash, starts with a single
// "/", and names no scheme, host or user information. Up to three rounds
// of percent-decoding must not reveal a control character or a path that
// is not UTF-8, nor turn it into "//" or "/\" as a browser, a
// Unicode-normalizing server or an RFC 3986 resolver reads it (tabs and
// newlines dropped, NFKC applied, dot segments removed). So "//host",
// "/\host", "/%2F%2Fhost", "/%5Chost", "/%09/host", "/%EF%BC%8Fhost" (a
// full-width slash), "/%C0%AFhost" (an overlong slash), "/.//host",
// "https://host" and "javascript:..." are rejected, while "/a/b?c=d%20e#f"
// is kept as it is.
func SafeReturnTo(raw, fallback string) string {
	if isSafeReturnTo(raw) {
		return raw
	}
	return fallback
}

func isSafeReturnTo(raw string) bool {
	if raw == "" || len(raw) > maxReturnToLen || !hasLocalPrefix(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		// Control characters, space, DEL, backslash and non-ASCII bytes
		// have no place in a Location header. Browsers also drop tabs and
		// newlines and turn backslashes into slashes.
		if c := raw[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	// A value that starts with one "/" has no scheme, host or user
	// information for any URL parser; without '%' no decoding can change
	// it. This is the common case, so it costs no allocation.
	if !strings.Contains(raw, "%") {
		return readsLocal(raw)
	}
	if !readsLocal(raw) {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}

	s := raw
	for range maxReturnToDecodings {
		decoded, err := url.PathUnescape(s)
		if err != nil || decoded == s {
			// Browsers keep an invalid escape as it is, so neither case
			// can turn into a new prefix.
			return true
		}
		s = decoded
		// An overlong or otherwise invalid UTF-8 sequence in the path,
		// such as %C0%AF, is a slash to some lenient decoders. The query
		// may keep legacy encodings, which cannot change the host.
		if hasControl(s) || !utf8.ValidString(pathOf(s)) || !readsLocal(browserForm(s)) {
			return false
		}
	}
	// Still changing after the last round: reject rather than guess.
	decoded, err := url.PathUnescape(s)
	return err != nil || decoded == s
}

// hasLocalPrefix reports whether s starts with one "/" that is not
// followed by another slash or a backslash.
func hasLocalPrefix(s string) bool {
	if len(s) == 0 || s[0] != '/' {
		return false
	}
	return len(s) == 1 || (s[1] != '/' && s[1] != '\\')
}

// readsLocal reports whether s starts with a single "/" both as it is and
// once its dot segments are removed, as RFC 3986 section 5.2.4 resolves
// them: "/.//host" and "/a/..//host" resolve to "//host".
func readsLocal(s string) bool {
	if !hasLocalPrefix(s) {
		return false
	}
	path := pathOf(s)
	if !strings.Contains(path, "/.") {
		return true
	}
	return hasLocalPrefix(removeDotSegments(path))
}

// removeDotSegments applies the algorithm of RFC 3986 section 5.2.4 to an
// absolute path.
func removeDotSegments(in string) string {
	var out strings.Builder
	out.Grow(len(in))
	for len(in) > 0 {
		switch {
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"), in == "/..":
			in = "/" + in[min(len(in), 4):]
			o := out.String()
			out.Reset()
			out.WriteString(o[:max(strings.LastIndexByte(o, '/'), 0)])
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := strings.IndexByte(in[start:], '/')
			if end < 0 {
				end = len(in)
			} else {
				end += start
			}
			out.WriteString(in[:end])
			in = in[end:]
		}
	}
	return out.String()
}

// hasControl reports whether s has an ASCII control character: a decoder
// further on could turn an encoded CR LF into a header break.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// browserForm drops the ASCII tabs and newlines that the WHATWG URL parser
// removes, and applies NFKC, which maps look-alikes such as U+FF0F
// (full-width solidus) to their ASCII form.
func browserForm(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	return norm.NFKC.String(s)
}
