package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors returned by stores. Implementations wrap them with %w and
// may return other errors (a lost connection, a cancelled context); callers
// must treat any error as a failure of the operation, never as a refusal or
// an absent challenge.
var (
	// ErrFull reports that the store has no room for the entries that an
	// operation needs. The operation changed nothing. [Memory] returns it
	// instead of evicting live challenges or counters, because eviction
	// would reset rate limits.
	ErrFull = errors.New("store: full")

	// ErrInvalidArgument reports an argument that no implementation accepts,
	// such as an empty key or a challenge that is already expired.
	ErrInvalidArgument = errors.New("store: invalid argument")
)

// Store is the state behind package otp. Every method is atomic: concurrent
// calls, from this process or others sharing the backend, behave as if they
// ran one after another. Every method takes now, the caller's current time,
// and must judge expiry and windows by it alone.
type Store interface {
	// Reserve stores challenge c under key, charging one unit to each
	// counter in limits, if and only if all of these hold at now:
	//
	//   - no live challenge under key has zero attempts left (burnt);
	//   - no live challenge under key is before its ResendAt (cooldown);
	//   - every counter in limits is below its Max.
	//
	// Checks run in that order and the first that fails is reported in the
	// result with the time it clears; nothing is changed then. On success
	// c replaces any older challenge under key, which invalidates the older
	// code. If the older challenge was live, the new one keeps the smaller
	// of the two attempt counts, so a resend never resets failed attempts.
	Reserve(ctx context.Context, key string, c Challenge, limits []Limit, now time.Time) (Reservation, error)

	// Release undoes the parts of a reservation that a definite send
	// failure should not cost the user. If the challenge under key still
	// has the ID challengeID, its cooldown ends at now. Each counter in
	// refunds loses one unit in the window that contained reservedAt,
	// never going below zero. Refunds do not depend on the challenge still
	// being stored. Release must be called at most once per reservation.
	Release(ctx context.Context, key, challengeID string, refunds []Limit, reservedAt, now time.Time) error

	// Verify compares mac with the MAC of the live challenge under key. A
	// match deletes the challenge, so a code verifies once. A mismatch
	// takes one attempt; the challenge stays stored with zero attempts
	// left (burnt) until it expires, so that Reserve can refuse a new code
	// until then.
	Verify(ctx context.Context, key string, mac []byte, now time.Time) (VerifyResult, error)
}

// Challenge is one issued code as the store keeps it.
type Challenge struct {
	// ID identifies this issue of a code, so that Release touches only the
	// challenge that its own reservation wrote. It must be unique.
	ID string

	// MAC is the keyed MAC of the code. The store never sees the code.
	MAC []byte

	// ExpiresAt is the time from which the challenge no longer verifies.
	ExpiresAt time.Time

	// ResendAt is the time from which Reserve accepts a new challenge under
	// the same key. It should not be after ExpiresAt.
	ResendAt time.Time

	// Attempts is the number of wrong guesses allowed. Reserve lowers it
	// to the attempts left of a live challenge that it replaces.
	Attempts int
}

// Limit is a fixed-window counter that Reserve checks and charges.
type Limit struct {
	// Key names the counter. Stores append the window start, so one Key
	// may be used with any window.
	Key string

	// Max is the number of reservations allowed per window. A Max of zero
	// or less refuses every reservation.
	Max int64

	// Window is the length of the counting window. Windows are aligned to
	// multiples of Window since the Unix epoch, as computed by [Window].
	Window time.Duration
}

// Check names the check of Reserve that refused a reservation.
type Check int

// Checks that Reserve may report.
const (
	// CheckNone means that nothing refused: the reservation was made.
	CheckNone Check = iota
	// CheckBurnt means that the live challenge has no attempts left.
	CheckBurnt
	// CheckCooldown means that the live challenge is before its ResendAt.
	CheckCooldown
	// CheckLimit means that a counter reached its Max.
	CheckLimit
)

// String returns the check's name for logs.
func (c Check) String() string {
	switch c {
	case CheckNone:
		return "none"
	case CheckBurnt:
		return "burnt"
	case CheckCooldown:
		return "cooldown"
	case CheckLimit:
		return "limit"
	}
	return "Check(" + strconv.Itoa(int(c)) + ")"
}

