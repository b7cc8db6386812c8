package otp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/store"
)

// seeded returns a random source for Service.random whose codes are fixed
// by seed, so that a test can rely on two codes of a run differing.
func seeded(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// replicas returns two Services that share one memory store, as two
// instances of a site share a backend, with the same key, clock and
// sender.
func replicas(t *testing.T, edit func(*Config)) (a, b *Service, h *harness) {
	t.Helper()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shared := func(c *Config) {
		c.Store = m
		if edit != nil {
			edit(c)
		}
	}
	h = newHarness(t, shared)
	h.svc.random = seeded(1)
	cfg := Config{Key: testKey, Sender: h.sender, DefaultRegion: "CN", Logger: h.svc.logger, Now: h.clock.Now}
	shared(&cfg)
	b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.random = seeded(2)
	return h.svc, b, h
}

func issueOn(s *Service, p Phone, purpose Purpose, ip string) (Issued, error) {
	return s.Issue(context.Background(), IssueRequest{Phone: p, Purpose: purpose, ClientIP: netip.MustParseAddr(ip)})
}

func verifyOn(s *Service, p Phone, purpose Purpose, code string) error {
	return s.Verify(context.Background(), VerifyRequest{Phone: p, Purpose: purpose, Code: code})
}

func TestAttackCodeReuse(t *testing.T) {
	tests := []struct {
		name  string
		reuse func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error
		want  error
	}{
		{"same replica", func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error {
			return verifyOn(a, p, SignIn, code)
		}, ErrNoCode},
		{"other replica", func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error {
			return verifyOn(b, p, SignIn, code)
		}, ErrNoCode},
		{"other purpose", func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error {
			return verifyOn(a, p, Register, code)
		}, ErrNoCode},
		{"after a new code", func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error {
			if _, err := issueOn(a, p, SignIn, "192.0.2.99"); err != nil {
				t.Fatalf("Issue after a verified code: %v", err)
			}
			return verifyOn(a, p, SignIn, code)
		}, ErrCodeMismatch},
		{"after expiry", func(t *testing.T, a, b *Service, h *harness, p Phone, code string) error {
			h.clock.Advance(DefaultCodeTTL)
			return verifyOn(b, p, SignIn, code)
		}, ErrNoCode},
	}
	for _, tt := range tests {
		a, b, h := replicas(t, nil)
		p := h.phone(t, "13800138000")
		_, code := h.mustIssue(t, p, SignIn)
		if err := verifyOn(a, p, SignIn, code); err != nil {
			t.Fatalf("%s: first Verify: %v", tt.name, err)
		}
		if err := tt.reuse(t, a, b, h, p, code); !errors.Is(err, tt.want) {
			t.Errorf("reuse %s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestAttackCodeBoundToPhoneAndPurpose(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowedRegions = []string{"CN", "HK"} })
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	tests := []struct {
		phone   string
		purpose Purpose
	}{
		{"13800138001", SignIn},
		{"13800137999", SignIn},
		{"13900138000", SignIn},
		{"+85251380013", SignIn},
		{"13800138000", Register},
		{"13800138000", ForgotPassword},
		{"13800138000", Generic},
	}
	for _, tt := range tests {
		for range DefaultMaxAttempts + 1 {
			err := h.verify(h.phone(t, tt.phone), tt.purpose, code)
			if !errors.Is(err, ErrNoCode) {
				t.Fatalf("Verify(%s, %s, code of +8613800138000 SignIn) = %v, want ErrNoCode", tt.phone, tt.purpose, err)
			}
		}
	}
	// None of those took an attempt from the real code.
	var ve *VerifyError
	if err := h.verify(p, SignIn, wrongCode(code)); !errors.As(err, &ve) || ve.AttemptsLeft != DefaultMaxAttempts-1 {
		t.Fatalf("Verify(own phone, wrong code) = %v, want a mismatch with %d attempts left", err, DefaultMaxAttempts-1)
	}
	if err := h.verify(p, SignIn, code); err != nil {
		t.Errorf("Verify(own phone and purpose) = %v, want nil", err)
	}
}

func TestAttackResendInvalidatesOldCode(t *testing.T) {
	for _, on := range []string{"same replica", "other replica"} {
		a, b, h := replicas(t, nil)
		p := h.phone(t, "13800138000")
		_, first := h.mustIssue(t, p, SignIn)
		h.clock.Advance(DefaultResendCooldown)
		resender := a
		if on == "other replica" {
			resender = b
		}
		if _, err := issueOn(resender, p, SignIn, "198.51.100.1"); err != nil {
			t.Fatalf("%s: resend: %v", on, err)
		}
		second := h.sender.last(t).Code
		if first == second {
			t.Fatalf("%s: seeded sources gave the same code %s twice", on, first)
		}
		var ve *VerifyError
		if err := verifyOn(b, p, SignIn, first); !errors.As(err, &ve) || !errors.Is(err, ErrCodeMismatch) {
			t.Errorf("%s: Verify(replaced code) = %v, want ErrCodeMismatch", on, err)
		} else if ve.AttemptsLeft != DefaultMaxAttempts-1 {
			t.Errorf("%s: Verify(replaced code) left %d attempts, want %d: it counts as a wrong guess", on, ve.AttemptsLeft, DefaultMaxAttempts-1)
		}
		if err := verifyOn(a, p, SignIn, second); err != nil {
			t.Errorf("%s: Verify(new code) = %v, want nil", on, err)
		}
	}
}

func TestAttackResendKeepsFailures(t *testing.T) {
	for failed := range DefaultMaxAttempts {
		a, b, h := replicas(t, nil)
		p := h.phone(t, "13800138000")
		_, code := h.mustIssue(t, p, SignIn)
		for range failed {
			verifyOn(a, p, SignIn, wrongCode(code))
		}
		h.clock.Advance(DefaultResendCooldown)
		iss, err := issueOn(b, p, SignIn, "203.0.113.7")
		if err != nil {
			t.Fatalf("resend after %d failures: %v", failed, err)
		}
		left := DefaultMaxAttempts - failed
		if iss.AttemptsLeft != left {
			t.Errorf("resend after %d failures: AttemptsLeft %d, want %d", failed, iss.AttemptsLeft, left)
		}
		code = h.sender.last(t).Code
		for i := range left {
			var ve *VerifyError
			err := verifyOn([]*Service{a, b}[i%2], p, SignIn, wrongCode(code))
			if !errors.As(err, &ve) || ve.AttemptsLeft != left-1-i {
				t.Fatalf("after %d failures, resend, wrong code #%d: %v, want %d attempts left", failed, i+1, err, left-1-i)
			}
		}
		if err := verifyOn(a, p, SignIn, code); !errors.Is(err, ErrTooManyAttempts) {
			t.Errorf("after %d failures: right code once burnt = %v, want ErrTooManyAttempts", failed, err)
		}
		// Neither another replica nor another client can lift the burn.
		h.clock.Advance(DefaultResendCooldown)
		for _, s := range []*Service{a, b} {
			_, err := issueOn(s, p, SignIn, "2001:db8:ffff::1")
			expiry := t0.Add(DefaultResendCooldown + DefaultCodeTTL) // of the resent code
			wantLimit(t, "Issue while burnt", err, LimitAttempts, expiry, h.clock.Now())
		}
	}
}

func TestAttackBruteForceManyClients(t *testing.T) {
	a, b, h := replicas(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)

	// The attacker requests fresh codes from 200 addresses and guesses
	// through both replicas. No address and no replica resets attempts.
	mismatches, burnt := 0, 0
	for i := range 1000 {
		if i%5 == 0 {
			ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}).String()
			if _, err := issueOn([]*Service{a, b}[i%2], p, SignIn, ip); !errors.Is(err, ErrRateLimited) {
				t.Fatalf("Issue from client %s during the attack = %v, want a limit", ip, err)
			}
		}
		guess := fmt.Sprintf("%06d", i)
		if guess == code {
			continue // the attacker cannot know it; skip to bound the count
		}
		switch err := verifyOn([]*Service{a, b}[i%2], p, SignIn, guess); {
		case errors.Is(err, ErrCodeMismatch):
			mismatches++
		case errors.Is(err, ErrTooManyAttempts):
			burnt++
		default:
			t.Fatalf("guess %s: %v", guess, err)
		}
	}
	if mismatches != DefaultMaxAttempts {
		t.Errorf("1000 guesses checked %d against the code, want %d", mismatches, DefaultMaxAttempts)
	}
	if err := verifyOn(b, p, SignIn, code); !errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("right code after the attack = %v, want ErrTooManyAttempts", err)
	}
}

func TestAttackBruteForceConcurrent(t *testing.T) {
	const goroutines = 50
	a, b, h := replicas(t, nil)
	p := h.phone(t, "13800138000")
	_, code := h.mustIssue(t, p, SignIn)
	errs := make([]error, goroutines*4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			guess := fmt.Sprintf("%06d", i)
			if guess == code {
				guess = wrongCode(code)
			}
			errs[i] = verifyOn([]*Service{a, b}[i%2], p, SignIn, guess)
		})
	}
	wg.Wait()
	mismatches := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, ErrCodeMismatch):
			mismatches++
		case errors.Is(err, ErrTooManyAttempts):
		default:
			t.Errorf("concurrent guess #%d: %v", i, err)
		}
	}
	if mismatches != DefaultMaxAttempts {
		t.Errorf("%d concurrent guesses on 2 replicas checked %d against the code, want %d", len(errs), mismatches, DefaultMaxAttempts)
	}
}

