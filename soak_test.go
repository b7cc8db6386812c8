package latch

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
)

// soakEnv sets the length of the soak test, such as "5m".
const soakEnv = "LATCH_SOAK"

// TestSoak runs mixed traffic for a bounded time (OpenID Connect sign-ins
// and sign-outs, phone codes sent and verified, protected requests, and
// anonymous requests) and checks that nothing grows: the live heap at the
// end must be close to the one measured at two fifths of the run, and the
// goroutines left once the traffic stops as many as before it started.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv(soakEnv))
	if err != nil || d <= 0 {
		t.Skipf("%s is not set to a duration: set %s=5m to run the soak test (.ci/run runs a short one)", soakEnv, soakEnv)
	}
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
		// The test's log buffer would grow with the traffic and hide what
		// latch itself keeps.
		c.Logger = slog.New(slog.DiscardHandler)
		oc.Logger = c.Logger
		// One client address sends every code here; the per-client and
		// per-prefix limits would stop the traffic, not test the memory.
		oc.Limits.ClientHourly = 1 << 30
		oc.Limits.PrefixHourly = 1 << 30
		oc.Limits.CountryHourly = 1 << 30
		oc.Limits.GlobalDaily = 1 << 30
		oc.Limits.PhoneHourly = 1 << 30
		oc.Limits.PhoneDaily = 1 << 30
		oc.Limits.ResendCooldown = time.Second
	})
	ps.idp.AccessTokenTTL = 30 * time.Second // refreshes happen during the run
	idle := func() int {
		// Connections kept alive for the next request hold goroutines
		// on both ends. Close them, the browsers' and latch's own to the
		// provider, and let their goroutines end.
		testTransport.CloseIdleConnections()
		ps.auth.Close()
		time.Sleep(200 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	g0 := idle()

	var requests, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() { soakWorker(t, ps, worker, stop, &requests, &failures) })
	}
	// Keep the clock moving, so that tokens expire and refresh.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				ps.clock.Advance(time.Second)
			}
		}
	})

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// Measure once the maps and caches have reached their working size.
	time.Sleep(d * 2 / 5)
	h1 := heap()
	t.Logf("after %v: %d KiB live heap, %d requests", d*2/5, h1>>10, requests.Load())
	time.Sleep(d - d*2/5)
	h2 := heap()
	t.Logf("after %v: %d KiB live heap, %d requests, %d failures", d, h2>>10, requests.Load(), failures.Load())
	close(stop)
	wg.Wait()
	g1 := idle()
	t.Logf("goroutines at rest: %d before the traffic, %d after it", g0, g1)

	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed", failures.Load(), requests.Load())
	}
	if g1 > g0+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines at rest grew from %d to %d over the soak:\n%s", g0, g1, buf[:runtime.Stack(buf, true)])
	}
	// Sessions, codes and counters come and go at a steady rate, so the
	// live heap must stay within a margin of the early measurement.
	if h2 > h1*3/2+(4<<20) {
		t.Errorf("live heap grew from %d KiB to %d KiB during the soak", h1>>10, h2>>10)
	}
}

func soakWorker(t *testing.T, ps *phoneSite, worker int, stop <-chan struct{}, requests, failures *atomic.Int64) {
	check := func(r *response, want int) {
		requests.Add(1)
		if r.StatusCode != want {
			failures.Add(1)
		}
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		b := ps.browser()
		switch i % 3 {
		case 0: // OpenID Connect sign-in, protected requests, sign-out
			callback := ps.authorize(b, ps.startSignIn(b, ""))
			check(b.get(callback.String()), http.StatusFound)
			for range 20 {
				check(b.get(ps.srv.URL+"/private"), http.StatusOK)
			}
			check(b.post(ps.srv.URL+"/sign-out", nil), http.StatusSeeOther)
		case 1: // phone sign-in from a bounded set of numbers
			number := fmt.Sprintf("1380013%04d", worker*100+i%100)
			r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}})
			check(r, http.StatusSeeOther)
			if r.StatusCode != http.StatusSeeOther {
				continue
			}
			page := b.get(r.location(t).String())
			m := flowPattern.FindStringSubmatch(page.body)
			if m == nil {
				failures.Add(1)
				continue
			}
			code := ps.sender.codeFor("+86" + number)
			check(ps.enterCode(b, "/sign-in/phone", m[1], code), http.StatusSeeOther)
			for range 20 {
				check(b.get(ps.srv.URL+"/private"), http.StatusOK)
			}
			check(b.post(ps.srv.URL+"/sign-out", nil), http.StatusSeeOther)
		case 2: // anonymous traffic
			for range 20 {
				check(b.get(ps.srv.URL+"/private"), http.StatusFound)
			}
		}
	}
}
