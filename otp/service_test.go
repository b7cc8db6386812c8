package otp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/store"
)

type maxLengthSender struct {
	recordingSender
	max int
}

func (m *maxLengthSender) MaxCodeLength() int { return m.max }

func TestNewRejectsInvalidConfig(t *testing.T) {
	sender := &recordingSender{}
	base := Config{Key: testKey, Sender: sender, DefaultRegion: "CN"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"nil sender", func(c *Config) { c.Sender = nil }, "Sender is nil"},
		{"missing key", func(c *Config) { c.Key = nil }, "missing MAC key"},
		{"short key", func(c *Config) { c.Key = []byte("short") }, "has 5 bytes"},
		{"code too short", func(c *Config) { c.CodeLength = 3 }, "CodeLength is 3"},
		{"code too long", func(c *Config) { c.CodeLength = 11 }, "CodeLength is 11"},
		{"code longer than sender allows", func(c *Config) {
			c.Sender = &maxLengthSender{max: 6}
			c.CodeLength = 8
		}, "at most 6 digits"},
		{"unknown default region", func(c *Config) { c.DefaultRegion = "XX" }, "unknown region \"XX\""},
		{"unknown allowed region", func(c *Config) { c.AllowedRegions = []string{"CN", "ZZZ"} }, "unknown region \"ZZZ\""},
		{"no region at all", func(c *Config) { c.DefaultRegion = "" }, "no region allowed"},
		{"empty purposes", func(c *Config) { c.Purposes = []Purpose{} }, "Purposes is empty"},
		{"invalid purpose", func(c *Config) { c.Purposes = []Purpose{"Login"} }, "invalid purpose \"Login\""},
		{"negative TTL", func(c *Config) { c.Limits.CodeTTL = -time.Second }, "Limits.CodeTTL"},
		{"negative attempts", func(c *Config) { c.Limits.MaxAttempts = -1 }, "Limits.MaxAttempts"},
		{"negative budget", func(c *Config) { c.Limits.GlobalDaily = -5 }, "Limits.GlobalDaily"},
		{"cooldown over TTL", func(c *Config) {
			c.Limits.CodeTTL = time.Minute
			c.Limits.ResendCooldown = 2 * time.Minute
		}, "exceeds Limits.CodeTTL"},
		{"prefix drops too much", func(c *Config) { c.Limits.PrefixDigitsDropped = 7 }, "PrefixDigitsDropped"},
		{"bad region override", func(c *Config) { c.Limits.CountryHourlyByRegion = map[string]int{"Q1": 5} }, "CountryHourlyByRegion"},
		{"zero region override", func(c *Config) { c.Limits.CountryHourlyByRegion = map[string]int{"CN": 0} }, "CountryHourlyByRegion[\"CN\"] is 0"},
	}
	for _, tt := range tests {
		cfg := base
		tt.edit(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s): error %v, want one containing %q", tt.name, err, tt.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "otp: ") {
			t.Errorf("New(%s): error %q lacks the otp: prefix", tt.name, err)
		}
	}
	if _, err := New(Config{Sender: sender, DefaultRegion: "CN"}); !errors.Is(err, ErrMissingKey) {
		t.Errorf("New(no key): error %v, want ErrMissingKey", err)
	}
}

func TestNewDevelopmentKeyWarns(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Key = nil
		c.InsecureDevelopmentKey = true
	})
	if !strings.Contains(h.logs.String(), "development MAC key") {
		t.Errorf("logs after New(InsecureDevelopmentKey) = %q, want a warning about the development key", h.logs.String())
	}
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify with development key: %v", err)
	}
}

func TestNewAcceptsSenderMaxLength(t *testing.T) {
	_, err := New(Config{Key: testKey, Sender: &maxLengthSender{max: 6}, DefaultRegion: "CN", CodeLength: 6})
	if err != nil {
		t.Errorf("New(CodeLength 6, sender max 6): %v", err)
	}
}

