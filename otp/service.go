package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/latchkit/latch/store"
)

// releaseTimeout bounds the store call that ends the cooldown after a
// definite send failure. It runs even when the caller's context is done,
// since a user who waits for nothing would otherwise be locked out.
const releaseTimeout = 5 * time.Second

// macDomain separates this package's MACs from any other use of the key.
const macDomain = "latch/otp/v1"

// Service issues and verifies one-time codes sent to phones. It is safe for
// concurrent use.
type Service struct {
	macPool sync.Pool // of hash.Hash, HMAC-SHA256 under the key

	sender        Sender
	store         store.Store
	codeLength    int
	defaultRegion string
	allowAll      bool
	allowed       map[string]bool
	purposes      map[Purpose]bool
	limits        Limits
	logger        *slog.Logger
	now           func() time.Time
	random        io.Reader
	warnings      warnLimiter
}

// New returns a Service for cfg, with defaults filled in. It returns an
// error for a missing sender or key and for any invalid setting.
func New(cfg Config) (*Service, error) {
	s := &Service{
		sender:     cfg.Sender,
		store:      cfg.Store,
		codeLength: cfg.CodeLength,
		allowAll:   cfg.AllowAllRegions,
		logger:     cfg.Logger,
		now:        cfg.Now,
		random:     rand.Reader,
		allowed:    map[string]bool{},
		purposes:   map[Purpose]bool{},
		warnings:   warnLimiter{last: map[Limit]time.Time{}},
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sender == nil {
		return nil, errors.New("otp: Config.Sender is nil; use NewConsoleSender for development")
	}

	key := cfg.Key
	switch {
	case len(key) == 0 && !cfg.InsecureDevelopmentKey:
		return nil, fmt.Errorf("%w: set Config.Key to %d or more random bytes, or InsecureDevelopmentKey for development",
			ErrMissingKey, MinKeyLength)
	case len(key) == 0:
		key = make([]byte, MinKeyLength)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, fmt.Errorf("otp: generate development key: %w", err)
		}
		s.logger.Warn("otp: using a random development MAC key; codes will not verify on other replicas or after a restart. Set Config.Key in production")
	case len(key) < MinKeyLength:
		return nil, fmt.Errorf("otp: Config.Key has %d bytes, want at least %d", len(key), MinKeyLength)
	}
	key = append([]byte(nil), key...)
	s.macPool.New = func() any { return hmac.New(sha256.New, key) }

	if s.store == nil {
		m, err := store.NewMemory(store.MemoryOptions{})
		if err != nil {
			return nil, err
		}
		s.store = m
	}

	if s.codeLength == 0 {
		s.codeLength = DefaultCodeLength
	}
	if s.codeLength < MinCodeLength || s.codeLength > MaxCodeLength {
		return nil, fmt.Errorf("otp: Config.CodeLength is %d, want %d to %d", s.codeLength, MinCodeLength, MaxCodeLength)
	}
	if l, ok := s.sender.(CodeLengthLimiter); ok && s.codeLength > l.MaxCodeLength() {
		return nil, fmt.Errorf("otp: Config.CodeLength is %d, but the sender delivers codes of at most %d digits",
			s.codeLength, l.MaxCodeLength())
	}

	if cfg.DefaultRegion != "" {
		r, err := checkRegion(cfg.DefaultRegion)
		if err != nil {
			return nil, fmt.Errorf("otp: Config.DefaultRegion: %w", err)
		}
		s.defaultRegion = r
	}
	for _, region := range cfg.AllowedRegions {
		r, err := checkRegion(region)
		if err != nil {
			return nil, fmt.Errorf("otp: Config.AllowedRegions: %w", err)
		}
		s.allowed[r] = true
	}
	if len(s.allowed) == 0 && !s.allowAll {
		if s.defaultRegion == "" {
			return nil, errors.New("otp: no region allowed; set Config.AllowedRegions or Config.DefaultRegion")
		}
		s.allowed[s.defaultRegion] = true
	}

	purposes := cfg.Purposes
	if purposes == nil {
		purposes = Purposes()
	}
	if len(purposes) == 0 {
		return nil, errors.New("otp: Config.Purposes is empty; leave it nil for all purposes")
	}
	for _, p := range purposes {
		if !p.Valid() {
			return nil, fmt.Errorf("otp: Config.Purposes: %w %s", ErrInvalidPurpose, quoteInput(string(p)))
		}
		s.purposes[p] = true
	}

	limits, err := cfg.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	s.limits = limits
	return s, nil
}

// CodeLength returns the number of digits of the codes that s issues.
func (s *Service) CodeLength() int { return s.codeLength }

