// Package storetest is a conformance suite for implementations of
// [store.Store]. Every implementation, in memory or on a shared backend,
// must pass [Run]:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return newTestStore(t)
//		})
//	}
//
// The suite uses only the Store interface. Keys carry a random prefix per
// test, so a backend shared between test runs does not leak state between
// them, and the clock is the now argument alone.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/store"
)

// base is the start of every test's clock: the start of an hour, so that
// hourly windows begin at base.
var base = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

const (
	ttl      = 5 * time.Minute
	cooldown = time.Minute
	attempts = 5
)

// Run runs the conformance suite. newStore returns a store for one subtest;
// it may return the same backend each time, because keys never repeat.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, k keys)
	}{
		{"VerifyMatchIsSingleUse", testVerifyMatchIsSingleUse},
		{"VerifyUnknownKey", testVerifyUnknownKey},
		{"VerifyOtherKey", testVerifyOtherKey},
		{"Expiry", testExpiry},
		{"AttemptsBurn", testAttemptsBurn},
		{"BurntBlocksReserve", testBurntBlocksReserve},
		{"Cooldown", testCooldown},
		{"ResendReplacesCode", testResendReplacesCode},
		{"ResendKeepsAttempts", testResendKeepsAttempts},
		{"ExpiredChallengeResetsAttempts", testExpiredChallengeResetsAttempts},
		{"CounterWindow", testCounterWindow},
		{"CounterWindowsAreAligned", testCounterWindowsAreAligned},
		{"GlobalCounterAcrossKeys", testGlobalCounterAcrossKeys},
		{"RefusalChangesNothing", testRefusalChangesNothing},
		{"RefusalOrder", testRefusalOrder},
		{"ZeroMaxRefuses", testZeroMaxRefuses},
		{"ReleaseClearsCooldown", testReleaseClearsCooldown},
		{"ReleaseOtherChallenge", testReleaseOtherChallenge},
		{"ReleaseRefunds", testReleaseRefunds},
		{"ReleaseRefundsReservationWindow", testReleaseRefundsReservationWindow},
		{"ReleaseRefundFloor", testReleaseRefundFloor},
		{"InvalidArguments", testInvalidArguments},
		{"CancelledContext", testCancelledContext},
		{"MACIsCopied", testMACIsCopied},
		{"ConcurrentVerifyRightCode", testConcurrentVerifyRightCode},
		{"ConcurrentVerifyWrongCode", testConcurrentVerifyWrongCode},
		{"ConcurrentReserveOneKey", testConcurrentReserveOneKey},
		{"ConcurrentReserveSharedLimit", testConcurrentReserveSharedLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			tt.fn(t, s, newKeys(t))
		})
	}
}

// keys makes keys that are unique to one test run.
type keys struct{ prefix string }

func newKeys(t *testing.T) keys {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	return keys{prefix: "storetest:" + hex.EncodeToString(b) + ":"}
}

func (k keys) key(name string) string { return k.prefix + name }

func (k keys) limit(name string, max int64, window time.Duration) store.Limit {
	return store.Limit{Key: k.prefix + name, Max: max, Window: window}
}

var (
	macA = bytes.Repeat([]byte{0xa1}, 32)
	macB = bytes.Repeat([]byte{0xb2}, 32)
)

var idCounter struct {
	sync.Mutex
	n int
}

func challenge(mac []byte, now time.Time) store.Challenge {
	idCounter.Lock()
	idCounter.n++
	id := fmt.Sprintf("challenge-%d", idCounter.n)
	idCounter.Unlock()
	return store.Challenge{
		ID:        id,
		MAC:       mac,
		ExpiresAt: now.Add(ttl),
		ResendAt:  now.Add(cooldown),
		Attempts:  attempts,
	}
}

func mustReserve(t *testing.T, s store.Store, key string, c store.Challenge, limits []store.Limit, now time.Time) store.Reservation {
	t.Helper()
	r, err := s.Reserve(context.Background(), key, c, limits, now)
	if err != nil {
		t.Fatalf("Reserve(%q) at %s: error %v", key, now.Format(time.TimeOnly), err)
	}
	return r
}

