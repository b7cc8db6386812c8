package otp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. The errors that carry data, [*PhoneError],
// [*LimitError], [*VerifyError] and [*SendError], wrap one of these, so
// callers can test with errors.Is and read the data with errors.As.
var (
	// ErrInvalidPhone reports input that is not a valid phone number.
	ErrInvalidPhone = errors.New("otp: invalid phone number")

	// ErrNotMobile reports a valid number that cannot receive SMS or may
	// cost extra to send to: fixed-line, premium-rate, shared-cost,
	// toll-free, UAN, voicemail, pager, VoIP, personal, unallocated, or of
	// a satellite or other international network.
	ErrNotMobile = errors.New("otp: not a mobile number")

	// ErrRegionNotAllowed reports a number of a region outside the
	// configured allow-list.
	ErrRegionNotAllowed = errors.New("otp: region not allowed")

	// ErrInvalidPurpose reports a purpose that is not one of the four
	// defined, or not enabled in Config.Purposes.
	ErrInvalidPurpose = errors.New("otp: invalid purpose")

	// ErrMissingClientIP reports an IssueRequest without a client address,
	// which the per-client limit needs.
	ErrMissingClientIP = errors.New("otp: missing client IP address")

	// ErrRateLimited reports that a limit rejected issuing a code. The
	// error is a *LimitError that names the limit and the time to retry.
	ErrRateLimited = errors.New("otp: rate limited")

	// ErrInvalidCode reports a code that cannot be right because it has the
	// wrong length or contains non-digits. It takes no attempt.
	ErrInvalidCode = errors.New("otp: invalid code format")

	// ErrCodeMismatch reports a wrong code. The error is a *VerifyError
	// with the attempts left.
	ErrCodeMismatch = errors.New("otp: wrong code")

	// ErrTooManyAttempts reports that the code was burnt by wrong guesses.
	// Verify returns it in a *VerifyError, and Issue in a *LimitError,
	// until the burnt code would have expired.
	ErrTooManyAttempts = errors.New("otp: too many wrong attempts")

	// ErrNoCode reports that no code is pending for the phone and purpose:
	// none was issued, it expired, or it was already used.
	ErrNoCode = errors.New("otp: no pending code")

	// ErrSendFailed reports that the sender failed. The error is a
	// *SendError.
	ErrSendFailed = errors.New("otp: send failed")

	// ErrMissingKey reports a Config without a MAC key while
	// InsecureDevelopmentKey is false.
	ErrMissingKey = errors.New("otp: missing MAC key")
)

// PhoneError reports a phone number that was rejected. It never contains
// the number itself.
type PhoneError struct {
	// Err is ErrInvalidPhone, ErrNotMobile or ErrRegionNotAllowed.
	Err error

	// Region is the ISO 3166-1 region of the number, if it was recognized.
	Region string

	// NumberType names the type of a number rejected with ErrNotMobile,
	// such as "premium-rate", "fixed-line" or "satellite or international
	// network".
	NumberType string

	// Detail explains an ErrInvalidPhone in plain words, or names an
	// unknown region for ErrRegionNotAllowed.
	Detail string
}