func TestIssueVerifyOnce(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "+86 138 0013 8000")
	iss, code := h.mustIssue(t, p, SignIn)

	msg := h.sender.last(t)
	if msg.Phone != "+8613800138000" || msg.Purpose != SignIn {
		t.Errorf("sent message to %s for %s, want +8613800138000 for SignIn", msg.Phone, msg.Purpose)
	}
	if len(code) != DefaultCodeLength || strings.Trim(code, "0123456789") != "" {
		t.Errorf("sent code has %d characters %q, want %d digits", len(code), strings.Trim(code, "0123456789"), DefaultCodeLength)
	}
	if !iss.ExpiresAt.Equal(t0.Add(DefaultCodeTTL)) || !iss.ResendAt.Equal(t0.Add(DefaultResendCooldown)) {
		t.Errorf("Issued = %+v, want expiry at +5m and resend at +60s", iss)
	}
	if iss.AttemptsLeft != DefaultMaxAttempts {
		t.Errorf("Issued.AttemptsLeft = %d, want %d", iss.AttemptsLeft, DefaultMaxAttempts)
	}

	if err := h.verify(p, SignIn, code); err != nil {
		t.Fatalf("Verify(right code): %v", err)
	}
	err := h.verify(p, SignIn, code)
	if !errors.Is(err, ErrNoCode) {
		t.Errorf("second Verify(right code): %v, want ErrNoCode", err)
	}
}

func TestVerifyBoundToPhoneAndPurpose(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	other := h.phone(t, "13800138001")
	_, code := h.mustIssue(t, p, SignIn)

	if err := h.verify(p, Register, code); !errors.Is(err, ErrNoCode) {
		t.Errorf("Verify(other purpose): %v, want ErrNoCode", err)
	}
	if err := h.verify(other, SignIn, code); !errors.Is(err, ErrNoCode) {
		t.Errorf("Verify(other phone): %v, want ErrNoCode", err)
	}
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify(own phone and purpose): %v", err)
	}
}

func TestStoreKeepsBoundHMAC(t *testing.T) {
	spy := newSpyStore(t)
	h := newHarness(t, func(c *Config) { c.Store = spy })
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)

	if len(spy.challenges) != 1 {
		t.Fatalf("store saw %d challenges, want 1", len(spy.challenges))
	}
	got := spy.challenges[0].MAC
	if strings.Contains(string(got), code) {
		t.Errorf("stored MAC %x contains the code", got)
	}
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte("latch/otp/v1\x00SignIn\x00+8613800138000\x00" + code))
	if want := m.Sum(nil); !hmac.Equal(got, want) {
		t.Errorf("stored MAC = %x, want HMAC-SHA256(key, domain|purpose|phone|code) = %x", got, want)
	}
	other := h.phone(t, "13800138001")
	if hmac.Equal(h.svc.mac(other, SignIn, code), got) {
		t.Error("mac(other phone, same code) equals the stored MAC")
	}
	if hmac.Equal(h.svc.mac(p, Register, code), got) {
		t.Error("mac(other purpose, same code) equals the stored MAC")
	}
}

func TestVerifyExpiry(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	h.clock.Advance(DefaultCodeTTL)
	if err := h.verify(p, SignIn, code); !errors.Is(err, ErrNoCode) {
		t.Errorf("Verify at expiry: %v, want ErrNoCode", err)
	}
}