// TestAttackGuessBudgetPerDay plays an attacker who, for one day,
// requests a code whenever a limit allows it and spends every attempt. The
// number of guesses checked against a code is bounded by
// Limits.PhoneDaily times Limits.MaxAttempts, whatever the purposes and
// client addresses used.
func TestAttackGuessBudgetPerDay(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	purposes := Purposes()
	checked, issued := 0, 0
	for i := 0; h.clock.Now().Before(t0.Add(24 * time.Hour)); i++ {
		purpose := purposes[i%len(purposes)]
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()
		_, err := issueOn(h.svc, p, purpose, ip)
		var le *LimitError
		switch {
		case errors.As(err, &le):
			h.clock.Advance(max(le.RetryAfter, time.Second))
			continue
		case err != nil:
			t.Fatalf("Issue #%d: %v", i, err)
		}
		issued++
		code := h.sender.last(t).Code
		for {
			err := h.verify(p, purpose, wrongCode(code))
			if !errors.Is(err, ErrCodeMismatch) {
				break
			}
			checked++
		}
	}
	if issued != DefaultPhoneDaily {
		t.Errorf("codes issued to one number in a day: %d, want Limits.PhoneDaily = %d", issued, DefaultPhoneDaily)
	}
	if limit := DefaultPhoneDaily * DefaultMaxAttempts; checked != limit {
		t.Errorf("guesses checked against codes of one number in a day: %d, want PhoneDaily*MaxAttempts = %d", checked, limit)
	}
}