func mustReserveOK(t *testing.T, s store.Store, key string, c store.Challenge, limits []store.Limit, now time.Time) store.Reservation {
	t.Helper()
	r := mustReserve(t, s, key, c, limits, now)
	if !r.OK() {
		t.Fatalf("Reserve(%q) at %s refused by %s (limit %q, retry at %s), want stored",
			key, now.Format(time.TimeOnly), r.Refused, r.LimitKey, r.RetryAt.Format(time.TimeOnly))
	}
	return r
}

func mustVerify(t *testing.T, s store.Store, key string, mac []byte, now time.Time) store.VerifyResult {
	t.Helper()
	r, err := s.Verify(context.Background(), key, mac, now)
	if err != nil {
		t.Fatalf("Verify(%q) at %s: error %v", key, now.Format(time.TimeOnly), err)
	}
	return r
}

func wantOutcome(t *testing.T, call string, got store.VerifyResult, want store.Outcome) {
	t.Helper()
	if got.Outcome != want {
		t.Fatalf("%s: outcome %s, want %s", call, got.Outcome, want)
	}
}

func wantRefused(t *testing.T, call string, got store.Reservation, check store.Check, retryAt time.Time) {
	t.Helper()
	if got.Refused != check {
		t.Fatalf("%s: refused by %s, want %s", call, got.Refused, check)
	}
	if !got.RetryAt.Equal(retryAt) {
		t.Errorf("%s: RetryAt %s, want %s", call, got.RetryAt.Format(time.RFC3339), retryAt.Format(time.RFC3339))
	}
}

func mustRelease(t *testing.T, s store.Store, key, id string, refunds []store.Limit, reservedAt, now time.Time) {
	t.Helper()
	if err := s.Release(context.Background(), key, id, refunds, reservedAt, now); err != nil {
		t.Fatalf("Release(%q, %q): error %v", key, id, err)
	}
}

func testVerifyMatchIsSingleUse(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	r := mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	if r.AttemptsLeft != attempts {
		t.Errorf("Reserve: AttemptsLeft %d, want %d", r.AttemptsLeft, attempts)
	}
	wantOutcome(t, "first Verify(right MAC)", mustVerify(t, s, key, macA, base.Add(time.Second)), store.Match)
	wantOutcome(t, "second Verify(right MAC)", mustVerify(t, s, key, macA, base.Add(2*time.Second)), store.NotFound)
}

func testVerifyUnknownKey(t *testing.T, s store.Store, k keys) {
	wantOutcome(t, "Verify(never reserved)", mustVerify(t, s, k.key("nobody"), macA, base), store.NotFound)
}

func testVerifyOtherKey(t *testing.T, s store.Store, k keys) {
	mustReserveOK(t, s, k.key("a"), challenge(macA, base), nil, base)
	wantOutcome(t, "Verify(other key, same MAC)", mustVerify(t, s, k.key("b"), macA, base), store.NotFound)
	wantOutcome(t, "Verify(own key)", mustVerify(t, s, k.key("a"), macA, base), store.Match)
}

func testExpiry(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	wantOutcome(t, "Verify at expiry", mustVerify(t, s, key, macA, base.Add(ttl)), store.NotFound)
	wantOutcome(t, "Verify after expiry", mustVerify(t, s, key, macA, base.Add(ttl+time.Hour)), store.NotFound)

	key2 := k.key("phone2")
	mustReserveOK(t, s, key2, challenge(macA, base), nil, base)
	wantOutcome(t, "Verify just before expiry", mustVerify(t, s, key2, macA, base.Add(ttl-time.Millisecond)), store.Match)
}

