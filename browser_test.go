package latch

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/latchkit/latch/otp"
)

// chromiumEnv names the Chromium binary that the browser tests drive.
const chromiumEnv = "LATCH_TEST_CHROMIUM"

// newBrowserTab starts headless Chromium for t and returns a context for
// one tab, bounded by a minute.
func newBrowserTab(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv(chromiumEnv)
	if path == "" {
		t.Skipf("%s is not set: set it to a Chromium binary (apt-get install chromium; %s=/usr/bin/chromium) or run .ci/run to test the pages in a real browser", chromiumEnv, chromiumEnv)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Tests run as root in CI, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// The machine has no network beyond loopback, and Chromium's
		// background fetches would only fail.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium at %s: %v", path, err)
	}
	return ctx
}

// run performs actions in the tab and fails the test on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return text
}

func locationOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("reading the location: %v", err)
	}
	return loc
}

// browserSendCode fills the number form and submits it, and waits for the
// code form.
func browserSendCode(t *testing.T, ctx context.Context, number string) {
	t.Helper()
	run(t, ctx, "typing the number",
		chromedp.WaitVisible(chromedp.ID("phone")),
		chromedp.SendKeys(chromedp.ID("phone"), number),
	)
	submitAndWait(t, ctx, "sending the number", chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	run(t, ctx, "waiting for the code form", chromedp.WaitVisible(chromedp.ID("code")))
}

func browserEnterCode(t *testing.T, ctx context.Context, code string) {
	t.Helper()
	run(t, ctx, "entering the code",
		chromedp.Clear(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
	)
	submitAndWait(t, ctx, "submitting the code", chromedp.Submit(chromedp.ID("code")))
}

// submitAndWait runs an action that navigates, such as a click on a
// submit button, and waits until the page it leads to has loaded.
func submitAndWait(t *testing.T, ctx context.Context, what string, action chromedp.Action[chromedp.Void]) {
	t.Helper()
	if _, err := chromedp.RunResponse(ctx, action); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestBrowserPhoneSignIn(t *testing.T) {
	ctx := newBrowserTab(t)
	ps := newPhoneSite(t, false, nil)

	run(t, ctx, "opening a protected page", chromedp.Navigate(ps.srv.URL+"/private"))
	if loc := locationOf(t, ctx); !strings.HasSuffix(loc, "/sign-in/phone?return_to=%2Fprivate") {
		t.Fatalf("anonymous visit ends at %s, want the phone sign-in page", loc)
	}
	browserSendCode(t, ctx, "138 0013 8000")
	if got := textOf(t, ctx, "main p"); !strings.Contains(got, "+86\u00a0138\u00a00013\u00a08000") {
		t.Errorf("code page says %q, want the number", got)
	}
	browserEnterCode(t, ctx, ps.sender.last(t).Code)
	if got := textOf(t, ctx, "body"); got != "private for +8613800138000" {
		t.Errorf("after entering the code the page says %q, want the protected page", got)
	}
	if loc := locationOf(t, ctx); !strings.HasSuffix(loc, "/private") {
		t.Errorf("after entering the code the browser is at %s, want /private", loc)
	}

	// Signing out through the confirmation page ends the session.
	run(t, ctx, "opening the sign-out page", chromedp.Navigate(ps.srv.URL+"/sign-out"))
	submitAndWait(t, ctx, "signing out", chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	run(t, ctx, "opening the protected page again", chromedp.Navigate(ps.srv.URL+"/private"))
	if loc := locationOf(t, ctx); !strings.Contains(loc, "/sign-in/phone") {
		t.Errorf("after sign-out /private leads to %s, want the sign-in page", loc)
	}
}

func TestBrowserPhoneWrongCodeResendExpiry(t *testing.T) {
	ctx := newBrowserTab(t)
	ps := newPhoneSite(t, false, nil)
	run(t, ctx, "opening the phone page", chromedp.Navigate(ps.srv.URL+"/sign-in/phone"))
	browserSendCode(t, ctx, "13800138000")
	code := ps.sender.last(t).Code
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}

	browserEnterCode(t, ctx, wrong)
	if got := textOf(t, ctx, "#code-error"); got != "That code is not correct. You have 4 attempts left." {
		t.Errorf("wrong code message = %q", got)
	}
	invalid, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('code').getAttribute('aria-invalid') + ' ' + document.getElementById('code').getAttribute('aria-describedby')`))
	if err != nil || invalid != "true code-error code-hint" {
		t.Errorf("code input after an error: aria-invalid and aria-describedby = %q (%v)", invalid, err)
	}
	if value, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("code"))); value != "" {
		t.Errorf("code input keeps %q after an error, want it empty", value)
	}

	submitAndWait(t, ctx, "asking for a new code too early", chromedp.Click(chromedp.CSS(`input[value=resend] ~ button`)))
	if got := textOf(t, ctx, "#code-error"); !strings.HasPrefix(got, "Please wait 60 seconds") {
		t.Errorf("early resend message = %q", got)
	}

	ps.clock.Advance(61 * time.Second)
	submitAndWait(t, ctx, "asking for a new code", chromedp.Click(chromedp.CSS(`input[value=resend] ~ button`)))
	if got := textOf(t, ctx, "#code-notice"); got != "We sent you a new code." {
		t.Errorf("resend notice = %q", got)
	}
	if ps.sender.count() != 2 {
		t.Errorf("codes sent = %d, want 2", ps.sender.count())
	}

	ps.clock.Advance(6 * time.Minute)
	browserEnterCode(t, ctx, ps.sender.last(t).Code)
	if got := textOf(t, ctx, "#code-error"); !strings.Contains(got, "expired") {
		t.Errorf("expired code message = %q", got)
	}
}

func TestBrowserOIDCSignIn(t *testing.T) {
	ctx := newBrowserTab(t)
	s := newSite(t, nil)
	run(t, ctx, "signing in through the provider",
		chromedp.Navigate(s.srv.URL+"/sign-in?return_to=%2Fprivate"),
		chromedp.WaitReady(chromedp.CSS("body")))
	if got := textOf(t, ctx, "body"); got != "private for user-1" {
		t.Errorf("after the provider's redirect the page says %q, want the protected page", got)
	}
}

func TestBrowserPageLayout(t *testing.T) {
	ctx := newBrowserTab(t)
	ps := newPhoneSite(t, false, nil)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"phone", 390, 844, true},
		{"desktop", 1280, 800, false},
	} {
		t.Run(size.name, func(t *testing.T) {
			viewport := []chromedp.EmulateViewportOption{}
			if size.mobile {
				viewport = append(viewport, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			// A headless page never has the window's focus; emulate it so
			// that :focus-visible applies as it does for a person.
			if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
				t.Fatalf("emulating focus: %v", err)
			}
			run(t, ctx, "opening the page",
				chromedp.EmulateViewport(size.width, size.height, viewport...),
				chromedp.Navigate(ps.srv.URL+"/sign-in/phone"),
				chromedp.WaitVisible(chromedp.ID("phone")))
			for _, sel := range []string{"#country", "#phone", "form button[type=submit]", "h1"} {
				run(t, ctx, "checking "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
				box, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("Dimensions(%s): %v", sel, err)
				}
				if right := box.Border[2]; right > float64(size.width) || box.Border[0] < 0 {
					t.Errorf("%s spans x %.0f to %.0f, outside the %d px viewport", sel, box.Border[0], right, size.width)
				}
			}
			checks := map[string]string{
				"labels of every input":   `[...document.querySelectorAll('input:not([type=hidden]), select')].every(e => e.labels.length === 1 && e.labels[0].textContent.trim() !== '')`,
				"no horizontal scrolling": `document.documentElement.scrollWidth <= window.innerWidth`,
				"readable text size":      `parseFloat(getComputedStyle(document.getElementById('phone')).fontSize) >= 16`,
				"touch-sized button":      `document.querySelector('form button[type=submit]').getBoundingClientRect().height >= 44`,
				"visible focus ring":      `(() => { const e = document.getElementById('phone'); e.focus(); const s = getComputedStyle(e); return e.matches(':focus-visible') && s.outlineStyle === 'solid' && parseFloat(s.outlineWidth) >= 2 })()`,
				"live region":             `document.querySelector('[aria-live]') !== null`,
				"viewport meta":           `document.querySelector('meta[name=viewport]').content.includes('width=device-width')`,
				"language set":            `document.documentElement.lang === 'en'`,
			}
			for name, expr := range checks {
				ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
				if err != nil || !ok {
					t.Errorf("%s at %s width: %v (%v)", name, size.name, ok, err)
				}
			}
		})
	}
}

func TestBrowserSpanishPages(t *testing.T) {
	ctx := newBrowserTab(t)
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {})
	run(t, ctx, "opening the Spanish page",
		chromedp.Navigate(ps.srv.URL+"/sign-in/phone?lang=es"),
		chromedp.WaitVisible(chromedp.ID("phone")))
	if got := textOf(t, ctx, "h1"); got != "Inicia sesión con tu teléfono" {
		t.Errorf("Spanish heading = %q", got)
	}
	browserSendCode(t, ctx, "13800138000")
	if got := textOf(t, ctx, "h1"); got != "Introduce tu código" {
		t.Errorf("Spanish code page heading = %q", got)
	}
	if got := ps.sender.last(t).Locale; got != "es" {
		t.Errorf("SMS locale = %q, want es", got)
	}
}
