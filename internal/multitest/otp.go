package multitest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store"
)

// Outbox is an otp.Sender that keeps every message instead of sending it.
// It is safe for concurrent use.
type Outbox struct {
	mu   sync.Mutex
	sent []otp.Message
}

// Send records m.
func (o *Outbox) Send(ctx context.Context, m otp.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

// Code returns the code of the last message sent to phone (in E.164), or
// "" when none was.
func (o *Outbox) Code(phone string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.sent) - 1; i >= 0; i-- {
		if o.sent[i].Phone == phone {
			return o.sent[i].Code
		}
	}
	return ""
}

// Len returns the number of messages sent.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sent)
}

var discardLogger = slog.New(slog.DiscardHandler)

// TestKey is the MAC key that every otp.Service of a test shares, as the
// replicas of one site must.
var TestKey = []byte("multitest key: 32 bytes or more, shared by instances")

// NewOTP returns an otp.Service on st that sends to outbox, with the clock
// and limits given. Services made with the same arguments but different
// store values act as replicas of one site.
func NewOTP(t testing.TB, st store.Store, outbox *Outbox, clock *Clock, limits otp.Limits) *otp.Service {
	t.Helper()
	s, err := otp.New(otp.Config{
		Key:           TestKey,
		Sender:        outbox,
		Store:         st,
		DefaultRegion: "CN",
		Limits:        limits,
		Now:           clock.Now,
		Logger:        discardLogger,
	})
	if err != nil {
		t.Fatalf("otp.New: %v", err)
	}
	return s
}

// RunOTP checks that otp.Service replicas sharing a backend act as one:
// a code issued through one verifies through the other once, and wrong
// attempts, the cooldown, the per-phone limit and the daily budget count
// across both. newStores returns n independent store values (separate
// connection pools) that share one namespace of the backend, fresh for
// each call, so the global counters of one subtest do not reach another.
func RunOTP(t *testing.T, newStores func(t testing.TB, n int) []store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, r *otpReplicas)
	}{
		{"CodeVerifiesOnOtherReplica", testCodeVerifiesOnOtherReplica},
		{"AttemptsShared", testAttemptsShared},
		{"CooldownShared", testCooldownShared},
		{"PhoneLimitShared", testPhoneLimitShared},
		{"BudgetShared", testBudgetShared},
		{"ConcurrentIssueBudget", testConcurrentIssueBudget},
		{"ConcurrentVerify", testConcurrentVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, &otpReplicas{newStores: newStores, outbox: &Outbox{},
				clock: NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))})
		})
	}
}

// otpReplicas makes the two replicas of one subtest.
type otpReplicas struct {
	newStores func(t testing.TB, n int) []store.Store
	outbox    *Outbox
	clock     *Clock
}

func (r *otpReplicas) start(t *testing.T, limits otp.Limits) (a, b *otp.Service) {
	t.Helper()
	stores := r.newStores(t, 2)
	return NewOTP(t, stores[0], r.outbox, r.clock, limits), NewOTP(t, stores[1], r.outbox, r.clock, limits)
}

// phone returns the i-th test number, each in its own 1,000-number prefix
// so that the prefix limit stays out of the way.
func phone(t *testing.T, s *otp.Service, i int) otp.Phone {
	t.Helper()
	p, err := s.ParsePhone(fmt.Sprintf("+86 139 %04d 0%03d", i, i%1000))
	if err != nil {
		t.Fatalf("ParsePhone(#%d): %v", i, err)
	}
	return p
}

func clientIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }

func issue(ctx context.Context, s *otp.Service, p otp.Phone, client int) error {
	_, err := s.Issue(ctx, otp.IssueRequest{Phone: p, Purpose: otp.SignIn, ClientIP: clientIP(client)})
	return err
}

func mustIssue(t *testing.T, name string, s *otp.Service, p otp.Phone) {
	t.Helper()
	if err := issue(context.Background(), s, p, 1); err != nil {
		t.Fatalf("Issue on replica %s: %v", name, err)
	}
}

func verify(s *otp.Service, p otp.Phone, code string) error {
	return s.Verify(context.Background(), otp.VerifyRequest{Phone: p, Purpose: otp.SignIn, Code: code})
}

func wantLimit(t *testing.T, call string, err error, want otp.Limit) {
	t.Helper()
	var le *otp.LimitError
	if !errors.As(err, &le) || le.Limit != want {
		t.Fatalf("%s: error %v, want a *LimitError for %s", call, err, want)
	}
}