func TestAttackFormatVariantsShareState(t *testing.T) {
	groups := []struct {
		want     string
		variants []string
	}{
		{"+8613800138000", []string{
			"13800138000", "+8613800138000", "+86 138 0013 8000", "+86-138-0013-8000", "(+86) 138-0013-8000",
			"0086 138 0013 8000", "008613800138000", "＋８６ １３８ ００１３ ８０００", "１３８００１３８０００",
			"86 138 0013 8000", "138.0013.8000", "\t+86\u00a0138\u30000013\u20138000 ", "+86（138）0013－8000",
		}},
		{"+447400123456", []string{
			"+44 7400 123456", "+44 (0)7400 123456", "0044 7400 123456", "+447400123456", "+44-7400-123-456",
		}},
	}
	for _, g := range groups {
		h := newHarness(t, func(c *Config) {
			c.AllowedRegions = []string{"CN", "GB"}
			c.Limits.PhoneHourly = 3
			c.Limits.ResendCooldown = time.Second
		})
		phones := make([]Phone, len(g.variants))
		for i, v := range g.variants {
			p, err := h.svc.ParsePhone(v)
			if err != nil {
				t.Fatalf("ParsePhone(%q): %v", v, err)
			}
			if p.E164() != g.want || p != phones[0] && i > 0 {
				t.Errorf("ParsePhone(%q) = %s, want %s", v, p.E164(), g.want)
			}
			phones[i] = p
		}
		_, code := h.mustIssue(t, phones[0], SignIn)
		for i, p := range phones[1:] {
			_, err := h.issue(t, p, SignIn)
			wantLimit(t, fmt.Sprintf("Issue(%q) in the cooldown of %q", g.variants[i+1], g.variants[0]), err, LimitCooldown, t0.Add(time.Second), h.clock.Now())
		}
		// Wrong guesses through different spellings share one count.
		for i := range DefaultMaxAttempts - 1 {
			var ve *VerifyError
			err := h.verify(phones[(i+1)%len(phones)], SignIn, wrongCode(code))
			if !errors.As(err, &ve) || ve.AttemptsLeft != DefaultMaxAttempts-1-i {
				t.Fatalf("wrong guess #%d through %q: %v, want %d attempts left", i+1, g.variants[(i+1)%len(phones)], err, DefaultMaxAttempts-1-i)
			}
		}
		if err := h.verify(phones[len(phones)-1], SignIn, code); err != nil {
			t.Errorf("Verify(right code through %q) = %v", g.variants[len(phones)-1], err)
		}
		// The per-number limit counts every spelling.
		for i := 1; i < 3; i++ {
			h.clock.Advance(time.Second)
			h.mustIssue(t, phones[i], Purposes()[i])
		}
		h.clock.Advance(time.Second)
		_, err := h.issue(t, phones[3], Generic)
		wantLimit(t, fmt.Sprintf("Issue(%q), 4th in the hour", g.variants[3]), err, LimitPhoneHourly, t0.Add(time.Hour), h.clock.Now())
	}
}