// ParsePhone parses input like the package-level [ParsePhone] with the
// configured default region. It also rejects numbers of regions outside
// the allow-list with a *PhoneError wrapping ErrRegionNotAllowed. Numbers
// in ranges reserved for fiction and tests, such as NANP 555-0100 to
// 555-0199, get one wrapping ErrInvalidPhone.
func (s *Service) ParsePhone(input string) (Phone, error) {
	p, err := ParsePhone(input, s.defaultRegion)
	if err != nil {
		return Phone{}, err
	}
	if err := s.checkAllowed(p); err != nil {
		return Phone{}, err
	}
	return p, nil
}

// checkAllowed returns an error for a number that the site does not send
// codes to: of a region outside the allow-list, or in a range reserved
// for fiction and tests.
func (s *Service) checkAllowed(p Phone) error {
	if p.IsZero() {
		return &PhoneError{Err: ErrInvalidPhone, Detail: "zero Phone; use ParsePhone"}
	}
	if !s.allowAll && !s.allowed[p.Region()] {
		return &PhoneError{Err: ErrRegionNotAllowed, Region: p.Region()}
	}
	if r := reservedRange(p.E164()); r != "" {
		return &PhoneError{Err: ErrInvalidPhone, Region: p.Region(), Detail: "reserved for fiction and tests (" + r + ")"}
	}
	return nil
}

func (s *Service) checkPurpose(p Purpose) error {
	if !s.purposes[p] {
		return fmt.Errorf("%w %s", ErrInvalidPurpose, quoteInput(string(p)))
	}
	return nil
}

// IssueRequest is a request for a code.
type IssueRequest struct {
	// Phone is the recipient, from ParsePhone.
	Phone Phone

	// Purpose is the purpose of the code. It must be enabled in the Config.
	Purpose Purpose

	// ClientIP is the address of the client that asked, for the
	// per-client limit. Required.
	ClientIP netip.Addr

	// Locale is passed to the sender, such as "zh-Hans". Optional. A
	// value that is not a BCP 47 tag of at most 35 characters is dropped,
	// because it often comes from a request header and reaches the
	// sender's templates and logs.
	Locale string
}

// Issued describes a code that was sent.
type Issued struct {
	// ExpiresAt is the time from which the code no longer verifies.
	ExpiresAt time.Time

	// ResendAt is the time from which another code can be requested.
	ResendAt time.Time

	// AttemptsLeft is the number of wrong codes allowed, which a resend
	// carries over from the code it replaces.
	AttemptsLeft int
}

// Issue generates a code for the request's phone and purpose, stores its
// MAC, charges the limits and sends it. A new code replaces any pending
// one for the same phone and purpose.
//
// Errors: *PhoneError for a zero phone, a region outside the allow-list or
// a number reserved for fiction, ErrInvalidPurpose, ErrMissingClientIP,
// *LimitError when a limit refuses, *SendError when the sender fails, and
// a wrapped store error. After a send failure with OutcomeNotSent the
// cooldown is lifted and the counters other than the per-client one are
// refunded, so the user can try again at once. After OutcomeUnknown
// nothing is undone, because the message may still arrive. Issue never
// retries a send.
func (s *Service) Issue(ctx context.Context, req IssueRequest) (Issued, error) {
	if err := s.checkPurpose(req.Purpose); err != nil {
		return Issued{}, err
	}
	if err := s.checkAllowed(req.Phone); err != nil {
		return Issued{}, err
	}
	client, err := clientKey(req.ClientIP)
	if err != nil {
		return Issued{}, err
	}
	if err := ctx.Err(); err != nil {
		return Issued{}, err
	}

	code, err := generateCode(s.random, s.codeLength)
	if err != nil {
		return Issued{}, err
	}
	id, err := s.challengeID()
	if err != nil {
		return Issued{}, err
	}
	now := s.now()
	challenge := store.Challenge{
		ID:        id,
		MAC:       s.mac(req.Phone, req.Purpose, code),
		ExpiresAt: now.Add(s.limits.CodeTTL),
		ResendAt:  now.Add(s.limits.ResendCooldown),
		Attempts:  s.limits.MaxAttempts,
	}
	limits, names := s.limitsFor(req.Phone, client)
	key := s.challengeKey(req.Phone, req.Purpose)

	res, err := s.store.Reserve(ctx, key, challenge, limits, now)
	if err != nil {
		s.logger.LogAttrs(ctx, slog.LevelError, "otp: store failed to reserve a code",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)), slog.Any("error", err))
		return Issued{}, fmt.Errorf("otp: store: reserve code: %w", err)
	}
	if !res.OK() {
		lerr := s.refusal(res, limits, names, now)
		s.logRefusal(ctx, lerr, req, client, now)
		return Issued{}, lerr
	}

	msg := Message{Phone: req.Phone.E164(), Code: code, Purpose: req.Purpose, Locale: cleanLocale(req.Locale)}
	sendErr := s.sender.Send(ctx, msg)
	if sendErr == nil {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "otp: code sent",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)),
			slog.String("challenge", id), slog.String("client", client),
			slog.Int("attempts_left", res.AttemptsLeft))
		return Issued{
			ExpiresAt:    challenge.ExpiresAt,
			ResendAt:     challenge.ResendAt,
			AttemptsLeft: res.AttemptsLeft,
		}, nil
	}
	return Issued{}, s.handleSendError(ctx, sendErr, req, code, key, id, limits, names, now, challenge.ResendAt)
}