func TestVerifyAttemptsBurnCode(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	wrong := wrongCode(code)

	for want := DefaultMaxAttempts - 1; want >= 0; want-- {
		err := h.verify(p, SignIn, wrong)
		var ve *VerifyError
		if !errors.As(err, &ve) || !errors.Is(err, ErrCodeMismatch) {
			t.Fatalf("Verify(wrong code): %v, want *VerifyError wrapping ErrCodeMismatch", err)
		}
		if ve.AttemptsLeft != want {
			t.Fatalf("Verify(wrong code): AttemptsLeft %d, want %d", ve.AttemptsLeft, want)
		}
		if want == 0 && !ve.RetryAt.Equal(t0.Add(DefaultCodeTTL)) {
			t.Errorf("Verify(last wrong code): RetryAt %s, want expiry %s", ve.RetryAt, t0.Add(DefaultCodeTTL))
		}
	}
	err := h.verify(p, SignIn, code)
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("Verify(right code) after burn: %v, want ErrTooManyAttempts", err)
	}
	if ve.RetryAfter != DefaultCodeTTL {
		t.Errorf("Verify after burn: RetryAfter %s, want %s", ve.RetryAfter, DefaultCodeTTL)
	}

	// A burnt code blocks new codes, even after the cooldown, until expiry.
	h.clock.Advance(2 * time.Minute)
	_, err = h.issue(t, p, SignIn)
	wantLimit(t, "Issue after burn", err, LimitAttempts, t0.Add(DefaultCodeTTL), h.clock.Now())
	if !errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("Issue after burn: errors.Is(err, ErrTooManyAttempts) = false")
	}
	// Another purpose is not blocked.
	h.mustIssue(t, p, Register)

	h.clock.Advance(3 * time.Minute)
	_, code = h.mustIssue(t, p, SignIn)
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify(new code after burnt one expired): %v", err)
	}
}

func TestVerifyInvalidCodeTakesNoAttempt(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	for _, bad := range []string{"", "12345", "1234567", "12a456", "12345x", strings.Repeat("1", 1000), "１２３"} {
		for range DefaultMaxAttempts + 1 {
			if err := h.verify(p, SignIn, bad); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("Verify(%q): %v, want ErrInvalidCode", bad, err)
			}
		}
	}
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify(right code) after malformed ones: %v", err)
	}
}

func TestVerifyAcceptsTypedForms(t *testing.T) {
	for _, form := range []func(string) string{
		func(c string) string { return " " + c + " " },
		func(c string) string { return c[:3] + " " + c[3:] },
		func(c string) string { return c[:3] + "-" + c[3:] },
		toFullWidth,
	} {
		h := newHarness(t, nil)
		p := h.phone(t, "13800138000")
		_, code := h.mustIssue(t, p, SignIn)
		if err := h.verify(p, SignIn, form(code)); err != nil {
			t.Errorf("Verify(%q for code %s): %v", form(code), code, err)
		}
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			r = '０' + (r - '0')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestIssueCooldown(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, first := h.mustIssue(t, p, SignIn)
	if err := h.verify(p, SignIn, wrongCode(first)); !errors.Is(err, ErrCodeMismatch) {
		t.Fatalf("Verify(wrong code): %v", err)
	}

	h.clock.Advance(30 * time.Second)
	_, err := h.issue(t, p, SignIn)
	wantLimit(t, "Issue after 30s", err, LimitCooldown, t0.Add(DefaultResendCooldown), h.clock.Now())

	h.clock.Advance(30 * time.Second)
	iss, second := h.mustIssue(t, p, SignIn)
	if iss.AttemptsLeft != DefaultMaxAttempts-1 {
		t.Errorf("resend Issued.AttemptsLeft = %d, want %d (resend keeps failures)", iss.AttemptsLeft, DefaultMaxAttempts-1)
	}
	if first != second {
		if err := h.verify(p, SignIn, first); !errors.Is(err, ErrCodeMismatch) {
			t.Errorf("Verify(replaced code): %v, want ErrCodeMismatch", err)
		}
	}
	if err := h.verify(p, SignIn, second); err != nil {
		t.Errorf("Verify(new code): %v", err)
	}
}

func TestIssueDefiniteSendFailureLiftsCooldown(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.PhoneHourly = 1
		c.Limits.ClientHourly = 3
	})
	p := h.phone(t, "13800138000")
	h.sender.failNext(&SendError{Provider: "test", Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent, Code: "Bad"},
		&SendError{Provider: "test", Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent, Code: "Bad"})

	for i := range 2 {
		_, err := h.issue(t, p, SignIn)
		var se *SendError
		if !errors.As(err, &se) || !errors.Is(err, ErrSendFailed) {
			t.Fatalf("Issue #%d with failing sender: %v, want *SendError", i, err)
		}
		if se.Reason != ReasonInvalidNumber || se.Code != "Bad" || se.Provider != "test" {
			t.Errorf("Issue #%d: SendError %+v, want the sender's reason, code and provider", i, se)
		}
		if !se.RetryAt.Equal(h.clock.Now()) {
			t.Errorf("Issue #%d: SendError.RetryAt %s, want now %s", i, se.RetryAt, h.clock.Now())
		}
	}
	// The phone counter (max 1) was refunded twice, so this send fits.
	_, code := h.mustIssue(t, p, SignIn)
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify after failed sends: %v", err)
	}
	// The client counter (max 3) was not refunded.
	_, err := h.issue(t, h.phone(t, "13900139000"), SignIn)
	wantLimit(t, "Issue(4th from client)", err, LimitClientHourly, t0.Add(time.Hour), h.clock.Now())
	if n := h.sender.callCount(); n != 3 {
		t.Errorf("sender called %d times, want 3 (no retries)", n)
	}
}

