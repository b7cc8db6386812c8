package multitest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store"
)

// OutageOptions configures [RunOutage].
type OutageOptions struct {
	// Proxy is between the stores and their server.
	Proxy *Proxy

	// Store and Sessions reach the server through Proxy.
	Store    store.Store
	Sessions scs.Store

	// Timeout is the stores' timeout per operation. Every call that fails
	// during the outage must end within Timeout plus a second.
	Timeout time.Duration
}

// RunOutage checks a site whose stores lose their server, once cut off
// (connections closed) and once stalled (no replies), and get it back.
// During the outage, requests that need the session store get 503 within
// the bounded time, as an HTML page for browsers and JSON for API
// clients. The otp service returns wrapped store errors, never a refusal
// or "no code", and sends nothing. After the server returns, the same
// session and the code issued before the outage work again.
func RunOutage(t *testing.T, opts OutageOptions) {
	bound := opts.Timeout + time.Second
	c := Start(t, Options{Instances: 1, SessionStore: func(testing.TB, int) scs.Store { return opts.Sessions }})
	browser := c.Browser()
	c.SignIn(browser, 0, 0)
	wantSignedIn(t, browser, 0)
	api := c.APIClient()
	api.SetSessionCookie(browser.SessionCookie())

	outbox := &Outbox{}
	codes := NewOTP(t, opts.Store, outbox, NewClock(time.Now()), otp.Limits{})
	before := phone(t, codes, 1)
	mustIssue(t, "before the outage", codes, before)
	code := outbox.Code(before.E164())

	for _, outage := range []struct {
		name  string
		start func()
	}{
		{"cut", opts.Proxy.Cut},
		{"stall", opts.Proxy.Stall},
	} {
		t.Run(outage.name, func(t *testing.T) {
			outage.start()
			restored := false
			restore := func() {
				if !restored {
					opts.Proxy.Restore()
					restored = true
				}
			}
			defer restore()

			r := browser.Get(0, "/private")
			wantUnavailable(t, "browser", r, "text/html", bound)
			r = api.Get(0, "/private")
			wantUnavailable(t, "API client", r, "application/json", bound)
			if logs := c.Logs[0].String(); !strings.Contains(logs, "session store failed") {
				t.Errorf("instance log has no \"session store failed\" line; it is:\n%.2000s", logs)
			}

			sent := outbox.Len()
			start := time.Now()
			err := issue(context.Background(), codes, phone(t, codes, 2), 1)
			wantStoreError(t, "Issue", err, time.Since(start), bound)
			if outbox.Len() != sent {
				t.Errorf("Issue during the outage sent a message")
			}
			start = time.Now()
			err = verify(codes, before, code)
			wantStoreError(t, "Verify", err, time.Since(start), bound)

			restore()
			waitSignedIn(t, browser, 10*time.Second)
			wantSignedIn(t, browser, 0)
			if r := api.Get(0, "/private"); r.StatusCode != http.StatusOK {
				t.Errorf("API GET /private after the outage: status %d, want 200", r.StatusCode)
			}
		})
	}

	if err := verify(codes, before, code); err != nil {
		t.Errorf("Verify after both outages of the code issued before them: %v, want nil", err)
	}
	if err := issue(context.Background(), codes, phone(t, codes, 3), 1); err != nil {
		t.Errorf("Issue after both outages: %v, want nil", err)
	}
}

func wantUnavailable(t *testing.T, who string, r *Response, contentType string, bound time.Duration) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s GET /private during the outage: status %d, body %.200q; want 503", who, r.StatusCode, r.Body)
	}
	if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, contentType) {
		t.Errorf("%s GET /private during the outage: Content-Type %q, want %s", who, got, contentType)
	}
	if r.Elapsed > bound {
		t.Errorf("%s GET /private during the outage took %s, want at most %s", who, r.Elapsed, bound)
	}
}

// wantStoreError fails the test unless err is a store failure: not nil,
// and neither a refusal nor a verification result.
func wantStoreError(t *testing.T, call string, err error, elapsed, bound time.Duration) {
	t.Helper()
	var le *otp.LimitError
	var ve *otp.VerifyError
	var se *otp.SendError
	switch {
	case err == nil:
		t.Errorf("%s during the outage: no error, want a store error", call)
	case errors.As(err, &le), errors.As(err, &ve), errors.As(err, &se), errors.Is(err, otp.ErrNoCode):
		t.Errorf("%s during the outage: %v, want a store error rather than a refusal or a verification result", call, err)
	case !strings.Contains(err.Error(), "otp: store:"):
		t.Errorf("%s during the outage: %v, want an error that names the store", call, err)
	}
	if elapsed > bound {
		t.Errorf("%s during the outage took %s, want at most %s", call, elapsed, bound)
	}
}

// waitSignedIn waits until b's session works again on instance 0. A pool
// may hold connections that broke while idle, and each fails one request
// before the pool drops it.
func waitSignedIn(t *testing.T, b *Browser, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for failed := 0; ; failed++ {
		r := b.Get(0, "/private")
		if r.StatusCode == http.StatusOK {
			t.Logf("the session worked again after %d failed requests", failed)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /private after the server returned: status %d for %s, want 200; body %.200q", r.StatusCode, limit, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