func testAttemptsBurn(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	now := base
	for want := attempts - 1; want >= 0; want-- {
		now = now.Add(time.Second)
		got := mustVerify(t, s, key, macB, now)
		wantOutcome(t, "Verify(wrong MAC)", got, store.Mismatch)
		if got.AttemptsLeft != want {
			t.Fatalf("Verify(wrong MAC): AttemptsLeft %d, want %d", got.AttemptsLeft, want)
		}
		if !got.ExpiresAt.Equal(base.Add(ttl)) {
			t.Errorf("Verify(wrong MAC): ExpiresAt %s, want %s", got.ExpiresAt, base.Add(ttl))
		}
	}
	got := mustVerify(t, s, key, macA, now.Add(time.Second))
	wantOutcome(t, "Verify(right MAC) after attempts ran out", got, store.Burnt)
	if !got.ExpiresAt.Equal(base.Add(ttl)) {
		t.Errorf("Verify(burnt): ExpiresAt %s, want %s", got.ExpiresAt, base.Add(ttl))
	}
	wantOutcome(t, "Verify(wrong MAC) after attempts ran out", mustVerify(t, s, key, macB, now.Add(2*time.Second)), store.Burnt)
	wantOutcome(t, "Verify after the burnt challenge expired", mustVerify(t, s, key, macA, base.Add(ttl)), store.NotFound)
}

func testBurntBlocksReserve(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	for range attempts {
		mustVerify(t, s, key, macB, base.Add(time.Second))
	}
	// After the cooldown but before expiry: the burnt challenge refuses.
	now := base.Add(cooldown + time.Second)
	r := mustReserve(t, s, key, challenge(macB, now), nil, now)
	wantRefused(t, "Reserve over a burnt challenge", r, store.CheckBurnt, base.Add(ttl))

	now = base.Add(ttl)
	r = mustReserveOK(t, s, key, challenge(macB, now), nil, now)
	if r.AttemptsLeft != attempts {
		t.Errorf("Reserve after the burnt challenge expired: AttemptsLeft %d, want %d", r.AttemptsLeft, attempts)
	}
	wantOutcome(t, "Verify(new MAC)", mustVerify(t, s, key, macB, now), store.Match)
}

func testCooldown(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	now := base.Add(cooldown - time.Millisecond)
	r := mustReserve(t, s, key, challenge(macB, now), nil, now)
	wantRefused(t, "Reserve during cooldown", r, store.CheckCooldown, base.Add(cooldown))
	wantOutcome(t, "Verify(first MAC) after refused resend", mustVerify(t, s, key, macA, now), store.Match)
}

func testResendReplacesCode(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	now := base.Add(cooldown)
	mustReserveOK(t, s, key, challenge(macB, now), nil, now)
	got := mustVerify(t, s, key, macA, now)
	wantOutcome(t, "Verify(old MAC) after resend", got, store.Mismatch)
	wantOutcome(t, "Verify(new MAC) after resend", mustVerify(t, s, key, macB, now), store.Match)
}

func testResendKeepsAttempts(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	mustVerify(t, s, key, macB, base.Add(time.Second))
	mustVerify(t, s, key, macB, base.Add(2*time.Second))

	now := base.Add(cooldown)
	r := mustReserveOK(t, s, key, challenge(macA, now), nil, now)
	if r.AttemptsLeft != attempts-2 {
		t.Fatalf("Reserve(resend after 2 wrong guesses): AttemptsLeft %d, want %d", r.AttemptsLeft, attempts-2)
	}
	got := mustVerify(t, s, key, macB, now)
	if got.Outcome != store.Mismatch || got.AttemptsLeft != attempts-3 {
		t.Fatalf("Verify(wrong MAC) after resend: %s with %d left, want mismatch with %d left",
			got.Outcome, got.AttemptsLeft, attempts-3)
	}

	// A new challenge that allows fewer attempts than are left keeps its own.
	now = now.Add(cooldown)
	c := challenge(macA, now)
	c.Attempts = 1
	if r := mustReserveOK(t, s, key, c, nil, now); r.AttemptsLeft != 1 {
		t.Errorf("Reserve(Attempts 1 over %d left): AttemptsLeft %d, want 1", attempts-3, r.AttemptsLeft)
	}
}

func testExpiredChallengeResetsAttempts(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	mustVerify(t, s, key, macB, base.Add(time.Second))
	now := base.Add(ttl)
	if r := mustReserveOK(t, s, key, challenge(macA, now), nil, now); r.AttemptsLeft != attempts {
		t.Errorf("Reserve after expiry: AttemptsLeft %d, want %d", r.AttemptsLeft, attempts)
	}
}

