package otp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Message is one code to deliver.
//
// String, Format and LogValue hide the code and mask the phone, so that a
// Message that reaches a log by accident leaks neither.
type Message struct {
	// Phone is the recipient in E.164 form, such as "+8613800138000".
	Phone string

	// Code is the one-time code, in ASCII digits.
	Code string

	// Purpose selects the provider's template.
	Purpose Purpose

	// Locale is the user's language as a BCP 47 tag, such as "zh-Hans",
	// or empty. Senders with templates per language may use it.
	Locale string
}

// String returns a description without the code and with the phone masked.
func (m Message) String() string {
	return fmt.Sprintf("otp.Message{Phone: %s, Code: [hidden], Purpose: %s, Locale: %q}",
		MaskPhone(m.Phone), m.Purpose, m.Locale)
}

// Format prints String for every verb, including %#v and %+v.
func (m Message) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue returns the message for slog without the code.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("phone", MaskPhone(m.Phone)),
		slog.String("purpose", string(m.Purpose)),
		slog.String("locale", m.Locale),
	)
}

// Sender delivers codes. Implementations must be safe for concurrent use.
//
// Send must not retry a request that may have reached the provider, since
// a retry can deliver and bill two messages. On failure it should return a
// *SendError, whose Outcome decides whether Service keeps the resend
// cooldown. Service treats any other error as OutcomeUnknown. Service
// removes the code and the phone number from the error's text, in case the
// provider or the Sender repeated them.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// CodeLengthLimiter is implemented by senders whose provider accepts codes
// of limited length. New rejects a Config.CodeLength above the limit.
type CodeLengthLimiter interface {
	// MaxCodeLength returns the longest code, in digits, that the sender
	// can deliver.
	MaxCodeLength() int
}

// ConsoleSender is a development Sender that writes codes to a writer
// instead of sending SMS. Every message it writes states this and warns
// against production use, because it would show every user's code to
// anyone who reads the server's output.
type ConsoleSender struct {
	mu sync.Mutex
	w  io.Writer
}

// ConsoleWarning is the first line of every message that ConsoleSender
// writes.
const ConsoleWarning = "latch/otp: DEVELOPMENT SENDER, NO SMS SENT. Do not use otp.ConsoleSender in production."

// NewConsoleSender returns a ConsoleSender that writes to w, or to
// os.Stderr when w is nil.
func NewConsoleSender(w io.Writer) *ConsoleSender {
	if w == nil {
		w = os.Stderr
	}
	return &ConsoleSender{w: w}
}

// Send writes the warning line and then the code, phone, purpose and
// locale. A write error is returned as a *SendError with OutcomeNotSent.
func (c *ConsoleSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return &SendError{Provider: "console", Reason: ReasonUnavailable, Outcome: OutcomeNotSent, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.w, "%s\nlatch/otp: code %s for %s (purpose %s, locale %q)\n",
		ConsoleWarning, m.Code, m.Phone, m.Purpose, m.Locale)
	if err != nil {
		return &SendError{Provider: "console", Reason: ReasonUnavailable, Outcome: OutcomeNotSent, Err: err}
	}
	return nil
}