func TestAttackRecipientInjection(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowAllRegions = true })
	inputs := []string{
		"+8613800138000,+14155552671",
		"+8613800138000;+14155552671",
		"+8613800138000\n+14155552671",
		"+8613800138000\r\n",
		"+8613800138000\x00",
		"+8613800138000 +14155552671",
		"+8613800138000/+14155552671",
		"13800138000|13900139000",
		"+8613800138000&to=+14155552671",
		"+8613800138000+",
		"+86+13800138000",
		"%2B8613800138000",
		"tel:+8613800138000",
		"sms:+8613800138000",
		"+86138001380\u202e00",
		"\u2066+8613800138000\u2069",
		"+86\u200f13800138000",
		"+86\u200b13800138000",
		"+86\u00ad13800138000",
		"+86\ufeff13800138000",
		"+86\u2028138 0013 8000",
		"١٣٨٠٠١٣٨٠٠٠",
		"۱۳۸۰۰۱۳۸۰۰۰",
		"१३८००१३८०००",
		"๑๓๘๐๐๑๓๘๐๐๐",
		"𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎",
		"¹³⁸⁰⁰¹³⁸⁰⁰⁰",
		"①③⑧⓪⓪①③⑧⓪⓪⓪",
		"+86 138 0013 8000 ext. 1",
		"+86 138 0013 8000 x1",
		"+86 138 0013 8000#1",
		"+86 138 0013 8000*",
		"+86 138 0013 8000 1415 555 2671",
		"+86 138 0013 8000 {1}",
		"+86 138 0013 8000\xff",
	}
	for _, in := range inputs {
		for _, region := range []string{"", "CN"} {
			p, err := h.svc.ParsePhoneIn(in, region)
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Errorf("ParsePhoneIn(%q, %q) = %s, %v; want a *PhoneError", in, region, p.E164(), err)
				continue
			}
			msg := err.Error()
			if strings.Contains(msg, "13800138000") || strings.ContainsFunc(msg, isUnsafeRune) {
				t.Errorf("ParsePhoneIn(%q, %q): error %q repeats the input", in, region, msg)
			}
		}
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times, want 0", n)
	}
}