func TestIssueUnknownSendOutcomeKeepsCooldown(t *testing.T) {
	for _, sendErr := range []error{
		&SendError{Provider: "test", Reason: ReasonUnavailable, Outcome: OutcomeUnknown, Err: context.DeadlineExceeded},
		errors.New("sender without SendError"),
	} {
		h := newHarness(t, nil)
		p := h.phone(t, "13800138000")
		h.sender.failNext(sendErr)
		_, err := h.issue(t, p, SignIn)
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("Issue with sender error %v: %v, want *SendError", sendErr, err)
		}
		if se.Outcome != OutcomeUnknown {
			t.Errorf("Issue with sender error %v: Outcome %s, want unknown", sendErr, se.Outcome)
		}
		if !se.RetryAt.Equal(t0.Add(DefaultResendCooldown)) {
			t.Errorf("Issue with sender error %v: RetryAt %s, want end of cooldown", sendErr, se.RetryAt)
		}
		if !errors.Is(err, sendErr) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Issue: error %v does not wrap the sender's error", err)
		}
		_, err = h.issue(t, p, SignIn)
		wantLimit(t, "Issue after unknown outcome", err, LimitCooldown, t0.Add(DefaultResendCooldown), h.clock.Now())
		if n := h.sender.callCount(); n != 1 {
			t.Errorf("sender called %d times, want 1 (no retry)", n)
		}
	}
}

func TestIssueReleaseFailureKeepsCooldown(t *testing.T) {
	spy := newSpyStore(t)
	spy.releaseErr = errors.New("connection reset")
	h := newHarness(t, func(c *Config) { c.Store = spy })
	p := h.phone(t, "13800138000")
	h.sender.failNext(&SendError{Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent})
	_, err := h.issue(t, p, SignIn)
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("Issue: %v, want *SendError", err)
	}
	if !se.RetryAt.Equal(t0.Add(DefaultResendCooldown)) {
		t.Errorf("SendError.RetryAt after failed release = %s, want end of cooldown", se.RetryAt)
	}
	if spy.releases != 1 {
		t.Errorf("Release called %d times, want 1", spy.releases)
	}
	if !strings.Contains(h.logs.String(), "connection reset") {
		t.Errorf("logs lack the release error: %s", h.logs.String())
	}
}

func TestIssueStoreErrorIsNotARefusal(t *testing.T) {
	storeErr := errors.New("store offline")
	spy := newSpyStore(t)
	spy.reserveErr = storeErr
	h := newHarness(t, func(c *Config) { c.Store = spy })
	p := h.phone(t, "13800138000")
	_, err := h.issue(t, p, SignIn)
	if !errors.Is(err, storeErr) {
		t.Fatalf("Issue with failing store: %v, want it to wrap the store error", err)
	}
	if errors.Is(err, ErrRateLimited) {
		t.Errorf("Issue with failing store: %v reads as a rate limit", err)
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times after store error, want 0", n)
	}

	spy.reserveErr = nil
	_, code := h.mustIssue(t, p, SignIn)
	spy.verifyErr = storeErr
	err = h.verify(p, SignIn, code)
	if !errors.Is(err, storeErr) || errors.Is(err, ErrNoCode) || errors.Is(err, ErrCodeMismatch) {
		t.Errorf("Verify with failing store: %v, want only the wrapped store error", err)
	}
	spy.verifyErr = nil
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify after store recovered: %v", err)
	}
}

