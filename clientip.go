package latch

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are read, so a
// forged header with thousands of entries costs no more than one with 16.
const maxForwardedHops = 16

// clientIP returns the address of the client that sent r, for per-client
// limits. It is r.RemoteAddr, unless that address is one of the trusted
// proxies: then it is the rightmost X-Forwarded-For entry that is not a
// trusted proxy. Entries to the left of it are written by the client and
// may be forged, so they are never used. Addresses lose their IPv6 zone
// and IPv4-in-IPv6 mapping, so one client has one form.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := remoteAddr(r.RemoteAddr)
	if !addr.IsValid() || !isTrusted(addr, trusted) {
		return addr
	}
	// The header lines are read from the right, entry by entry, without
	// splitting them: only the last maxForwardedHops entries matter.
	lines := r.Header.Values("X-Forwarded-For")
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line, more := lines[i], true
		for more {
			if hops == maxForwardedHops {
				return addr
			}
			hops++
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, more = line, false
			}
			hop, ok := parseHop(entry)
			if !ok {
				// An unreadable entry ends what can be trusted; the proxy
				// that wrote it is the client as far as latch can tell.
				return addr
			}
			if !isTrusted(hop, trusted) {
				return hop
			}
			addr = hop
		}
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an IP address, or an address
// with a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some proxies
// write it.
func parseHop(entry string) (netip.Addr, bool) {
	entry = strings.TrimSpace(entry)
	addr, err := netip.ParseAddr(entry)
	if err != nil {
		ap, err := netip.ParseAddrPort(entry)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	return addr.Unmap().WithZone(""), true
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
	return addr.Unmap().WithZone("")
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