var (
	hexRunRE = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
	codeRE   = regexp.MustCompile(`^[0-9]{6}$`)
	e164RE   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

func TestAttackMessageCarriesOnlyCodeAndNumber(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits = roomyLimits()
		c.Limits.ResendCooldown = time.Second
	})
	h.svc.random = seeded(3)
	locales := []struct{ in, want string }{
		{"zh-Hans", "zh-Hans"},
		{"en-US", "en-US"},
		{"zh-Hant-TW", "zh-Hant-TW"},
		{"", ""},
		{"zh-Hans\n+8613800138000 code 123456", ""},
		{"{1}", ""},
		{"en\u202e", ""},
		{"../../etc/passwd", ""},
		{"en US", ""},
		{strings.Repeat("a", 9), ""},
		{"en-" + strings.Repeat("a-", 20) + "b", ""},
	}
	p := h.phone(t, "13800138000")
	for i := range 300 {
		l := locales[i%len(locales)]
		_, err := h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: SignIn, ClientIP: clientIP, Locale: l.in})
		if err != nil {
			t.Fatalf("Issue #%d: %v", i, err)
		}
		m := h.sender.last(t)
		if !codeRE.MatchString(m.Code) {
			t.Errorf("Issue #%d: Message.Code %q, want 6 ASCII digits", i, m.Code)
		}
		if !e164RE.MatchString(m.Phone) || m.Phone != p.E164() {
			t.Errorf("Issue #%d: Message.Phone %q, want %s", i, m.Phone, p.E164())
		}
		if i < len(locales) && m.Locale != l.want {
			t.Errorf("Issue(Locale %q): Message.Locale %q, want %q", l.in, m.Locale, l.want)
		}
		h.clock.Advance(time.Second)
	}
}

func TestAttackKnownAndUnknownNumbersAlike(t *testing.T) {
	spy := newSpyStore(t)
	h := newHarness(t, func(c *Config) { c.Store = spy })
	h.svc.random = seeded(4)
	known, fresh := h.phone(t, "13800138000"), h.phone(t, "13900139000")

	// The known number has a history: a code verified and a failed one.
	_, code := h.mustIssue(t, known, SignIn)
	h.verify(known, SignIn, code)
	h.mustIssue(t, known, Register)
	h.verify(known, Register, "000000")
	h.clock.Advance(DefaultCodeTTL)

	type answer struct {
		err   string
		calls map[string]int
	}
	ask := func(p Phone, do func(Phone) error) answer {
		before := spy.callCounts()
		err := do(p)
		calls := spy.callCounts()
		for k, v := range before {
			calls[k] -= v
		}
		text := "<nil>"
		if err != nil {
			text = fmt.Sprintf("%T %v", err, err)
		}
		return answer{text, calls}
	}
	steps := []struct {
		name string
		do   func(Phone) error
	}{
		{"Verify without a code", func(p Phone) error { return h.verify(p, SignIn, "123456") }},
		{"Verify malformed code", func(p Phone) error { return h.verify(p, SignIn, "12") }},
		{"Issue", func(p Phone) error {
			iss, err := h.issue(t, p, SignIn)
			if err == nil && (!iss.ExpiresAt.Equal(h.clock.Now().Add(DefaultCodeTTL)) || iss.AttemptsLeft != DefaultMaxAttempts) {
				return fmt.Errorf("issued %+v", iss)
			}
			return err
		}},
		{"Issue again", func(p Phone) error { _, err := h.issue(t, p, SignIn); return err }},
		{"Verify wrong code", func(p Phone) error { return h.verify(p, SignIn, "000000") }},
	}
	for _, st := range steps {
		a, b := ask(known, st.do), ask(fresh, st.do)
		if a.err != b.err {
			t.Errorf("%s: known number got %s, unknown number %s; want the same", st.name, a.err, b.err)
		}
		if fmt.Sprint(a.calls) != fmt.Sprint(b.calls) {
			t.Errorf("%s: store calls %v for the known number, %v for the unknown one; want the same work", st.name, a.calls, b.calls)
		}
	}
}

