package otp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// pumpRequest makes the i-th request of an attack: the number to send to
// and the client address it comes from.
type pumpRequest func(i int) (phone, ip string)

// Request patterns of SMS pumping and toll fraud. Numbers in spread()
// fall in separate 1,000-number prefixes, so that the prefix limit stays
// out of the way where a test is about another limit.
var (
	oneClient    = func(i int) string { return "198.51.100.7" }
	manyClients  = func(i int) string { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() }
	sameIPv6Net  = func(i int) string { return fmt.Sprintf("2001:db8:aa:bb:%x::%x", i, i+1) }
	spread       = func(i int) string { return fmt.Sprintf("+86139%04d0%03d", i, i%1000) }
	sequential   = func(i int) string { return fmt.Sprintf("+86138001%05d", i) }
	onePhone     = func(i int) string { return "+8613800138000" }
	twoCountries = func(i int) string {
		if i%2 == 0 {
			return spread(i)
		}
		return fmt.Sprintf("+8525123%04d", i) // Hong Kong mobiles
	}
)

func pattern(phone func(int) string, ip func(int) string) pumpRequest {
	return func(i int) (string, string) { return phone(i), ip(i) }
}

// costLimitTests are the limits on sends, each with the attack it stops.
// A row configures one limit to max, leaves the others out of the way,
// makes 50 requests of its pattern and expects exactly max sends, the
// rest refused by that limit.
var costLimitTests = []struct {
	name    string
	limit   Limit
	set     func(l *Limits)
	attack  pumpRequest
	purpose func(i int) Purpose
}{
	{"one client, many numbers", LimitClientHourly, func(l *Limits) { l.ClientHourly = 7 }, pattern(spread, oneClient), nil},
	{"one IPv6 /64, many addresses", LimitClientHourly, func(l *Limits) { l.ClientHourly = 7 }, pattern(spread, sameIPv6Net), nil},
	{"one number, every purpose", LimitPhoneHourly, func(l *Limits) { l.PhoneHourly = 3 }, pattern(onePhone, manyClients),
		func(i int) Purpose { return Purposes()[i%4] }},
	{"sequential numbers", LimitPrefixHourly, func(l *Limits) { l.PrefixHourly = 7 }, pattern(sequential, manyClients), nil},
	{"one country, spread numbers", LimitCountryHourly, func(l *Limits) { l.CountryHourly = 7 }, pattern(spread, manyClients), nil},
	{"two countries, budget", LimitGlobalDaily, func(l *Limits) { l.GlobalDaily = 7 }, pattern(twoCountries, manyClients), nil},
	{"budget across purposes", LimitGlobalDaily, func(l *Limits) { l.GlobalDaily = 7 }, pattern(spread, manyClients),
		func(i int) Purpose { return Purposes()[i%4] }},
}

// roomyLimits returns limits high enough to stay out of the way of the
// one a test is about.
func roomyLimits() Limits {
	return Limits{PhoneHourly: 1000, PhoneDaily: 1000, ClientHourly: 1000, PrefixHourly: 1000,
		CountryHourly: 1000, GlobalDaily: 1000}
}

func costHarness(t *testing.T, set func(*Limits)) *harness {
	t.Helper()
	return newHarness(t, func(c *Config) {
		c.AllowedRegions = []string{"CN", "HK"}
		c.Limits = roomyLimits()
		set(&c.Limits)
	})
}

// pump makes request i of attack and returns its error.
func (h *harness) pump(t *testing.T, attack pumpRequest, purpose func(int) Purpose, i int) error {
	phone, ip := attack(i)
	p, err := h.svc.ParsePhone(phone)
	if err != nil {
		t.Fatalf("ParsePhone(%s): %v", phone, err)
	}
	pp := SignIn
	if purpose != nil {
		pp = purpose(i)
	}
	_, err = h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: pp, ClientIP: netip.MustParseAddr(ip)})
	return err
}

// countOutcomes returns how many errs are nil and fails on any error other
// than a refusal by want or by the cooldown, which also refuses a second
// code for a number and purpose.
func countOutcomes(t *testing.T, call string, errs []error, want Limit) (sent int) {
	t.Helper()
	for i, err := range errs {
		var le *LimitError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &le) && (le.Limit == want || le.Limit == LimitCooldown):
		default:
			t.Errorf("%s, request #%d: %v, want nil or the %s limit", call, i, err, want)
		}
	}
	return sent
}

func TestAttackCostLimits(t *testing.T) {
	for _, tt := range costLimitTests {
		h := costHarness(t, tt.set)
		errs := make([]error, 50)
		for i := range errs {
			errs[i] = h.pump(t, tt.attack, tt.purpose, i)
		}
		var l Limits
		tt.set(&l)
		want := max(l.ClientHourly, l.PhoneHourly, l.PrefixHourly, l.CountryHourly, l.GlobalDaily)
		if sent := countOutcomes(t, tt.name, errs, tt.limit); sent != want {
			t.Errorf("%s: %d of 50 requests sent, want %d", tt.name, sent, want)
		}
		if n := h.sender.callCount(); n != want {
			t.Errorf("%s: sender called %d times, want %d", tt.name, n, want)
		}
	}
}