func testCounterWindow(t *testing.T, s store.Store, k keys) {
	limit := k.limit("per-hour", 3, time.Hour)
	now := base.Add(10 * time.Minute)
	for i := range 3 {
		mustReserveOK(t, s, k.key(fmt.Sprint("phone", i)), challenge(macA, now), []store.Limit{limit}, now)
	}
	r := mustReserve(t, s, k.key("phone-x"), challenge(macA, now), []store.Limit{limit}, now)
	wantRefused(t, "Reserve(4th in window of 3)", r, store.CheckLimit, base.Add(time.Hour))
	if r.LimitKey != limit.Key {
		t.Errorf("Reserve(4th in window of 3): LimitKey %q, want %q", r.LimitKey, limit.Key)
	}

	now = base.Add(time.Hour - time.Millisecond)
	r = mustReserve(t, s, k.key("phone-y"), challenge(macA, now), []store.Limit{limit}, now)
	wantRefused(t, "Reserve(just before window end)", r, store.CheckLimit, base.Add(time.Hour))

	now = base.Add(time.Hour)
	mustReserveOK(t, s, k.key("phone-z"), challenge(macA, now), []store.Limit{limit}, now)
}

func testCounterWindowsAreAligned(t *testing.T, s store.Store, k keys) {
	// Two limits under one key with different windows count separately.
	hourly := k.limit("phone", 1, time.Hour)
	daily := k.limit("phone", 2, 24*time.Hour)
	limits := []store.Limit{hourly, daily}
	now := base
	mustReserveOK(t, s, k.key("a"), challenge(macA, now), limits, now)
	r := mustReserve(t, s, k.key("b"), challenge(macA, now), limits, now)
	wantRefused(t, "Reserve(2nd in hour)", r, store.CheckLimit, base.Add(time.Hour))

	now = base.Add(time.Hour)
	mustReserveOK(t, s, k.key("c"), challenge(macA, now), limits, now)
	now = base.Add(2 * time.Hour)
	r = mustReserve(t, s, k.key("d"), challenge(macA, now), limits, now)
	// The RetryAt of the daily window tells which counter refused.
	_, dayEnd := store.Window(now, 24*time.Hour)
	wantRefused(t, "Reserve(3rd in day)", r, store.CheckLimit, dayEnd)
}

func testGlobalCounterAcrossKeys(t *testing.T, s store.Store, k keys) {
	budget := k.limit("global-daily", 5, 24*time.Hour)
	now := base
	for i := range 5 {
		key := k.key(fmt.Sprint("phone", i))
		limits := []store.Limit{k.limit("phone:"+key, 10, time.Hour), budget}
		mustReserveOK(t, s, key, challenge(macA, now), limits, now)
		now = now.Add(time.Minute)
	}
	r := mustReserve(t, s, k.key("phone-late"), challenge(macA, now),
		[]store.Limit{k.limit("phone:late", 10, time.Hour), budget}, now)
	_, end := store.Window(now, 24*time.Hour)
	wantRefused(t, "Reserve(over daily budget)", r, store.CheckLimit, end)
	if r.LimitKey != budget.Key {
		t.Errorf("Reserve(over daily budget): LimitKey %q, want %q", r.LimitKey, budget.Key)
	}
	mustReserveOK(t, s, k.key("phone-tomorrow"), challenge(macA, end), []store.Limit{budget}, end)
}

func testRefusalChangesNothing(t *testing.T, s store.Store, k keys) {
	a := k.limit("a", 2, time.Hour)
	b := k.limit("b", 1, time.Hour)
	key := k.key("phone")
	mustReserveOK(t, s, k.key("other"), challenge(macA, base), []store.Limit{b}, base)

	// b refuses, so neither a is charged nor the challenge stored.
	r := mustReserve(t, s, key, challenge(macA, base), []store.Limit{a, b}, base)
	wantRefused(t, "Reserve(b full)", r, store.CheckLimit, base.Add(time.Hour))
	wantOutcome(t, "Verify after refused Reserve", mustVerify(t, s, key, macA, base), store.NotFound)

	// a still allows two.
	mustReserveOK(t, s, k.key("x"), challenge(macA, base), []store.Limit{a}, base)
	mustReserveOK(t, s, k.key("y"), challenge(macA, base), []store.Limit{a}, base)
	r = mustReserve(t, s, k.key("z"), challenge(macA, base), []store.Limit{a}, base)
	wantRefused(t, "Reserve(a full)", r, store.CheckLimit, base.Add(time.Hour))

	// A cooldown refusal does not charge counters either.
	c := k.limit("c", 2, time.Hour)
	mustReserveOK(t, s, k.key("cool"), challenge(macA, base), []store.Limit{c}, base)
	r = mustReserve(t, s, k.key("cool"), challenge(macB, base), []store.Limit{c}, base)
	wantRefused(t, "Reserve(cooldown)", r, store.CheckCooldown, base.Add(cooldown))
	mustReserveOK(t, s, k.key("cool2"), challenge(macA, base), []store.Limit{c}, base)
	wantOutcome(t, "Verify(first MAC) after refused resend", mustVerify(t, s, k.key("cool"), macA, base), store.Match)
}

