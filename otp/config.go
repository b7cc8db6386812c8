package otp

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkit/latch/store"
)

// MinKeyLength is the minimum length in bytes of Config.Key: the output
// size of SHA-256, as RFC 2104 recommends for HMAC keys.
const MinKeyLength = 32

// Config configures [New].
type Config struct {
	// Key is the server's secret key for the HMAC-SHA256 under which codes
	// are stored, and which names phone numbers and client addresses in
	// store keys. It must have at least MinKeyLength bytes of random data
	// and be the same on every replica. Changing it invalidates pending
	// codes and starts every rate-limit counter afresh. Required unless
	// InsecureDevelopmentKey is set.
	Key []byte

	// InsecureDevelopmentKey, when Key is empty, makes New generate a
	// random key and log a warning, instead of failing with ErrMissingKey.
	// Codes then verify only in this process and die with it. For
	// development only.
	InsecureDevelopmentKey bool

	// Sender delivers codes. Required. See NewConsoleSender for
	// development.
	Sender Sender

	// Store keeps challenges and counters. Nil means a new store.Memory
	// with default options, which serves one process only.
	Store store.Store

	// CodeLength is the number of digits of a code, from MinCodeLength to
	// MaxCodeLength, and at most the sender's MaxCodeLength if it
	// implements CodeLengthLimiter. Zero means DefaultCodeLength.
	CodeLength int

	// DefaultRegion is the ISO 3166-1 region, such as "CN", of numbers
	// typed without a country calling code. Empty means that such numbers
	// are invalid.
	DefaultRegion string

	// AllowedRegions lists the ISO 3166-1 regions, such as "CN" or "HK",
	// that codes may be sent to. Empty means DefaultRegion alone. Since
	// SMS to some countries cost many times more than domestic ones, and
	// toll fraud targets them, list only the regions that your users are
	// in.
	AllowedRegions []string

	// AllowAllRegions lifts the region allow-list, so that codes go to any
	// region that the sender serves. Country and budget limits still
	// apply.
	AllowAllRegions bool

	// Purposes lists the purposes that this site issues codes for. Nil
	// means all four. Issue and Verify reject the others with
	// ErrInvalidPurpose.
	Purposes []Purpose

	// Limits bounds attempts, resends and sends.
	Limits Limits

	// Logger receives security events and failures, with phones masked and
	// never a code or key. Nil means slog.Default().
	Logger *slog.Logger

	// Now returns the current time. Nil means time.Now. Tests set it to
	// control expiry, cooldowns and windows.
	Now func() time.Time
}

// Limits configures the limits that protect users from guessing and the
// site from SMS cost and toll fraud. Each field's zero value selects the
// default named in its comment; negative values are invalid. Counting
// windows are fixed: an hourly limit resets at the start of each hour
// (UTC), a daily one at midnight UTC.
type Limits struct {
	// CodeTTL is how long a code stays valid. Default 5 minutes.
	CodeTTL time.Duration

	// MaxAttempts is the number of wrong codes allowed before the code is
	// burnt. A burnt code blocks new codes for its phone and purpose until
	// it would have expired. Default 5.
	MaxAttempts int

	// ResendCooldown is the time after a send before another code can be
	// requested for the same phone and purpose. A resend keeps the
	// attempts left. A definite send failure ends the cooldown at once.
	// It must not exceed CodeTTL. Default 60 seconds.
	ResendCooldown time.Duration

	// PhoneHourly and PhoneDaily are the maximum sends to one number per
	// hour and per day, over all purposes. Defaults 5 and 10.
	PhoneHourly int
	PhoneDaily  int

	// ClientHourly is the maximum sends requested per hour by one client
	// address. IPv6 addresses are grouped by /64, because one host often
	// holds a whole /64. Default 20.
	ClientHourly int

	// PrefixHourly is the maximum sends per hour to numbers that share all
	// but their last PrefixDigitsDropped digits. SMS pumping walks through
	// consecutive numbers, which this catches even when every number gets
	// one message. Default 10.
	PrefixHourly int

	// PrefixDigitsDropped is the number of final digits ignored by
	// PrefixHourly, from 1 to 6. Default 3, so that a prefix spans 1,000
	// numbers.
	PrefixDigitsDropped int

	// CountryHourly is the maximum sends per hour to one region. Default
	// 100. Raise it for the regions most of your users are in, with
	// CountryHourlyByRegion.
	CountryHourly int

	// CountryHourlyByRegion overrides CountryHourly for the ISO 3166-1
	// regions it lists.
	CountryHourlyByRegion map[string]int

	// GlobalDaily is the site's daily budget: the maximum sends per day in
	// total. Default 1,000.
	GlobalDaily int
}

