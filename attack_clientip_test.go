package latch

// Forged and malformed X-Forwarded-For chains. TestClientIP in
// phone_test.go covers the ordinary ones.

import (
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/latchkit/latch/otp"
)

var attackProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

func TestAttackClientIP(t *testing.T) {
	many := strings.Repeat("6.6.6.6, ", 5000) + "198.51.100.1"
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"not from a proxy, forged header", "203.0.113.7:1", []string{"10.0.0.1"}, "203.0.113.7"},
		{"not from a proxy, zone", "[fe80::1%eth0]:1", nil, "fe80::1"},
		{"proxy, entry with an odd zone", "10.0.0.1:1", []string{"fe80::1%25eth0"}, "fe80::1"},
		{"proxy, entry with a zone unescaped", "10.0.0.1:1", []string{"fe80::1%eth0"}, "fe80::1"},
		{"proxy, IPv4 entry with a port", "10.0.0.1:1", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"proxy, IPv6 entry with a port", "10.0.0.1:1", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"proxy, mapped entry", "10.0.0.1:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"proxy, upper-case IPv6", "10.0.0.1:1", []string{"2001:DB8::1"}, "2001:db8::1"},
		{"proxy, spaces", "10.0.0.1:1", []string{"   198.51.100.1   "}, "198.51.100.1"},
		{"proxy, obfuscated entry", "10.0.0.1:1", []string{"unknown"}, "10.0.0.1"},
		{"proxy, empty entry last", "10.0.0.1:1", []string{"198.51.100.1,"}, "10.0.0.1"},
		{"proxy, empty header", "10.0.0.1:1", []string{""}, "10.0.0.1"},
		{"proxy, trusted address forged on the left", "10.0.0.1:1", []string{"10.9.9.9, 198.51.100.1"}, "198.51.100.1"},
		{"proxy, client claims to be a proxy", "10.0.0.1:1", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"two proxies, forged entry between them", "10.0.0.1:1", []string{"6.6.6.6, 198.51.100.1", "10.2.2.2"}, "198.51.100.1"},
		{"chain of trusted hops beyond the bound", "10.0.0.1:1", []string{"198.51.100.1, " + strings.Repeat("10.1.1.1, ", 20) + "10.1.1.1"}, "10.1.1.1"},
		{"thousands of entries", "10.0.0.1:1", []string{many}, "198.51.100.1"},
		{"thousands of header lines", "10.0.0.1:1", append(strings.Split(strings.Repeat("6.6.6.6,", 2000), ","), "198.51.100.1"), "198.51.100.1"},
		{"IPv4 with a zone", "10.0.0.1:1", []string{"198.51.100.1%eth0"}, "10.0.0.1"},
		{"CIDR", "10.0.0.1:1", []string{"198.51.100.0/24"}, "10.0.0.1"},
		{"hostname", "10.0.0.1:1", []string{"evil.example"}, "10.0.0.1"},
		{"IPv6 proxy", "[fd00::1]:1", []string{"2001:db8::7"}, "2001:db8::7"},
		{"remote without a port", "198.51.100.1", nil, "198.51.100.1"},
		{"remote empty", "", []string{"198.51.100.1"}, "invalid IP"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, attackProxies).String(); got != tt.want {
			t.Errorf("%s: clientIP(%q, %.60q) = %s, want %s", tt.name, tt.remote, tt.xff, got, tt.want)
		}
	}
}

// TestAttackClientIPCost checks that a forged header of thousands of
// entries costs no more memory than a short one.
func TestAttackClientIPCost(t *testing.T) {
	r := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{
		"X-Forwarded-For": {strings.Repeat("6.6.6.6, ", 100_000) + "10.2.2.2"},
	}}
	clientIP(r, attackProxies) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		clientIP(r, attackProxies)
	}
	runtime.ReadMemStats(&after)
	// The counter is the process's, so other tests' goroutines add to it;
	// a cost that grew with the header would be megabytes.
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("10 calls of clientIP with a 100,000-entry header allocated %d bytes, want almost none", n)
	}
}

// TestAttackClientIPReachesLimits checks end to end that a client behind a
// trusted proxy cannot escape the per-client send limit by forging
// X-Forwarded-For, and that a client not behind one cannot borrow another
// address with it.
func TestAttackClientIPReachesLimits(t *testing.T) {
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		oc.Limits.ClientHourly = 2
		oc.Limits.PhoneHourly = 100
	})
	b := ps.browser()
	statuses := []int{}
	for i, forged := range []string{"6.6.6.1", "6.6.6.2, 198.51.100.1", "6.6.6.3, 198.51.100.1", "6.6.6.4, 198.51.100.1"} {
		number := "1380013800" + string(rune('0'+i))
		r := b.do(http.MethodPost, ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}},
			http.Header{"Sec-Fetch-Site": {"same-origin"}, "X-Forwarded-For": {forged}})
		statuses = append(statuses, r.StatusCode)
	}
	// The first request counts for 6.6.6.1; the next three all for
	// 198.51.100.1, whatever they forge on the left, so the third of
	// those is refused.
	want := []int{303, 303, 303, 429}
	for i := range want {
		if statuses[i] != want[i] {
			t.Errorf("send %d: status %d, want %d (all: %v)", i+1, statuses[i], want[i], statuses)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.1")
	f.Add("10.0.0.1:1", "6.6.6.6, 198.51.100.1, 10.0.0.2")
	f.Add("[fd00::1]:1", "[2001:db8::1]:80")
	f.Add("203.0.113.1:1", "10.0.0.1")
	f.Add("10.0.0.1:1", "fe80::1%eth0,,unknown")
	f.Add("[fe80::1%25eth0]:1", "")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		lines := strings.Split(xff, "\n")
		for _, l := range lines {
			r.Header.Add("X-Forwarded-For", l)
		}
		got := clientIP(r, attackProxies)
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("clientIP(%q, %q) = %s, want no zone and no IPv4 mapping", remote, xff, got)
		}
		direct := remoteAddr(remote)
		if !direct.IsValid() || !isTrusted(direct, attackProxies) {
			if got != direct {
				t.Fatalf("clientIP(%q, %q) = %s, want the remote address %s: it is no trusted proxy", remote, xff, got, direct)
			}
			return
		}
		if got == direct {
			return
		}
		// Anything else must be one of the entries, as written.
		found := false
		for _, l := range lines {
			for _, e := range strings.Split(l, ",") {
				if a, ok := parseHop(e); ok && a == got {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("clientIP(%q, %q) = %s, which is not among the entries", remote, xff, got)
		}
	})
}
