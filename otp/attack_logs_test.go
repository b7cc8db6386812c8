package otp

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// leakySender fails with errors that repeat the message it was given, as
// a careless provider client might: the code and the number in several
// spellings, and line breaks that would forge log records.
type leakySender struct {
	recordingSender
	outcome SendOutcome
	plain   bool // return a plain error, not a *SendError
}

func (l *leakySender) Send(ctx context.Context, m Message) error {
	l.recordingSender.Send(ctx, m)
	national := strings.TrimPrefix(m.Phone, "+86")
	text := fmt.Sprintf("send %s to %s (%s, %s-%s-%s) failed\n{\"level\":\"INFO\",\"msg\":\"forged\"}\u202e",
		m.Code, m.Phone, national, national[:3], national[3:7], national[7:])
	if l.plain {
		return errors.New(text)
	}
	return &SendError{
		Provider:  "leaky\nprovider",
		Reason:    ReasonInvalidNumber,
		Outcome:   l.outcome,
		Code:      "Bad\ncode " + m.Code,
		RequestID: m.Phone,
		Message:   text,
		Err:       fmt.Errorf("upstream: %s", text),
	}
}

func TestAttackSendErrorsScrubbed(t *testing.T) {
	for _, sender := range []*leakySender{
		{outcome: OutcomeNotSent}, {outcome: OutcomeUnknown}, {plain: true},
	} {
		rec := newLogRecorder()
		h := newHarness(t, func(c *Config) {
			c.Sender = sender
			c.Logger = slog.New(rec)
		})
		p := h.phone(t, "13800138000")
		_, err := h.issue(t, p, SignIn)
		code := sender.last(t).Code
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("Issue with a leaky sender = %v, want *SendError", err)
		}
		call := fmt.Sprintf("Issue with a leaky sender (outcome %s, plain %v)", sender.outcome, sender.plain)
		secrets := []string{code, "13800138000", "138-0013-8000"}
		wantNoLeak(t, call+": error", []string{err.Error(), se.Provider, se.Code, se.RequestID, se.Message}, secrets...)
		wantNoLeak(t, call+": logs", rec.strings(), secrets...)
		if !errors.Is(err, ErrSendFailed) {
			t.Errorf("%s: errors.Is(err, ErrSendFailed) = false", call)
		}
		if want := map[bool]SendOutcome{true: OutcomeUnknown, false: sender.outcome}[sender.plain]; se.Outcome != want {
			t.Errorf("%s: Outcome %s, want %s", call, se.Outcome, want)
		}
	}
}

func TestAttackLogsAcrossFlows(t *testing.T) {
	rec := newLogRecorder()
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(rec)
		c.AllowedRegions = []string{"CN"}
		c.Limits.GlobalDaily = 4
	})
	p := h.phone(t, "13800138000")
	var codes []string

	_, code := h.mustIssue(t, p, SignIn)
	codes = append(codes, code)
	h.verify(p, SignIn, wrongCode(code))
	h.verify(p, SignIn, code)
	h.verify(p, SignIn, code)
	_, code = h.mustIssue(t, p, Register)
	codes = append(codes, code)
	for range DefaultMaxAttempts + 1 {
		h.verify(p, Register, wrongCode(code))
	}
	h.issue(t, p, Register)
	h.clock.Advance(DefaultResendCooldown)
	h.sender.failNext(&SendError{Provider: "test", Reason: ReasonMisconfigured, Outcome: OutcomeNotSent})
	h.issue(t, p, ForgotPassword)
	h.sender.failNext(&SendError{Provider: "test", Reason: ReasonUnavailable, Outcome: OutcomeUnknown, Err: context.DeadlineExceeded})
	h.issue(t, p, Generic)
	for i := range 5 {
		h.issue(t, h.phone(t, fmt.Sprintf("1390013900%d", i)), SignIn) // up to the budget
	}
	h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: "Login\n{\"level\":\"ERROR\"}", ClientIP: clientIP})
	h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: SignIn,
		ClientIP: netip.MustParseAddr("2001:db8::1"), Locale: "en\n{\"msg\":\"forged\"}"})
	h.svc.ParsePhoneIn("13800138000", "C\nN")
	for _, m := range h.sender.msgs {
		codes = append(codes, m.Code)
	}
	h.clock.Advance(time.Hour)

	mac := h.svc.mac(p, SignIn, codes[0])
	secrets := append(codes, "13800138000", string(testKey), hex.EncodeToString(testKey),
		base64.StdEncoding.EncodeToString(testKey), hex.EncodeToString(mac), base64.StdEncoding.EncodeToString(mac), "forged")
	wantNoLeak(t, "logs", rec.strings(), secrets...)
	masked := false
	for _, r := range rec.all() {
		if r.attrs["phone"] == "+86*******8000" {
			masked = true
		}
	}
	if !masked {
		t.Errorf("no log record names the phone as +86*******8000; records: %v", rec.all())
	}
}

func TestAttackErrorsEscapeInput(t *testing.T) {
	// Errors may name an offending value, escaped and bounded, but never
	// the phone number, and never a character that could forge a line.
	h := newHarness(t, nil)
	p := h.phone(t, "13800138000")
	hostile := "\n{\"level\":\"ERROR\",\"msg\":\"forged\"}\u202e" + strings.Repeat("x", 300) + "13800138000"
	tests := []struct {
		call string
		err  error
	}{
		{"ParsePhoneIn(hostile region)", func() error { _, err := h.svc.ParsePhoneIn("13800138000", "CN"+hostile); return err }()},
		{"ParsePhoneIn(hostile number)", func() error { _, err := h.svc.ParsePhoneIn("13800138000"+hostile, "CN"); return err }()},
		{"ParsePhone(hostile region)", func() error { _, err := ParsePhone("13800138000", "C"+hostile); return err }()},
		{"Issue(hostile purpose)", func() error { _, err := h.issue(t, p, Purpose("SignIn"+hostile)); return err }()},
		{"Verify(hostile purpose)", h.verify(p, Purpose("SignIn"+hostile), "123456")},
		{"Verify(hostile code)", h.verify(p, SignIn, "123456"+hostile)},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error, want one", tt.call)
			continue
		}
		wantNoLeak(t, tt.call+": error", []string{tt.err.Error()}, "13800138000")
		if n := len(tt.err.Error()); n > 200 {
			t.Errorf("%s: error of %d bytes, want at most 200: %q", tt.call, n, tt.err)
		}
	}
}