func testRefusalOrder(t *testing.T, s store.Store, k keys) {
	full := k.limit("full", 0, time.Hour)
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	r := mustReserve(t, s, key, challenge(macA, base), []store.Limit{full}, base)
	wantRefused(t, "Reserve(cooldown and full limit)", r, store.CheckCooldown, base.Add(cooldown))

	first := k.limit("first", 0, time.Hour)
	second := k.limit("second", 0, 24*time.Hour)
	r = mustReserve(t, s, k.key("other"), challenge(macA, base), []store.Limit{first, second}, base)
	if r.LimitKey != first.Key {
		t.Errorf("Reserve(two full limits): LimitKey %q, want the first, %q", r.LimitKey, first.Key)
	}
}

func testZeroMaxRefuses(t *testing.T, s store.Store, k keys) {
	r := mustReserve(t, s, k.key("phone"), challenge(macA, base), []store.Limit{k.limit("closed", 0, time.Minute)}, base)
	wantRefused(t, "Reserve(Max 0)", r, store.CheckLimit, base.Add(time.Minute))
}

func testReleaseClearsCooldown(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	c := challenge(macA, base)
	mustReserveOK(t, s, key, c, nil, base)
	mustVerify(t, s, key, macB, base) // one wrong guess
	mustRelease(t, s, key, c.ID, nil, base, base.Add(time.Second))

	now := base.Add(2 * time.Second)
	r := mustReserveOK(t, s, key, challenge(macB, now), nil, now)
	if r.AttemptsLeft != attempts-1 {
		t.Errorf("Reserve after Release: AttemptsLeft %d, want %d (release keeps attempts)", r.AttemptsLeft, attempts-1)
	}
}

func testReleaseOtherChallenge(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	mustRelease(t, s, key, "some-other-challenge", nil, base, base.Add(time.Second))
	now := base.Add(2 * time.Second)
	r := mustReserve(t, s, key, challenge(macB, now), nil, now)
	wantRefused(t, "Reserve after Release(other ID)", r, store.CheckCooldown, base.Add(cooldown))

	mustRelease(t, s, k.key("never-reserved"), "x", nil, base, base)
}

func testReleaseRefunds(t *testing.T, s store.Store, k keys) {
	refunded := k.limit("refunded", 1, time.Hour)
	kept := k.limit("kept", 1, time.Hour)
	limits := []store.Limit{refunded, kept}
	c := challenge(macA, base)
	mustReserveOK(t, s, k.key("a"), c, limits, base)
	mustRelease(t, s, k.key("a"), c.ID, []store.Limit{refunded}, base, base.Add(time.Second))

	now := base.Add(2 * time.Second)
	mustReserveOK(t, s, k.key("b"), challenge(macA, now), []store.Limit{refunded}, now)
	r := mustReserve(t, s, k.key("c"), challenge(macA, now), []store.Limit{kept}, now)
	wantRefused(t, "Reserve(counter not refunded)", r, store.CheckLimit, base.Add(time.Hour))
}