func TestIssueStoreFull(t *testing.T) {
	m, err := store.NewMemory(store.MemoryOptions{MaxEntries: 7})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Store = m })
	h.mustIssue(t, h.phone(t, "13800138000"), SignIn) // 1 challenge + 6 counters
	_, err = h.issue(t, h.phone(t, "13900139000"), SignIn)
	if !errors.Is(err, store.ErrFull) {
		t.Errorf("Issue on full store: %v, want store.ErrFull", err)
	}
}

func TestIssuePhoneLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.PhoneHourly = 2
		c.Limits.PhoneDaily = 3
	})
	p := h.phone(t, "13800138000")
	h.mustIssue(t, p, SignIn)
	h.mustIssue(t, p, Register) // the phone counter spans purposes
	_, err := h.issue(t, p, ForgotPassword)
	wantLimit(t, "Issue(3rd in hour)", err, LimitPhoneHourly, t0.Add(time.Hour), h.clock.Now())

	h.clock.Advance(time.Hour)
	h.mustIssue(t, p, SignIn)
	h.clock.Advance(time.Hour)
	_, err = h.issue(t, p, Register)
	wantLimit(t, "Issue(4th in day)", err, LimitPhoneDaily, t0.Add(24*time.Hour), h.clock.Now())
}

func TestIssueClientLimitGroupsIPv6(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.ClientHourly = 2 })
	issueFrom := func(phone, ip string) error {
		_, err := h.svc.Issue(context.Background(), IssueRequest{
			Phone: h.phone(t, phone), Purpose: SignIn, ClientIP: netip.MustParseAddr(ip)})
		return err
	}
	if err := issueFrom("13800138000", "2001:db8:1:2::1"); err != nil {
		t.Fatal(err)
	}
	if err := issueFrom("13900139000", "2001:db8:1:2:ffff::99"); err != nil {
		t.Fatal(err)
	}
	err := issueFrom("13700137000", "2001:db8:1:2:abcd::1")
	wantLimit(t, "Issue(3rd from one /64)", err, LimitClientHourly, t0.Add(time.Hour), h.clock.Now())
	if err := issueFrom("13700137000", "2001:db8:1:3::1"); err != nil {
		t.Errorf("Issue(from another /64): %v", err)
	}

	if err := issueFrom("13600136000", "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	if err := issueFrom("13500135000", "::ffff:198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	err = issueFrom("13300133000", "198.51.100.7")
	wantLimit(t, "Issue(IPv4 after IPv4-mapped)", err, LimitClientHourly, t0.Add(time.Hour), h.clock.Now())
	if err := issueFrom("13300133000", "198.51.100.8"); err != nil {
		t.Errorf("Issue(from neighbouring IPv4): %v", err)
	}
}

func TestIssuePrefixLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.PrefixHourly = 3
		c.Limits.ClientHourly = 100
	})
	for i := range 3 {
		h.mustIssue(t, h.phone(t, fmt.Sprintf("1380013800%d", i)), SignIn)
	}
	// 13800138999 shares all digits but the last three.
	_, err := h.issue(t, h.phone(t, "13800138999"), SignIn)
	wantLimit(t, "Issue(4th in prefix)", err, LimitPrefixHourly, t0.Add(time.Hour), h.clock.Now())
	h.mustIssue(t, h.phone(t, "13800139000"), SignIn)
}

func TestIssueCountryLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AllowedRegions = []string{"CN", "HK"}
		c.Limits.CountryHourly = 1
		c.Limits.CountryHourlyByRegion = map[string]int{"cn": 2}
		c.Limits.ClientHourly = 100
	})
	h.mustIssue(t, h.phone(t, "+85251234567"), SignIn)
	_, err := h.issue(t, h.phone(t, "+85261234567"), SignIn)
	wantLimit(t, "Issue(2nd to HK)", err, LimitCountryHourly, t0.Add(time.Hour), h.clock.Now())

	h.mustIssue(t, h.phone(t, "13800138000"), SignIn)
	h.mustIssue(t, h.phone(t, "13900139000"), SignIn)
	_, err = h.issue(t, h.phone(t, "13700137000"), SignIn)
	wantLimit(t, "Issue(3rd to CN)", err, LimitCountryHourly, t0.Add(time.Hour), h.clock.Now())
	if !strings.Contains(h.logs.String(), `"msg":"otp: send limit reached"`) {
		t.Errorf("logs lack a warning for the country limit: %s", h.logs.String())
	}
}

func TestIssueGlobalBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.GlobalDaily = 3
		c.Limits.ClientHourly = 100
	})
	for _, n := range []string{"13800138000", "13900139000", "13700137000"} {
		h.mustIssue(t, h.phone(t, n), SignIn)
	}
	h.clock.Advance(5 * time.Hour)
	_, err := h.issue(t, h.phone(t, "13600136000"), SignIn)
	wantLimit(t, "Issue(over budget)", err, LimitGlobalDaily, t0.Add(24*time.Hour), h.clock.Now())
	h.clock.Advance(19 * time.Hour)
	h.mustIssue(t, h.phone(t, "13600136000"), SignIn)
}

func TestClientLimitLogged(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.ClientHourly = 1 })
	h.mustIssue(t, h.phone(t, "13800138000"), SignIn)
	for i := range 3 {
		_, err := h.issue(t, h.phone(t, fmt.Sprintf("1390013900%d", i)), SignIn)
		wantLimit(t, "Issue(over the client limit)", err, LimitClientHourly, t0.Add(time.Hour), h.clock.Now())
	}
	logs := h.logs.String()
	if n := strings.Count(logs, `"level":"INFO","msg":"otp: send limit reached"`); n != 1 {
		t.Errorf("3 client-limit refusals within a minute logged %d INFO lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"limit":"client-hourly"`) {
		t.Errorf("the log line does not name the limit:\n%s", logs)
	}
}

func TestWarningsAreRateLimited(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.GlobalDaily = 1
		c.Limits.ClientHourly = 100
		c.Limits.PrefixHourly = 100
	})
	h.mustIssue(t, h.phone(t, "13800138000"), SignIn)
	for i := range 5 {
		h.issue(t, h.phone(t, fmt.Sprintf("1390013900%d", i)), SignIn)
	}
	if n := strings.Count(h.logs.String(), `"msg":"otp: send limit reached"`); n != 1 {
		t.Errorf("5 budget refusals within a minute logged %d warnings, want 1", n)
	}
	h.clock.Advance(time.Minute)
	h.issue(t, h.phone(t, "13700137000"), SignIn)
	if !strings.Contains(h.logs.String(), `"suppressed_since_last":4`) {
		t.Errorf("second warning lacks suppressed_since_last 4: %s", h.logs.String())
	}
}