// Reservation is the result of Reserve.
type Reservation struct {
	// Refused is the check that refused the reservation, or CheckNone if
	// the challenge was stored.
	Refused Check

	// LimitKey is the Key of the counter that refused, for CheckLimit.
	LimitKey string

	// RetryAt is the time at which the refusing check clears: the end of
	// the cooldown, the expiry of the burnt challenge or the end of the
	// counter's window. It is zero when the reservation was made.
	RetryAt time.Time

	// AttemptsLeft is the number of wrong guesses that the stored
	// challenge allows, after any carry-over from an older one.
	AttemptsLeft int
}

// OK reports whether the challenge was stored.
func (r Reservation) OK() bool { return r.Refused == CheckNone }

// Outcome is the result of comparing a MAC in Verify.
type Outcome int

// Outcomes of Verify.
const (
	// NotFound means that no live challenge exists under the key: none was
	// issued, it expired, or it was already used.
	NotFound Outcome = iota
	// Match means that the MAC matched and the challenge was deleted.
	Match
	// Mismatch means that the MAC did not match and one attempt was taken.
	Mismatch
	// Burnt means that the challenge had no attempts left, so the MAC was
	// not compared.
	Burnt
)

// String returns the outcome's name for logs.
func (o Outcome) String() string {
	switch o {
	case NotFound:
		return "not found"
	case Match:
		return "match"
	case Mismatch:
		return "mismatch"
	case Burnt:
		return "burnt"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// VerifyResult is the result of Verify.
type VerifyResult struct {
	Outcome Outcome

	// AttemptsLeft is the number of wrong guesses still allowed after this
	// call, for Mismatch. It is zero for the other outcomes.
	AttemptsLeft int

	// ExpiresAt is the expiry of the challenge, for Mismatch and Burnt. A
	// burnt challenge blocks new codes under its key until then.
	ExpiresAt time.Time
}

// Window returns the fixed window of the given length that contains t:
// windows start at multiples of length since the Unix epoch. Every store
// implementation must use it, so that processes sharing a backend agree.
func Window(t time.Time, length time.Duration) (start, end time.Time) {
	if length <= 0 {
		return t, t
	}
	n := t.UnixNano()
	offset := n % int64(length)
	if offset < 0 {
		offset += int64(length)
	}
	start = time.Unix(0, n-offset).UTC()
	return start, start.Add(length)
}

// CounterKey returns the key under which a store keeps the counter of l for
// the window that contains t. Implementations should use it so that their
// keys agree; it embeds the window length and start.
func CounterKey(l Limit, t time.Time) string {
	start, _ := Window(t, l.Window)
	return l.Key + "|" + strconv.FormatInt(int64(l.Window/time.Millisecond), 10) +
		"|" + strconv.FormatInt(start.UnixMilli(), 10)
}

// ValidateReserve checks the arguments of Reserve against the rules that
// every implementation enforces, so that all of them reject the same
// inputs. It returns an error wrapping ErrInvalidArgument.
func ValidateReserve(key string, c Challenge, limits []Limit, now time.Time) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	case c.ID == "":
		return fmt.Errorf("%w: empty challenge ID", ErrInvalidArgument)
	case len(c.MAC) == 0:
		return fmt.Errorf("%w: empty MAC", ErrInvalidArgument)
	case !c.ExpiresAt.After(now):
		return fmt.Errorf("%w: challenge expires at %s, not after now %s",
			ErrInvalidArgument, c.ExpiresAt.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	case c.Attempts < 1:
		return fmt.Errorf("%w: challenge allows %d attempts, need at least 1", ErrInvalidArgument, c.Attempts)
	}
	return validateLimits(limits)
}

// ValidateRelease checks the arguments of Release like ValidateReserve.
func ValidateRelease(key, challengeID string, refunds []Limit) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	case challengeID == "":
		return fmt.Errorf("%w: empty challenge ID", ErrInvalidArgument)
	}
	return validateLimits(refunds)
}

func validateLimits(limits []Limit) error {
	for i, l := range limits {
		if l.Key == "" {
			return fmt.Errorf("%w: limit with empty key", ErrInvalidArgument)
		}
		if l.Window <= 0 {
			return fmt.Errorf("%w: limit %q has window %s, need a positive window", ErrInvalidArgument, l.Key, l.Window)
		}
		// A counter listed twice would be checked once but charged twice.
		for _, prev := range limits[:i] {
			if prev.Key == l.Key && prev.Window == l.Window {
				return fmt.Errorf("%w: limit %q with window %s listed twice", ErrInvalidArgument, l.Key, l.Window)
			}
		}
	}
	return nil
}