// TestAttackNoPlaintextAtRest records everything that the Service hands
// to its store across the flows that write state, and checks that none
// of it holds a code, the phone number, its prefix or the client address.
func TestAttackNoPlaintextAtRest(t *testing.T) {
	spy := newSpyStore(t)
	h := newHarness(t, func(c *Config) { c.Store = spy })
	p := h.phone(t, "13800138000")
	var codes []string
	ips := []string{"192.0.2.10", "2001:db8:1:2::7"}

	for i, purpose := range Purposes() {
		_, err := h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: purpose, ClientIP: netip.MustParseAddr(ips[i%2])})
		if err != nil {
			t.Fatalf("Issue(%s): %v", purpose, err)
		}
		codes = append(codes, h.sender.last(t).Code)
	}
	h.verify(p, SignIn, wrongCode(codes[1]))
	h.verify(p, SignIn, codes[1])
	h.clock.Advance(DefaultResendCooldown)
	h.sender.failNext(&SendError{Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent})
	h.issue(t, p, Register) // released
	h.sender.failNext(&SendError{Reason: ReasonUnavailable, Outcome: OutcomeUnknown})
	h.issue(t, p, ForgotPassword)

	for _, key := range spy.keys {
		for _, f := range []string{"8613800138000", "13800138000", "0138000", "86138001380", "192.0.2.10", "2001:db8"} {
			if strings.Contains(key, f) {
				t.Errorf("store key %q contains %q", key, f)
			}
		}
		// Pseudonyms are long hexadecimal strings, in which six given
		// digits occur by chance; codes are looked for outside them.
		rest := hexRunRE.ReplaceAllString(key, "<hex>")
		for _, code := range codes {
			if strings.Contains(rest, code) {
				t.Errorf("store key %q contains the code %s", key, code)
			}
		}
	}
	for _, c := range spy.challenges {
		for _, code := range codes {
			if strings.Contains(string(c.MAC), code) {
				t.Errorf("stored MAC %x contains the code %s in ASCII", c.MAC, code)
			}
		}
	}

	// Replicas with the same key agree on every store key; a different key
	// gives different ones, so the keys cannot be looked up without it.
	other := newSpyStore(t)
	again := newHarness(t, func(c *Config) { c.Store = other })
	again.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: Register, ClientIP: netip.MustParseAddr(ips[0])})
	rekeyed := newSpyStore(t)
	differentKey := newHarness(t, func(c *Config) {
		c.Store = rekeyed
		c.Key = []byte(strings.Repeat("q", MinKeyLength))
	})
	differentKey.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: Register, ClientIP: netip.MustParseAddr(ips[0])})
	if len(other.keys) != len(rekeyed.keys) || len(other.keys) > len(spy.keys) {
		t.Fatalf("store keys of one Issue: %d, %d and %d", len(spy.keys), len(other.keys), len(rekeyed.keys))
	}
	for i, key := range other.keys {
		if want := spy.keys[i]; key != want {
			t.Errorf("replica with the same key used store key %q, first one %q", key, want)
		}
		if strings.HasSuffix(key, ":CN") || key == "otp:global-daily" {
			continue // not personal
		}
		if key == rekeyed.keys[i] {
			t.Errorf("replicas with different keys both used store key %q", key)
		}
	}
}