func TestIssueRegionAllowList(t *testing.T) {
	h := newHarness(t, nil)
	uk, err := ParsePhone("+447400123456", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.issue(t, uk, SignIn)
	var pe *PhoneError
	if !errors.As(err, &pe) || !errors.Is(err, ErrRegionNotAllowed) || pe.Region != "GB" {
		t.Errorf("Issue(GB number, CN allowed): %v, want *PhoneError for region GB", err)
	}
	if _, err := h.svc.ParsePhone("+447400123456"); !errors.Is(err, ErrRegionNotAllowed) {
		t.Errorf("Service.ParsePhone(GB number): %v, want ErrRegionNotAllowed", err)
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times, want 0", n)
	}

	all := newHarness(t, func(c *Config) { c.AllowAllRegions = true })
	all.mustIssue(t, uk, SignIn)
}

func TestIssueRejectsBadRequests(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Purposes = []Purpose{SignIn} })
	p := h.phone(t, "13800138000")
	ctx := context.Background()
	tests := []struct {
		name string
		req  IssueRequest
		want error
	}{
		{"disabled purpose", IssueRequest{Phone: p, Purpose: Register, ClientIP: clientIP}, ErrInvalidPurpose},
		{"unknown purpose", IssueRequest{Phone: p, Purpose: "Login", ClientIP: clientIP}, ErrInvalidPurpose},
		{"zero phone", IssueRequest{Purpose: SignIn, ClientIP: clientIP}, ErrInvalidPhone},
		{"no client IP", IssueRequest{Phone: p, Purpose: SignIn}, ErrMissingClientIP},
	}
	for _, tt := range tests {
		if _, err := h.svc.Issue(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("Issue(%s): %v, want %v", tt.name, err, tt.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.svc.Issue(cancelled, IssueRequest{Phone: p, Purpose: SignIn, ClientIP: clientIP}); !errors.Is(err, context.Canceled) {
		t.Errorf("Issue(cancelled context): %v, want context.Canceled", err)
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times, want 0", n)
	}
	if err := h.verify(p, Register, "123456"); !errors.Is(err, ErrInvalidPurpose) {
		t.Errorf("Verify(disabled purpose): %v, want ErrInvalidPurpose", err)
	}
	if err := h.verify(Phone{}, SignIn, "123456"); !errors.Is(err, ErrInvalidPhone) {
		t.Errorf("Verify(zero phone): %v, want ErrInvalidPhone", err)
	}
}

func TestLogsNeverContainCodeOrPhone(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	h.verify(p, SignIn, wrongCode(code))
	h.verify(p, SignIn, code)
	h.verify(p, SignIn, code)
	h.clock.Advance(time.Minute)
	h.sender.failNext(&SendError{Provider: "test", Reason: ReasonMisconfigured, Outcome: OutcomeNotSent})
	h.issue(t, p, SignIn)
	h.issue(t, p, SignIn)

	logs := h.logs.String()
	for _, secret := range []string{code, "13800138000", string(testKey)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "+86*******8000") {
		t.Errorf("logs lack the masked phone +86*******8000:\n%s", logs)
	}
}

func TestConcurrentVerify(t *testing.T) {
	const n = 50
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)

	run := func(code string) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = h.verify(p, SignIn, code) })
		}
		wg.Wait()
		return errs
	}

	ok, noCode := 0, 0
	for _, err := range run(code) {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrNoCode):
			noCode++
		default:
			t.Errorf("parallel Verify(right code): unexpected error %v", err)
		}
	}
	if ok != 1 || noCode != n-1 {
		t.Errorf("%d parallel Verify(right code): %d succeeded, %d no code; want 1 and %d", n, ok, noCode, n-1)
	}

	h.clock.Advance(time.Minute)
	_, code = h.mustIssue(t, p, SignIn)
	mismatch, burnt := 0, 0
	for _, err := range run(wrongCode(code)) {
		switch {
		case errors.Is(err, ErrCodeMismatch):
			mismatch++
		case errors.Is(err, ErrTooManyAttempts):
			burnt++
		default:
			t.Errorf("parallel Verify(wrong code): unexpected error %v", err)
		}
	}
	if mismatch != DefaultMaxAttempts || burnt != n-DefaultMaxAttempts {
		t.Errorf("%d parallel Verify(wrong code): %d counted, %d burnt; want %d and %d",
			n, mismatch, burnt, DefaultMaxAttempts, n-DefaultMaxAttempts)
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&LimitError{Limit: LimitCooldown, RetryAfter: 42 * time.Second}, "otp: rate limited by cooldown limit, retry after 42s"},
		{&VerifyError{Err: ErrCodeMismatch, AttemptsLeft: 3}, "otp: wrong code, 3 attempts left"},
		{&VerifyError{Err: ErrTooManyAttempts, RetryAt: t0, RetryAfter: time.Minute}, "otp: too many wrong attempts, new code available after 1m0s"},
		{&VerifyError{Err: ErrNoCode}, "otp: no pending code"},
		{&PhoneError{Err: ErrNotMobile, Region: "GB", NumberType: "premium-rate"}, "otp: not a mobile number: premium-rate number of region GB"},
		{&PhoneError{Err: ErrRegionNotAllowed, Region: "FR"}, "otp: region not allowed: FR"},
		{&SendError{Provider: "tencent", Reason: ReasonRateLimited, Outcome: OutcomeNotSent,
			Code: "LimitExceeded.PhoneNumberDailyLimit", RequestID: "req-1", Message: "daily limit"},
			"otp: send via tencent failed: rate limited by provider (not sent, code LimitExceeded.PhoneNumberDailyLimit, request ID req-1): daily limit"},
		{&SendError{Reason: ReasonUnavailable, Err: context.DeadlineExceeded},
			"otp: send failed: provider unavailable (outcome unknown): context deadline exceeded"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	se := &SendError{Err: context.DeadlineExceeded}
	if !errors.Is(se, ErrSendFailed) || !errors.Is(se, context.DeadlineExceeded) {
		t.Errorf("SendError does not wrap ErrSendFailed and Err")
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	tests := []struct {
		d, want time.Duration
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, time.Second}, {time.Second, time.Second},
		{1500 * time.Millisecond, 2 * time.Second}, {time.Hour, time.Hour},
	}
	for _, tt := range tests {
		if got := retryAfter(t0.Add(tt.d), t0); got != tt.want {
			t.Errorf("retryAfter(now+%s, now) = %s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestMessageHidesCode(t *testing.T) {
	m := Message{Phone: "+8613800138000", Code: "123456", Purpose: SignIn, Locale: "zh-Hans"}
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%s", m), m.LogValue().String()} {
		if strings.Contains(s, "123456") || strings.Contains(s, "13800138000") {
			t.Errorf("formatted Message %q contains the code or the full phone", s)
		}
	}
}

func TestServiceRegionsAndParsePhoneIn(t *testing.T) {
	s, err := New(Config{Sender: NewConsoleSender(io.Discard), InsecureDevelopmentKey: true,
		DefaultRegion: "CN", AllowedRegions: []string{"US", "cn"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Regions(); !slices.Equal(got, []string{"CN", "US"}) {
		t.Errorf("Regions() = %v, want [CN US]", got)
	}
	if s.DefaultRegion() != "CN" {
		t.Errorf("DefaultRegion() = %q, want CN", s.DefaultRegion())
	}
	p, err := s.ParsePhoneIn("(415) 555-2671", "us")
	if err != nil || p.E164() != "+14155552671" {
		t.Errorf("ParsePhoneIn(US national) = %v, %v; want +14155552671", p.E164(), err)
	}
	if p, err := s.ParsePhoneIn("+86 138 0013 8000", "US"); err != nil || p.Region() != "CN" {
		t.Errorf("ParsePhoneIn(international, other region chosen) = %v, %v; want the CN number", p.E164(), err)
	}
	for _, region := range []string{"GB", "XX", "../"} {
		if _, err := s.ParsePhoneIn("7911 123456", region); !errors.Is(err, ErrRegionNotAllowed) {
			t.Errorf("ParsePhoneIn with region %q = %v, want ErrRegionNotAllowed", region, err)
		}
	}
	if _, err := s.ParsePhoneIn("+44 7911 123456", "US"); !errors.Is(err, ErrRegionNotAllowed) {
		t.Errorf("ParsePhoneIn(GB number, US chosen) = %v, want ErrRegionNotAllowed", err)
	}
	if CountryCallingCode("cn") != 86 || CountryCallingCode("XX") != 0 {
		t.Errorf("CountryCallingCode(cn, XX) = %d, %d; want 86, 0", CountryCallingCode("cn"), CountryCallingCode("XX"))
	}
}