func (e *PhoneError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	switch {
	case e.NumberType != "" && e.Region != "":
		fmt.Fprintf(&b, ": %s number of region %s", e.NumberType, e.Region)
	case e.NumberType != "":
		fmt.Fprintf(&b, ": %s number", e.NumberType)
	case errors.Is(e.Err, ErrRegionNotAllowed) && e.Region != "":
		fmt.Fprintf(&b, ": %s", e.Region)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *PhoneError) Unwrap() error { return e.Err }

// Limit names a limit of [Limits] in a *LimitError and in logs.
type Limit string

// Limits that can refuse to issue a code.
const (
	LimitCooldown      Limit = "cooldown"       // Limits.ResendCooldown
	LimitAttempts      Limit = "attempts"       // the previous code was burnt
	LimitPhoneHourly   Limit = "phone-hourly"   // Limits.PhoneHourly
	LimitPhoneDaily    Limit = "phone-daily"    // Limits.PhoneDaily
	LimitClientHourly  Limit = "client-hourly"  // Limits.ClientHourly
	LimitPrefixHourly  Limit = "prefix-hourly"  // Limits.PrefixHourly
	LimitCountryHourly Limit = "country-hourly" // Limits.CountryHourly
	LimitGlobalDaily   Limit = "global-daily"   // Limits.GlobalDaily
)

// LimitError reports that a limit refused to issue a code. It wraps
// ErrRateLimited, and for LimitAttempts also ErrTooManyAttempts.
type LimitError struct {
	// Limit is the limit that refused.
	Limit Limit

	// RetryAt is the time from which the same request can succeed, as far
	// as this limit is concerned.
	RetryAt time.Time

	// RetryAfter is RetryAt minus the time of the refusal, rounded up to
	// a whole second, for an HTTP Retry-After header.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("otp: rate limited by %s limit, retry after %s", e.Limit, e.RetryAfter)
}

// Unwrap returns ErrRateLimited, and ErrTooManyAttempts for LimitAttempts.
func (e *LimitError) Unwrap() []error {
	if e.Limit == LimitAttempts {
		return []error{ErrRateLimited, ErrTooManyAttempts}
	}
	return []error{ErrRateLimited}
}

// VerifyError reports a failed verification. It wraps ErrCodeMismatch,
// ErrTooManyAttempts or ErrNoCode.
type VerifyError struct {
	Err error

	// AttemptsLeft is the number of wrong codes still allowed, for
	// ErrCodeMismatch. At zero the code is burnt.
	AttemptsLeft int

	// RetryAt is the time from which a new code can be requested, for
	// ErrTooManyAttempts and for ErrCodeMismatch with no attempts left.
	// Other limits may still refuse then.
	RetryAt time.Time

	// RetryAfter is RetryAt minus the time of the call, rounded up to a
	// whole second.
	RetryAfter time.Duration
}

func (e *VerifyError) Error() string {
	switch {
	case errors.Is(e.Err, ErrCodeMismatch) && e.AttemptsLeft > 0:
		return fmt.Sprintf("%v, %d attempts left", e.Err, e.AttemptsLeft)
	case !e.RetryAt.IsZero():
		return fmt.Sprintf("%v, new code available after %s", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *VerifyError) Unwrap() error { return e.Err }

// SendReason classifies a send failure so that the HTTP layer can explain
// it without knowing the provider.
type SendReason int

// Reasons for a failed send.
const (
	// ReasonUnknown is a failure that the sender could not classify.
	ReasonUnknown SendReason = iota

	// ReasonInvalidNumber means that the provider rejected the number as
	// malformed, unreachable, or on a blocklist or do-not-disturb list.
	ReasonInvalidNumber

	// ReasonUnsupportedRegion means that the provider does not deliver to
	// the number's region with this account.
	ReasonUnsupportedRegion

	// ReasonRateLimited means that the provider's own frequency limits
	// refused, per number or per account.
	ReasonRateLimited

	// ReasonMisconfigured means that the provider rejected the account's
	// settings: credentials, app ID, template, signature, a clock too far
	// off, or a template parameter it does not accept. An operator must
	// act; users cannot.
	ReasonMisconfigured

	// ReasonInsufficientBalance means that the account has no SMS left in
	// its package or is suspended for arrears.
	ReasonInsufficientBalance

	// ReasonUnavailable means that the provider could not be reached, did
	// not respond in time, or sent a response it could not read.
	ReasonUnavailable
)

var sendReasonNames = [...]string{
	ReasonUnknown:             "unknown failure",
	ReasonInvalidNumber:       "number rejected by provider",
	ReasonUnsupportedRegion:   "region not supported by provider",
	ReasonRateLimited:         "rate limited by provider",
	ReasonMisconfigured:       "provider misconfigured",
	ReasonInsufficientBalance: "insufficient balance",
	ReasonUnavailable:         "provider unavailable",
}

// String returns the reason in plain words.
func (r SendReason) String() string {
	if r >= 0 && int(r) < len(sendReasonNames) {
		return sendReasonNames[r]
	}
	return "SendReason(" + strconv.Itoa(int(r)) + ")"
}

// SendOutcome records whether a failed send may still deliver a message.
type SendOutcome int

const (
	// OutcomeUnknown means that the request may have reached the provider,
	// as after a timeout, so the message may still arrive. It is the zero
	// value, so that a SendError built without an outcome is treated the
	// safe way: no retry, and the resend cooldown stays.
	OutcomeUnknown SendOutcome = iota

	// OutcomeNotSent means that the provider definitely sent nothing,
	// because it refused the request or the request never left.
	OutcomeNotSent
)

// String returns the outcome in plain words.
func (o SendOutcome) String() string {
	switch o {
	case OutcomeUnknown:
		return "outcome unknown"
	case OutcomeNotSent:
		return "not sent"
	}
	return "SendOutcome(" + strconv.Itoa(int(o)) + ")"
}

// SendError reports a failed send. Senders return it; Service.Issue
// returns it with RetryAt set. It wraps ErrSendFailed and Err.
//
// No field may contain a secret, a code or a full phone number; senders
// remove them from provider messages.
type SendError struct {
	// Provider names the sender, such as "tencent" or "console".
	Provider string

	Reason  SendReason
	Outcome SendOutcome

	// Code is the provider's error code, such as
	// "LimitExceeded.PhoneNumberDailyLimit", if it returned one.
	Code string

	// RequestID is the provider's ID of the request, for its support.
	RequestID string

	// Message is the provider's description of the error, redacted.
	Message string

	// Err is the underlying error, such as context.DeadlineExceeded.
	Err error

	// RetryAt is set by Service.Issue: the time from which a new code can
	// be requested. It is the end of the resend cooldown when the outcome
	// is unknown, because the message may still arrive, and the time of
	// the failure when nothing was sent.
	RetryAt time.Time
}

func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("otp: send")
	if e.Provider != "" {
		b.WriteString(" via ")
		b.WriteString(e.Provider)
	}
	b.WriteString(" failed: ")
	b.WriteString(e.Reason.String())
	b.WriteString(" (")
	b.WriteString(e.Outcome.String())
	if e.Code != "" {
		b.WriteString(", code ")
		b.WriteString(e.Code)
	}
	if e.RequestID != "" {
		b.WriteString(", request ID ")
		b.WriteString(e.RequestID)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrSendFailed and Err.
func (e *SendError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrSendFailed}
	}
	return []error{ErrSendFailed, e.Err}
}

// retryAfter returns t-now rounded up to a whole second, never negative.
func retryAfter(t, now time.Time) time.Duration {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}
