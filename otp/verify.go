package otp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"

	"github.com/latchkit/latch/store"
)

// VerifyRequest is a request to check a code.
type VerifyRequest struct {
	Phone   Phone
	Purpose Purpose

	// Code is the code as typed. Spaces, dashes and the digits of any
	// script (full-width, Arabic-Indic and so on) are accepted.
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
	res, err := s.store.Verify(ctx, s.challengeKey(req.Phone, req.Purpose), s.mac(req.Phone, req.Purpose, code), now)
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