func testReleaseRefundsReservationWindow(t *testing.T, s store.Store, k keys) {
	limit := k.limit("hourly", 1, time.Hour)
	reservedAt := base.Add(time.Hour - time.Second)
	c := challenge(macA, reservedAt)
	mustReserveOK(t, s, k.key("a"), c, []store.Limit{limit}, reservedAt)

	now := base.Add(time.Hour)
	mustReserveOK(t, s, k.key("b"), challenge(macA, now), []store.Limit{limit}, now)
	// The refund goes to the window of the reservation, not the current one.
	mustRelease(t, s, k.key("a"), c.ID, []store.Limit{limit}, reservedAt, now.Add(time.Second))
	later := now.Add(2 * time.Second)
	r := mustReserve(t, s, k.key("c"), challenge(macA, later), []store.Limit{limit}, later)
	wantRefused(t, "Reserve(current window after refund of previous)", r, store.CheckLimit, base.Add(2*time.Hour))
}

func testReleaseRefundFloor(t *testing.T, s store.Store, k keys) {
	limit := k.limit("hourly", 1, time.Hour)
	c := challenge(macA, base)
	mustReserveOK(t, s, k.key("a"), c, []store.Limit{limit}, base)
	// Refunding more often than charged must not open extra room.
	for range 3 {
		mustRelease(t, s, k.key("a"), c.ID, []store.Limit{limit}, base, base)
	}
	mustReserveOK(t, s, k.key("b"), challenge(macA, base), []store.Limit{limit}, base)
	r := mustReserve(t, s, k.key("c"), challenge(macA, base), []store.Limit{limit}, base)
	wantRefused(t, "Reserve(after repeated refunds)", r, store.CheckLimit, base.Add(time.Hour))
}

func testInvalidArguments(t *testing.T, s store.Store, k keys) {
	ctx := context.Background()
	ok := challenge(macA, base)
	expired := ok
	expired.ExpiresAt = base
	noAttempts := ok
	noAttempts.Attempts = 0
	noMAC := ok
	noMAC.MAC = nil
	noID := ok
	noID.ID = ""
	tests := []struct {
		name   string
		key    string
		c      store.Challenge
		limits []store.Limit
	}{
		{"empty key", "", ok, nil},
		{"expired challenge", k.key("a"), expired, nil},
		{"zero attempts", k.key("a"), noAttempts, nil},
		{"empty MAC", k.key("a"), noMAC, nil},
		{"empty ID", k.key("a"), noID, nil},
		{"limit without key", k.key("a"), ok, []store.Limit{{Max: 1, Window: time.Hour}}},
		{"limit without window", k.key("a"), ok, []store.Limit{{Key: k.key("l"), Max: 1}}},
		{"limit listed twice", k.key("a"), ok, []store.Limit{k.limit("l", 1, time.Hour), k.limit("l", 1, time.Hour)}},
	}
	for _, tt := range tests {
		_, err := s.Reserve(ctx, tt.key, tt.c, tt.limits, base)
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("Reserve(%s): error %v, want ErrInvalidArgument", tt.name, err)
		}
	}
	wantOutcome(t, "Verify after invalid Reserve calls", mustVerify(t, s, k.key("a"), macA, base), store.NotFound)

	if _, err := s.Verify(ctx, "", macA, base); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Verify(empty key): error %v, want ErrInvalidArgument", err)
	}
	if err := s.Release(ctx, "", "id", nil, base, base); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Release(empty key): error %v, want ErrInvalidArgument", err)
	}
	if err := s.Release(ctx, k.key("a"), "", nil, base, base); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Release(empty challenge ID): error %v, want ErrInvalidArgument", err)
	}
}

func testCancelledContext(t *testing.T, s store.Store, k keys) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	key := k.key("phone")
	if _, err := s.Reserve(ctx, key, challenge(macA, base), nil, base); err == nil {
		t.Fatal("Reserve(cancelled context): no error, want one")
	}
	wantOutcome(t, "Verify after cancelled Reserve", mustVerify(t, s, key, macA, base), store.NotFound)

	c := challenge(macA, base)
	mustReserveOK(t, s, key, c, nil, base)
	if _, err := s.Verify(ctx, key, macA, base); err == nil {
		t.Error("Verify(cancelled context): no error, want one")
	}
	if err := s.Release(ctx, key, c.ID, nil, base, base); err == nil {
		t.Error("Release(cancelled context): no error, want one")
	}
	wantOutcome(t, "Verify after cancelled calls", mustVerify(t, s, key, macA, base), store.Match)
}

