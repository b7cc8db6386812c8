package latch

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are read, so a
// forged header with thousands of entries costs nothing.
const maxForwardedHops = 16

// clientIP returns the address of the client that sent r, for per-client
// limits. It is r.RemoteAddr, unless that address is one of the trusted
// proxies: then it is the rightmost X-Forwarded-For entry that is not a
// trusted proxy. Entries to the left of it are written by the client and
// may be forged, so they are never used.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := remoteAddr(r.RemoteAddr)
	if !addr.IsValid() || !isTrusted(addr, trusted) {
		return addr
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// An unreadable entry ends what can be trusted; the proxy
			// before it is the client as far as latch can tell.
			return addr
		}
		hop = hop.Unmap()
		if !isTrusted(hop, trusted) {
			return hop
		}
		addr = hop
	}
	return addr
}

// forwardedHops returns the last maxForwardedHops entries of the
// X-Forwarded-For header lines, in order.
func forwardedHops(lines []string) []string {
	var hops []string
	for _, line := range lines {
		hops = append(hops, strings.Split(line, ",")...)
	}
	if len(hops) > maxForwardedHops {
		hops = hops[len(hops)-maxForwardedHops:]
	}
	return hops
}

func remoteAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