// wrongCode returns a code of the right length that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func testCodeVerifiesOnOtherReplica(t *testing.T, r *otpReplicas) {
	a, b := r.start(t, otp.Limits{})
	p := phone(t, a, 1)
	mustIssue(t, "A", a, p)
	code := r.outbox.Code(p.E164())
	if err := verify(b, p, code); err != nil {
		t.Fatalf("Verify on replica B of the code issued on A: %v, want nil", err)
	}
	if err := verify(a, p, code); !errors.Is(err, otp.ErrNoCode) {
		t.Fatalf("second Verify, on replica A: %v, want ErrNoCode", err)
	}
}

func testAttemptsShared(t *testing.T, r *otpReplicas) {
	a, b := r.start(t, otp.Limits{MaxAttempts: 3})
	p := phone(t, a, 2)
	mustIssue(t, "A", a, p)
	code := r.outbox.Code(p.E164())
	for i, s := range []*otp.Service{a, b, a} {
		var verr *otp.VerifyError
		err := verify(s, p, wrongCode(code))
		if !errors.As(err, &verr) || !errors.Is(err, otp.ErrCodeMismatch) || verr.AttemptsLeft != 2-i {
			t.Fatalf("wrong code #%d: error %v, want a mismatch with %d attempts left", i+1, err, 2-i)
		}
	}
	if err := verify(b, p, code); !errors.Is(err, otp.ErrTooManyAttempts) {
		t.Fatalf("right code on B after 3 wrong ones across replicas: %v, want ErrTooManyAttempts", err)
	}
	r.clock.Advance(2 * time.Minute) // past the cooldown, not the expiry
	wantLimit(t, "Issue on B while the burnt code is live", issue(context.Background(), b, p, 1), otp.LimitAttempts)
}

func testCooldownShared(t *testing.T, r *otpReplicas) {
	a, b := r.start(t, otp.Limits{})
	p := phone(t, a, 3)
	mustIssue(t, "A", a, p)
	wantLimit(t, "Issue on B during A's cooldown", issue(context.Background(), b, p, 1), otp.LimitCooldown)
	r.clock.Advance(otp.DefaultResendCooldown)
	mustIssue(t, "B", b, p)
	if got := r.outbox.Len(); got != 2 {
		t.Errorf("messages sent: %d, want 2", got)
	}
}

func testPhoneLimitShared(t *testing.T, r *otpReplicas) {
	a, b := r.start(t, otp.Limits{PhoneHourly: 2, ResendCooldown: time.Second})
	p := phone(t, a, 4)
	mustIssue(t, "A", a, p)
	r.clock.Advance(time.Second)
	mustIssue(t, "B", b, p)
	r.clock.Advance(time.Second)
	wantLimit(t, "third Issue in the hour, on A", issue(context.Background(), a, p, 1), otp.LimitPhoneHourly)
	wantLimit(t, "third Issue in the hour, on B", issue(context.Background(), b, p, 1), otp.LimitPhoneHourly)
}

func testBudgetShared(t *testing.T, r *otpReplicas) {
	a, b := r.start(t, otp.Limits{GlobalDaily: 3})
	for i, s := range []*otp.Service{a, b, a} {
		mustIssue(t, fmt.Sprint("#", i), s, phone(t, a, 10+i))
	}
	for i, s := range []*otp.Service{a, b} {
		err := issue(context.Background(), s, phone(t, a, 20+i), 1)
		wantLimit(t, fmt.Sprintf("Issue beyond the budget on replica %d", i), err, otp.LimitGlobalDaily)
	}
}

func testConcurrentIssueBudget(t *testing.T, r *otpReplicas) {
	const budget, n = 5, 20
	a, b := r.start(t, otp.Limits{GlobalDaily: budget})
	phones := make([]otp.Phone, n)
	for i := range phones {
		phones[i] = phone(t, a, 100+i)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*otp.Service{a, b}[i%2]
			errs[i] = issue(context.Background(), s, phones[i], i)
		}()
	}
	wg.Wait()
	sent := 0
	for i, err := range errs {
		var le *otp.LimitError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &le) && le.Limit == otp.LimitGlobalDaily:
		default:
			t.Errorf("Issue #%d: %v, want nil or the global-daily limit", i, err)
		}
	}
	if sent != budget {
		t.Errorf("%d concurrent Issue calls across 2 replicas with a budget of %d: %d sent, want %d", n, budget, sent, budget)
	}
}

func testConcurrentVerify(t *testing.T, r *otpReplicas) {
	const n = 20
	a, b := r.start(t, otp.Limits{})
	p := phone(t, a, 5)
	mustIssue(t, "A", a, p)
	code := r.outbox.Code(p.E164())
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = verify([]*otp.Service{a, b}[i%2], p, code)
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, otp.ErrNoCode):
		default:
			t.Errorf("Verify #%d: %v, want nil or ErrNoCode", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent Verify calls of the right code across 2 replicas: %d succeeded, want 1", n, ok)
	}
}