func testMACIsCopied(t *testing.T, s store.Store, k keys) {
	mac := bytes.Clone(macA)
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(mac, base), nil, base)
	mac[0] ^= 0xff
	wantOutcome(t, "Verify(original MAC) after caller changed its slice", mustVerify(t, s, key, macA, base), store.Match)
}

const parallel = 50

// runParallel starts n goroutines that wait for one signal, so that the
// calls overlap as much as the scheduler allows.
func runParallel(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

func testConcurrentVerifyRightCode(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	results := make([]store.VerifyResult, parallel)
	errs := make([]error, parallel)
	runParallel(parallel, func(i int) {
		results[i], errs[i] = s.Verify(context.Background(), key, macA, base)
	})
	counts := map[store.Outcome]int{}
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("Verify #%d: error %v", i, errs[i])
		}
		counts[results[i].Outcome]++
	}
	if counts[store.Match] != 1 || counts[store.NotFound] != parallel-1 {
		t.Errorf("%d parallel Verify(right MAC): %d match, %d not found; want 1 and %d",
			parallel, counts[store.Match], counts[store.NotFound], parallel-1)
	}
}

func testConcurrentVerifyWrongCode(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	mustReserveOK(t, s, key, challenge(macA, base), nil, base)
	results := make([]store.VerifyResult, parallel)
	errs := make([]error, parallel)
	runParallel(parallel, func(i int) {
		results[i], errs[i] = s.Verify(context.Background(), key, macB, base)
	})
	counts := map[store.Outcome]int{}
	left := map[int]bool{}
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("Verify #%d: error %v", i, errs[i])
		}
		counts[results[i].Outcome]++
		if results[i].Outcome == store.Mismatch {
			left[results[i].AttemptsLeft] = true
		}
	}
	if counts[store.Mismatch] != attempts || counts[store.Burnt] != parallel-attempts {
		t.Errorf("%d parallel Verify(wrong MAC): %d mismatch, %d burnt; want %d and %d",
			parallel, counts[store.Mismatch], counts[store.Burnt], attempts, parallel-attempts)
	}
	for want := range attempts {
		if !left[want] {
			t.Errorf("%d parallel Verify(wrong MAC): no call saw AttemptsLeft %d; saw %v", parallel, want, left)
		}
	}
	wantOutcome(t, "Verify(right MAC) after parallel wrong guesses", mustVerify(t, s, key, macA, base), store.Burnt)
}

func testConcurrentReserveOneKey(t *testing.T, s store.Store, k keys) {
	key := k.key("phone")
	limit := k.limit("hourly", parallel, time.Hour)
	results := make([]store.Reservation, parallel)
	errs := make([]error, parallel)
	runParallel(parallel, func(i int) {
		results[i], errs[i] = s.Reserve(context.Background(), key, challenge(macA, base), []store.Limit{limit}, base)
	})
	stored := 0
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("Reserve #%d: error %v", i, errs[i])
		}
		if results[i].OK() {
			stored++
		} else if results[i].Refused != store.CheckCooldown {
			t.Errorf("Reserve #%d: refused by %s, want cooldown", i, results[i].Refused)
		}
	}
	if stored != 1 {
		t.Errorf("%d parallel Reserve(same key): %d stored, want 1", parallel, stored)
	}
	// Only the stored reservation was charged: parallel-1 more fit the limit.
	for i := range parallel - 1 {
		mustReserveOK(t, s, k.key(fmt.Sprint("other", i)), challenge(macA, base), []store.Limit{limit}, base)
	}
}

func testConcurrentReserveSharedLimit(t *testing.T, s store.Store, k keys) {
	const max = 10
	limit := k.limit("budget", max, 24*time.Hour)
	results := make([]store.Reservation, parallel)
	errs := make([]error, parallel)
	runParallel(parallel, func(i int) {
		key := k.key(fmt.Sprint("phone", i))
		results[i], errs[i] = s.Reserve(context.Background(), key, challenge(macA, base), []store.Limit{limit}, base)
	})
	stored := 0
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("Reserve #%d: error %v", i, errs[i])
		}
		if results[i].OK() {
			stored++
		}
	}
	if stored != max {
		t.Errorf("%d parallel Reserve with shared limit %d: %d stored, want %d", parallel, max, stored, max)
	}
}
