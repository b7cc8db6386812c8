package otp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"testing"
	"time"
)

type discardSender struct{}

func (discardSender) Send(context.Context, Message) error { return nil }

// BenchmarkHMACSHA256Code is the baseline: one HMAC-SHA256 of a 6-digit
// code under a 32-byte key, with a new HMAC state as a caller without
// pooling would make.
func BenchmarkHMACSHA256Code(b *testing.B) {
	code := []byte("123456")
	var sink []byte
	for b.Loop() {
		m := hmac.New(sha256.New, testKey)
		m.Write(code)
		sink = m.Sum(sink[:0])
	}
}

func newBenchService(b *testing.B, clock *fakeClock, sender Sender) *Service {
	b.Helper()
	huge := 1 << 30
	svc, err := New(Config{
		Key:           testKey,
		Sender:        sender,
		DefaultRegion: "CN",
		Logger:        slog.New(slog.DiscardHandler),
		Now:           clock.Now,
		Limits: Limits{
			MaxAttempts: huge, PhoneHourly: huge, PhoneDaily: huge, ClientHourly: huge,
			PrefixHourly: huge, CountryHourly: huge, GlobalDaily: huge,
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkIssue issues codes on the memory store with a sender that does
// nothing; the clock moves past the cooldown before each call.
func BenchmarkIssue(b *testing.B) {
	clock := &fakeClock{now: t0}
	svc := newBenchService(b, clock, discardSender{})
	p, err := ParsePhone("+8613800138000", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := IssueRequest{Phone: p, Purpose: SignIn, ClientIP: clientIP}
	for b.Loop() {
		clock.Advance(DefaultResendCooldown)
		if _, err := svc.Issue(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies a wrong code on the memory store: the MAC, the
// constant-time comparison and the attempt count, as under a guessing
// attack. Attempts are unlimited so that every call does the full work.
func BenchmarkVerify(b *testing.B) {
	clock := &fakeClock{now: t0}
	sender := &recordingSender{}
	svc := newBenchService(b, clock, sender)
	p, err := ParsePhone("+8613800138000", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.Issue(ctx, IssueRequest{Phone: p, Purpose: SignIn, ClientIP: clientIP}); err != nil {
		b.Fatal(err)
	}
	clock.Advance(time.Second)
	req := VerifyRequest{Phone: p, Purpose: SignIn, Code: wrongCode(sender.msgs[0].Code)}
	for b.Loop() {
		if err := svc.Verify(ctx, req); !errors.Is(err, ErrCodeMismatch) {
			b.Fatalf("Verify(wrong code): %v, want ErrCodeMismatch", err)
		}
	}
}
