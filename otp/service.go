package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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
			return nil, fmt.Errorf("otp: Config.Purposes: %w %q", ErrInvalidPurpose, p)
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
// configured default region, and also rejects numbers of regions outside
// the allow-list with a *PhoneError wrapping ErrRegionNotAllowed.
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

func (s *Service) checkAllowed(p Phone) error {
	if p.IsZero() {
		return &PhoneError{Err: ErrInvalidPhone, Detail: "zero Phone; use ParsePhone"}
	}
	if !s.allowAll && !s.allowed[p.Region()] {
		return &PhoneError{Err: ErrRegionNotAllowed, Region: p.Region()}
	}
	return nil
}

func (s *Service) checkPurpose(p Purpose) error {
	if !s.purposes[p] {
		return fmt.Errorf("%w %q", ErrInvalidPurpose, p)
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

	// Locale is passed to the sender, such as "zh-Hans". Optional.
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
// Errors: *PhoneError for a zero phone or a region outside the allow-list,
// ErrInvalidPurpose, ErrMissingClientIP, *LimitError when a limit refuses,
// *SendError when the sender fails, and a wrapped store error. After a
// send failure with OutcomeNotSent the cooldown is lifted and the counters
// other than the per-client one are refunded, so the user can try again
// at once. After OutcomeUnknown nothing is undone, because the message may
// still arrive. Issue never retries a send.
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
	key := challengeKey(req.Phone, req.Purpose)

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

	msg := Message{Phone: req.Phone.E164(), Code: code, Purpose: req.Purpose, Locale: req.Locale}
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
	return Issued{}, s.handleSendError(ctx, sendErr, req, key, id, limits, names, now, challenge.ResendAt)
}

// handleSendError releases a reservation whose send definitely failed and
// returns the error as a *SendError with RetryAt set.
func (s *Service) handleSendError(ctx context.Context, sendErr error, req IssueRequest, key, id string,
	limits []store.Limit, names []Limit, reservedAt, resendAt time.Time) error {
	var se SendError
	if p := (*SendError)(nil); errors.As(sendErr, &p) {
		se = *p
	} else {
		se = SendError{Reason: ReasonUnknown, Outcome: OutcomeUnknown, Err: sendErr}
	}

	attrs := []slog.Attr{
		slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)),
		slog.String("challenge", id), slog.String("provider", se.Provider),
		slog.String("reason", se.Reason.String()), slog.String("outcome", se.Outcome.String()),
		slog.String("code", se.Code), slog.String("request_id", se.RequestID),
		slog.String("error", sendErr.Error()),
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

// VerifyRequest is a request to check a code.
type VerifyRequest struct {
	Phone   Phone
	Purpose Purpose

	// Code is the code as typed. Surrounding spaces, inner spaces and
	// dashes, and full-width digits are accepted.
	Code string
}

// Verify checks a code. It returns nil exactly once for an issued code,
// then the code is used up.
//
// Errors: ErrInvalidCode for a code of the wrong form (which takes no
// attempt), a *VerifyError wrapping ErrCodeMismatch, ErrTooManyAttempts or
// ErrNoCode, ErrInvalidPurpose, a *PhoneError for a zero phone, and a
// wrapped store error. The region allow-list does not apply, so a code
// sent before the list changed still verifies.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) error {
	if err := s.checkPurpose(req.Purpose); err != nil {
		return err
	}
	if req.Phone.IsZero() {
		return &PhoneError{Err: ErrInvalidPhone, Detail: "zero Phone; use ParsePhone"}
	}
	code, ok := normalizeCode(req.Code, s.codeLength)
	if !ok {
		return fmt.Errorf("%w: want %d digits", ErrInvalidCode, s.codeLength)
	}
	now := s.now()
	res, err := s.store.Verify(ctx, challengeKey(req.Phone, req.Purpose), s.mac(req.Phone, req.Purpose, code), now)
	if err != nil {
		s.logger.LogAttrs(ctx, slog.LevelError, "otp: store failed to verify a code",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)), slog.Any("error", err))
		return fmt.Errorf("otp: store: verify code: %w", err)
	}

	switch res.Outcome {
	case store.Match:
		s.logger.LogAttrs(ctx, slog.LevelInfo, "otp: code verified",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)))
		return nil
	case store.Mismatch:
		verr := &VerifyError{Err: ErrCodeMismatch, AttemptsLeft: res.AttemptsLeft}
		level := slog.LevelInfo
		if res.AttemptsLeft == 0 {
			verr.RetryAt = res.ExpiresAt
			verr.RetryAfter = retryAfter(res.ExpiresAt, now)
			level = slog.LevelWarn
		}
		s.logger.LogAttrs(ctx, level, "otp: wrong code",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)),
			slog.Int("attempts_left", res.AttemptsLeft))
		return verr
	case store.Burnt:
		s.logger.LogAttrs(ctx, slog.LevelWarn, "otp: code tried after too many wrong attempts",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)))
		return &VerifyError{Err: ErrTooManyAttempts, RetryAt: res.ExpiresAt,
			RetryAfter: retryAfter(res.ExpiresAt, now)}
	case store.NotFound:
		s.logger.LogAttrs(ctx, slog.LevelInfo, "otp: no pending code",
			slog.Any("phone", req.Phone), slog.String("purpose", string(req.Purpose)))
		return &VerifyError{Err: ErrNoCode}
	}
	return fmt.Errorf("otp: store: verify code: unknown outcome %d", res.Outcome)
}