func TestAttackCostLimitsConcurrent(t *testing.T) {
	const goroutines = 50
	for _, tt := range costLimitTests {
		h := costHarness(t, tt.set)
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = h.pump(t, tt.attack, tt.purpose, i) })
		}
		wg.Wait()
		var l Limits
		tt.set(&l)
		want := max(l.ClientHourly, l.PhoneHourly, l.PrefixHourly, l.CountryHourly, l.GlobalDaily)
		if sent := countOutcomes(t, tt.name, errs, tt.limit); sent != want {
			t.Errorf("%s: %d of %d racing requests sent, want exactly %d", tt.name, sent, goroutines, want)
		}
		if n := h.sender.callCount(); n != want {
			t.Errorf("%s: sender called %d times, want %d", tt.name, n, want)
		}
	}
}

func TestAttackRefundsUnderConcurrency(t *testing.T) {
	// Every send fails definitely, so every counter but the per-client one
	// is refunded; after 50 racing failures the whole budget is left.
	const goroutines, budget = 50, 10
	h := costHarness(t, func(l *Limits) { l.GlobalDaily = budget })
	h.sender.failNext(func() []error {
		errs := make([]error, goroutines)
		for i := range errs {
			errs[i] = &SendError{Provider: "test", Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent}
		}
		return errs
	}()...)
	attack := pattern(spread, manyClients)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for i := range goroutines {
		wg.Go(func() {
			err := h.pump(t, attack, nil, i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrSendFailed):
				failed++
			case errors.Is(err, ErrRateLimited):
			default:
				t.Errorf("racing request #%d: %v, want a send failure or the budget", i, err)
			}
		})
	}
	wg.Wait()
	if failed < budget {
		t.Errorf("%d racing requests reached the failing sender, want at least the budget %d", failed, budget)
	}
	for i := range budget {
		if err := h.pump(t, attack, nil, 1000+i); err != nil {
			t.Fatalf("send #%d after refunds: %v; refunds lost budget", i+1, err)
		}
	}
	err := h.pump(t, attack, nil, 2000)
	wantLimit(t, "send beyond the budget after refunds", err, LimitGlobalDaily, t0.Add(24*time.Hour), h.clock.Now())
}

func TestAttackSequentialPumping(t *testing.T) {
	// A pumper walks 600 consecutive numbers from as many addresses for
	// two hours. The prefix limit holds each block of 100 numbers to
	// PrefixHourly per hour, and the country limit caps the total.
	h := newHarness(t, func(c *Config) {
		c.Limits.PrefixHourly = 10
		c.Limits.PrefixDigitsDropped = 2
		c.Limits.CountryHourly = 25
	})
	sent := map[string]int{} // by block and hour
	total := 0
	for i := range 600 {
		if i == 300 {
			h.clock.Advance(time.Hour)
		}
		phone := fmt.Sprintf("+8613800138%03d", i)
		err := h.pump(t, pattern(func(int) string { return phone }, manyClients), nil, i)
		var le *LimitError
		switch {
		case err == nil:
			sent[fmt.Sprintf("%sxx at %s", phone[:len(phone)-2], h.clock.Now().Format("15h"))]++
			total++
		case errors.As(err, &le) && (le.Limit == LimitPrefixHourly || le.Limit == LimitCountryHourly):
		default:
			t.Fatalf("pump %s: %v", phone, err)
		}
	}
	for block, n := range sent {
		if n > 10 {
			t.Errorf("block %s received %d codes, want at most PrefixHourly = 10", block, n)
		}
	}
	if total != 2*25 {
		t.Errorf("pumping for two hours sent %d codes, want CountryHourly*2 = 50", total)
	}
}

// costlyNumbers are numbers that must never cost an SMS: types that
// cannot receive one or bill extra, satellite and other international
// networks, unallocated ranges and ranges reserved for fiction.
var costlyNumbers = []struct {
	number, why string
}{
	{"+449012345678", "premium-rate GB"},
	{"+19002345678", "premium-rate US"},
	{"+979123456789", "international premium-rate"},
	{"+864001234567", "shared-cost CN"},
	{"+80812345678", "international shared-cost"},
	{"+448001234567", "toll-free GB"},
	{"+18002345678", "toll-free US"},
	{"+80012345678", "international toll-free"},
	{"+445512345678", "UAN GB"},
	{"+88812345678901", "international UAN"},
	{"+445612345678", "VoIP GB"},
	{"+883510012345", "international network VoIP"},
	{"+447012345678", "personal GB"},
	{"+447640123456", "pager GB"},
	{"+49177991234567", "voicemail DE"},
	{"+861012345678", "fixed-line CN"},
	{"+881612345678", "satellite, Global Mobile Satellite System"},
	{"+870301234567", "satellite, Inmarsat"},
	{"+8823421234", "international networks"},
	{"+8614012345678", "unallocated CN"},
	{"+447700900123", "UK drama range"},
	{"+12015550123", "NANP fiction range 555-01XX"},
	{"+12125550199", "NANP fiction range 555-01XX"},
	{"+16135550142", "NANP fiction range 555-01XX, Canada"},
}

