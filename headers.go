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

// addVary adds v to the Vary header without allocating when Vary is unset.
func addVary(h http.Header, v string) {
	if _, ok := h["Vary"]; !ok {
		switch v {
		case "Cookie":
			h["Vary"] = varyCookie
			return
		case varyRequestKind:
			h["Vary"] = varyKind
			return
		}
	}
	h.Add("Vary", v)
}

// varyRequestKind lists the request headers that decide between a
// redirect, an HTML page and JSON.
const varyRequestKind = "Accept, Sec-Fetch-Mode, X-Requested-With"

var (
	varyCookie = []string{"Cookie"}
	varyKind   = []string{varyRequestKind}
)