// mac returns the HMAC-SHA256 of the code bound to phone and purpose, so
// that a stored MAC is worthless for any other phone or purpose.
func (s *Service) mac(p Phone, purpose Purpose, code string) []byte {
	var buf [96]byte
	msg := append(buf[:0], macDomain...)
	msg = append(msg, 0)
	msg = append(msg, purpose...)
	msg = append(msg, 0)
	msg = append(msg, p.E164()...)
	msg = append(msg, 0)
	msg = append(msg, code...)

	h := s.macPool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	sum := h.Sum(make([]byte, 0, sha256.Size))
	s.macPool.Put(h)
	return sum
}

func (s *Service) challengeID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.random, b[:]); err != nil {
		return "", fmt.Errorf("otp: read random bytes: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func challengeKey(p Phone, purpose Purpose) string {
	return "otp:code:" + string(purpose) + ":" + p.E164()
}

// limitsFor returns the counters that a send to p for client charges, and
// the name of each.
func (s *Service) limitsFor(p Phone, client string) ([]store.Limit, []Limit) {
	e164 := p.E164()
	prefix := e164
	// Keep at least the country calling code and one digit.
	if keep := len(e164) - s.limits.PrefixDigitsDropped; keep >= 2+len(strconv.Itoa(p.CountryCode())) {
		prefix = e164[:keep]
	}
	country := s.limits.CountryHourly
	if n, ok := s.limits.CountryHourlyByRegion[p.Region()]; ok {
		country = n
	}
	names := []Limit{LimitPhoneHourly, LimitPhoneDaily, LimitClientHourly, LimitPrefixHourly,
		LimitCountryHourly, LimitGlobalDaily}
	limits := []store.Limit{
		{Key: "otp:phone-hourly:" + e164, Max: int64(s.limits.PhoneHourly), Window: time.Hour},
		{Key: "otp:phone-daily:" + e164, Max: int64(s.limits.PhoneDaily), Window: 24 * time.Hour},
		{Key: "otp:client-hourly:" + client, Max: int64(s.limits.ClientHourly), Window: time.Hour},
		{Key: "otp:prefix-hourly:" + prefix, Max: int64(s.limits.PrefixHourly), Window: time.Hour},
		{Key: "otp:country-hourly:" + p.Region(), Max: int64(country), Window: time.Hour},
		{Key: "otp:global-daily", Max: int64(s.limits.GlobalDaily), Window: 24 * time.Hour},
	}
	return limits, names
}

// refusal converts a refused reservation to a *LimitError.
func (s *Service) refusal(res store.Reservation, limits []store.Limit, names []Limit, now time.Time) *LimitError {
	e := &LimitError{RetryAt: res.RetryAt, RetryAfter: retryAfter(res.RetryAt, now)}
	switch res.Refused {
	case store.CheckBurnt:
		e.Limit = LimitAttempts
	case store.CheckCooldown:
		e.Limit = LimitCooldown
	default:
		for i, l := range limits {
			if l.Key == res.LimitKey {
				e.Limit = names[i]
			}
		}
		if e.Limit == "" {
			// A store that reports a key it was not given; still a refusal.
			e.Limit = Limit("store:" + res.LimitKey)
		}
	}
	return e
}

func (s *Service) logRefusal(ctx context.Context, e *LimitError, req IssueRequest, client string, now time.Time) {
	attrs := []slog.Attr{
		slog.String("limit", string(e.Limit)), slog.Any("phone", req.Phone),
		slog.String("region", req.Phone.Region()), slog.String("purpose", string(req.Purpose)),
		slog.String("client", client), slog.Time("retry_at", e.RetryAt),
	}
	switch e.Limit {
	case LimitPrefixHourly, LimitCountryHourly, LimitGlobalDaily:
		// Signs of SMS pumping or an exhausted budget, which an operator
		// should see. They are logged at most once a minute per limit,
		// because an attack repeats them on every request.
		if suppressed, ok := s.warnings.allow(e.Limit, now); ok {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "otp: send limit reached",
				append(attrs, slog.Int("suppressed_since_last", suppressed))...)
			return
		}
	}
	s.logger.LogAttrs(ctx, slog.LevelDebug, "otp: send rejected by limit", attrs...)
}

// warnLimiter lets one warning per limit through per minute and counts
// the ones it holds back.
type warnLimiter struct {
	mu         sync.Mutex
	last       map[Limit]time.Time
	suppressed map[Limit]int
}

func (w *warnLimiter) allow(l Limit, now time.Time) (suppressed int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.suppressed == nil {
		w.suppressed = map[Limit]int{}
	}
	if last, seen := w.last[l]; seen && now.Sub(last) < time.Minute && now.Sub(last) >= 0 {
		w.suppressed[l]++
		return 0, false
	}
	suppressed = w.suppressed[l]
	w.last[l] = now
	w.suppressed[l] = 0
	return suppressed, true
}

// clientKey returns the per-client counter subject for ip: the address for
// IPv4, the /64 prefix for IPv6.
func clientKey(ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", ErrMissingClientIP
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String(), nil
	}
	prefix, err := ip.Prefix(64)
	if err != nil {
		return "", fmt.Errorf("otp: client IP: %w", err)
	}
	return prefix.String(), nil
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
// chose from a list. region must be an allowed region; empty means the
// default region.
func (s *Service) ParsePhoneIn(input, region string) (Phone, error) {
	if region == "" {
		return s.ParsePhone(input)
	}
	r, err := checkRegion(region)
	if err != nil || (!s.allowAll && !s.allowed[r]) {
		return Phone{}, &PhoneError{Err: ErrRegionNotAllowed, Region: strings.ToUpper(region)}
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
	return phonenumbers.GetCountryCodeForRegion(strings.ToUpper(region))
}

// Allows reports whether s issues codes for purpose (Config.Purposes).
func (s *Service) Allows(purpose Purpose) bool { return s.purposes[purpose] }
