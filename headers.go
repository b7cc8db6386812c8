package latch

import "net/http"

// Header values that latch sets on many responses, shared so that setting
// one costs no allocation. Each slice's capacity equals its length, so a
// later Header.Add on the same key appends to a copy, never into the
// shared array. Nothing in latch writes into these slices.
var (
	valueNoStore    = []string{"no-store"}
	valueNoReferrer = []string{"no-referrer"}
	valueNoSniff    = []string{"nosniff"}
	valueJSON       = []string{"application/json; charset=utf-8"}
	valueHTML       = []string{"text/html; charset=utf-8"}
	valueDeny       = []string{"DENY"}
)

// setShared sets a canonical header key to a shared value.
func setShared(h http.Header, key string, value []string) {
	h[key] = value
}

// addVary adds v to the Vary header, without allocating in the cases
// latch meets on every response: Vary unset, or holding only the "Cookie"
// that the session middleware set.
func addVary(h http.Header, v string) {
	cur, ok := h["Vary"]
	switch {
	case !ok && v == "Cookie":
		h["Vary"] = varyCookie
	case !ok && v == varyRequestKind:
		h["Vary"] = varyKind
	case len(cur) == 1 && cur[0] == "Cookie" && v == varyRequestKind:
		h["Vary"] = varyCookieKind
	default:
		h.Add("Vary", v)
	}
}

// varyRequestKind lists the request headers that decide between a
// redirect, an HTML page and JSON.
const varyRequestKind = "Accept, Sec-Fetch-Mode, X-Requested-With"

var (
	varyCookie     = []string{"Cookie"}
	varyKind       = []string{varyRequestKind}
	varyCookieKind = []string{"Cookie", varyRequestKind}
)