// Defaults of Limits.
const (
	DefaultCodeTTL             = 5 * time.Minute
	DefaultMaxAttempts         = 5
	DefaultResendCooldown      = 60 * time.Second
	DefaultPhoneHourly         = 5
	DefaultPhoneDaily          = 10
	DefaultClientHourly        = 20
	DefaultPrefixHourly        = 10
	DefaultPrefixDigitsDropped = 3
	DefaultCountryHourly       = 100
	DefaultGlobalDaily         = 1000
)

// withDefaults returns l with zero fields set to their defaults, or an
// error naming the first invalid field.
func (l Limits) withDefaults() (Limits, error) {
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"CodeTTL", &l.CodeTTL, DefaultCodeTTL},
		{"ResendCooldown", &l.ResendCooldown, DefaultResendCooldown},
	}
	for _, d := range durations {
		if *d.p < 0 {
			return l, fmt.Errorf("otp: Limits.%s is %s, want 0 (default) or more", d.name, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	counts := []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxAttempts", &l.MaxAttempts, DefaultMaxAttempts},
		{"PhoneHourly", &l.PhoneHourly, DefaultPhoneHourly},
		{"PhoneDaily", &l.PhoneDaily, DefaultPhoneDaily},
		{"ClientHourly", &l.ClientHourly, DefaultClientHourly},
		{"PrefixHourly", &l.PrefixHourly, DefaultPrefixHourly},
		{"PrefixDigitsDropped", &l.PrefixDigitsDropped, DefaultPrefixDigitsDropped},
		{"CountryHourly", &l.CountryHourly, DefaultCountryHourly},
		{"GlobalDaily", &l.GlobalDaily, DefaultGlobalDaily},
	}
	for _, c := range counts {
		if *c.p < 0 {
			return l, fmt.Errorf("otp: Limits.%s is %d, want 0 (default) or more", c.name, *c.p)
		}
		if *c.p == 0 {
			*c.p = c.def
		}
	}
	if l.ResendCooldown > l.CodeTTL {
		return l, fmt.Errorf("otp: Limits.ResendCooldown %s exceeds Limits.CodeTTL %s", l.ResendCooldown, l.CodeTTL)
	}
	if l.PrefixDigitsDropped > 6 {
		return l, fmt.Errorf("otp: Limits.PrefixDigitsDropped is %d, want at most 6", l.PrefixDigitsDropped)
	}
	byRegion := make(map[string]int, len(l.CountryHourlyByRegion))
	for region, n := range l.CountryHourlyByRegion {
		r, err := checkRegion(region)
		if err != nil {
			return l, fmt.Errorf("otp: Limits.CountryHourlyByRegion: %w", err)
		}
		if n < 1 {
			return l, fmt.Errorf("otp: Limits.CountryHourlyByRegion[%q] is %d, want 1 or more", region, n)
		}
		byRegion[r] = n
	}
	l.CountryHourlyByRegion = byRegion
	return l, nil
}

// checkRegion returns region in upper case, or an error if libphonenumber
// does not know it.
func checkRegion(region string) (string, error) {
	r, ok := normalizeRegion(region)
	if !ok {
		return "", fmt.Errorf("unknown region %s, want an ISO 3166-1 alpha-2 code such as \"CN\"", quoteInput(region))
	}
	return r, nil
}