func TestAttackCostlyNumbersNeverSent(t *testing.T) {
	// The widest configuration a site can choose: every region allowed.
	h := newHarness(t, func(c *Config) { c.AllowAllRegions = true })
	for _, tt := range costlyNumbers {
		if p, err := h.svc.ParsePhone(tt.number); err == nil {
			t.Errorf("Service.ParsePhone(%s, %s) = %s, want an error", tt.number, tt.why, p.E164())
		}
		// A Phone from the package-level parser must not get through
		// Issue either.
		if p, err := ParsePhone(tt.number, ""); err == nil {
			_, err := h.issue(t, p, SignIn)
			if !errors.Is(err, ErrNotMobile) && !errors.Is(err, ErrInvalidPhone) {
				t.Errorf("Issue(%s, %s) = %v, want ErrNotMobile or ErrInvalidPhone", tt.number, tt.why, err)
			}
		}
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times for costly numbers, want 0", n)
	}
}

func TestAttackAllowListByNumberingRegion(t *testing.T) {
	// +1 and +44 serve several regions, each priced by its own carriers.
	// Allowing US must not let Caribbean numbers through, nor GB the
	// Crown Dependencies.
	h := newHarness(t, func(c *Config) { c.AllowedRegions = []string{"US", "GB"} })
	for _, number := range []string{"+18762101234", "+12462345678", "+16492311234", "+447781123456", "+447797123456", "+447624123456"} {
		p, err := ParsePhone(number, "")
		if err != nil {
			t.Fatalf("ParsePhone(%s): %v", number, err)
		}
		if _, err := h.issue(t, p, SignIn); !errors.Is(err, ErrRegionNotAllowed) {
			t.Errorf("Issue(%s, region %s, US and GB allowed) = %v, want ErrRegionNotAllowed", number, p.Region(), err)
		}
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times, want 0", n)
	}
}

// TestAttackOutcomeClasses checks the cooldown and the counters after
// each class of send failure. A definite failure lifts the cooldown and
// refunds every counter but the per-client one. An unknown outcome keeps
// both, because the message may still arrive. Issue calls the sender once
// in every case.
func TestAttackOutcomeClasses(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		refunds bool
	}{
		{"invalid number", &SendError{Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent}, true},
		{"region unsupported", &SendError{Reason: ReasonUnsupportedRegion, Outcome: OutcomeNotSent}, true},
		{"provider limit", &SendError{Reason: ReasonRateLimited, Outcome: OutcomeNotSent}, true},
		{"misconfigured", &SendError{Reason: ReasonMisconfigured, Outcome: OutcomeNotSent}, true},
		{"no balance", &SendError{Reason: ReasonInsufficientBalance, Outcome: OutcomeNotSent}, true},
		{"not reached", &SendError{Reason: ReasonUnavailable, Outcome: OutcomeNotSent, Err: errors.New("connection refused")}, true},
		{"wrapped definite failure", fmt.Errorf("gateway: %w", &SendError{Reason: ReasonInvalidNumber, Outcome: OutcomeNotSent}), true},
		{"timeout", &SendError{Reason: ReasonUnavailable, Outcome: OutcomeUnknown, Err: context.DeadlineExceeded}, false},
		{"unknown reason", &SendError{Reason: ReasonUnknown, Outcome: OutcomeUnknown}, false},
		{"outcome out of range", &SendError{Reason: ReasonInvalidNumber, Outcome: SendOutcome(7)}, false},
		{"plain error", errors.New("socket closed"), false},
		{"context cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		h := newHarness(t, func(c *Config) {
			c.Limits.PhoneHourly = 1
			c.Limits.ClientHourly = 2
		})
		p := h.phone(t, "13800138000")
		h.sender.failNext(tt.err)
		_, err := h.issue(t, p, SignIn)
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("%s: Issue = %v, want *SendError", tt.name, err)
		}
		_, err = h.issue(t, p, SignIn)
		if tt.refunds {
			if err != nil {
				t.Errorf("%s: Issue right after = %v, want a send: cooldown lifted, phone counter refunded", tt.name, err)
			}
		} else {
			wantLimit(t, tt.name+": Issue right after", err, LimitCooldown, t0.Add(DefaultResendCooldown), h.clock.Now())
			h.clock.Advance(DefaultResendCooldown)
			_, err = h.issue(t, p, SignIn)
			wantLimit(t, tt.name+": Issue after the cooldown", err, LimitPhoneHourly, t0.Add(time.Hour), h.clock.Now())
		}
		// The per-client counter (2) is never refunded: two sends from the
		// client so far, counting the failed one.
		if !tt.refunds {
			h.mustIssue(t, h.phone(t, "13700137000"), SignIn)
		}
		_, err = h.issue(t, h.phone(t, "13900139000"), SignIn)
		wantLimit(t, tt.name+": third send from the client", err, LimitClientHourly, t0.Add(time.Hour), h.clock.Now())
		if n := h.sender.callCount(); n != 2 {
			t.Errorf("%s: sender called %d times, want 2 (one per send, no retry)", tt.name, n)
		}
	}
}