// handleSendError releases a reservation whose send definitely failed and
// returns the error as a *SendError with RetryAt set. The code and the
// phone number are removed from the error and the log line, in any
// spelling, even when the Sender put them in its error. A site might show
// the error to the person who requested the code, who must not learn the
// code that way.
func (s *Service) handleSendError(ctx context.Context, sendErr error, req IssueRequest, code, key, id string,
	limits []store.Limit, names []Limit, reservedAt, resendAt time.Time) error {
	var se SendError
	if p := (*SendError)(nil); errors.As(sendErr, &p) {
		se = *p
	} else {
		se = SendError{Reason: ReasonUnknown, Outcome: OutcomeUnknown, Err: sendErr}
	}
	se = newScrubber(code, req.Phone).sendError(se)

	attrs := []slog.Attr{
		slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)),
		slog.String("challenge", id), slog.String("provider", se.Provider),
		slog.String("reason", se.Reason.String()), slog.String("outcome", se.Outcome.String()),
		slog.String("code", se.Code), slog.String("request_id", se.RequestID),
		slog.String("error", se.Error()),
	}
	level := slog.LevelWarn
	if se.Reason == ReasonMisconfigured || se.Reason == ReasonInsufficientBalance || se.Reason == ReasonUnknown {
		level = slog.LevelError // an operator must act
	}

	if se.Outcome != OutcomeNotSent {
		se.RetryAt = resendAt
		s.logger.LogAttrs(ctx, level, "otp: send failed, message may still arrive; cooldown kept", attrs...)
		return &se
	}

	// Nothing was sent: refund what measures sending, but keep the
	// per-client counter, which bounds how fast one client can make the
	// provider refuse numbers.
	refunds := make([]store.Limit, 0, len(limits))
	for i, l := range limits {
		if names[i] != LimitClientHourly {
			refunds = append(refunds, l)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	now := s.now()
	if err := s.store.Release(rctx, key, id, refunds, reservedAt, now); err != nil {
		se.RetryAt = resendAt
		s.logger.LogAttrs(ctx, slog.LevelError, "otp: store failed to release a failed send; cooldown kept",
			append(attrs, slog.Any("release_error", err))...)
		return &se
	}
	se.RetryAt = now
	s.logger.LogAttrs(ctx, level, "otp: send failed, nothing sent; cooldown lifted", attrs...)
	return &se
}

// DefaultRegion returns the region of numbers typed without a country
// calling code, or "" when there is none.
func (s *Service) DefaultRegion() string { return s.defaultRegion }

// Regions returns the regions that codes may be sent to, sorted, or nil
// when every region is allowed (Config.AllowAllRegions).
func (s *Service) Regions() []string {
	if s.allowAll {
		return nil
	}
	regions := make([]string, 0, len(s.allowed))
	for r := range s.allowed {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	return regions
}

// ParsePhoneIn parses input like [Service.ParsePhone], but reads a number
// typed without a country calling code as one of region, which a person
// chose from a list. region must be an allowed region, two ASCII letters
// in any case; empty means the default region.
func (s *Service) ParsePhoneIn(input, region string) (Phone, error) {
	if region == "" {
		return s.ParsePhone(input)
	}
	r, ok := normalizeRegion(region)
	if !ok {
		return Phone{}, &PhoneError{Err: ErrRegionNotAllowed, Detail: "unknown region " + quoteInput(region)}
	}
	if !s.allowAll && !s.allowed[r] {
		return Phone{}, &PhoneError{Err: ErrRegionNotAllowed, Region: r}
	}
	p, err := ParsePhone(input, r)
	if err != nil {
		return Phone{}, err
	}
	if err := s.checkAllowed(p); err != nil {
		return Phone{}, err
	}
	return p, nil
}

// CountryCallingCode returns the country calling code of an ISO 3166-1
// region, such as 86 for "CN", or 0 for a region libphonenumber does not
// know.
func CountryCallingCode(region string) int {
	r, ok := normalizeRegion(region)
	if !ok {
		return 0
	}
	return phonenumbers.GetCountryCodeForRegion(r)
}

// Allows reports whether s issues codes for purpose (Config.Purposes).
func (s *Service) Allows(purpose Purpose) bool { return s.purposes[purpose] }
