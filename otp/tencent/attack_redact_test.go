package tencent

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkit/latch/otp"
)

// signatureLike is a TC3 signature's shape, 64 hexadecimal digits.
const signatureLike = "3f1c5a0be9d24786c1f0a9e3b5d7c2e48a6f0b1d3c5e7092a4b6c8d0e2f41357"

// FuzzRedact puts a code, a phone number in several spellings, a secret
// and a signature into a provider message and an error text, at places
// the fuzzer chooses. Redact must remove all of them, and every character
// that could forge a log line.
func FuzzRedact(f *testing.F) {
	f.Add("refused: %c for %p", "secretvalue42", 123456)
	f.Add("%p%c%s%g", "AKIDabcdef012345", 0)
	f.Add("Authorization: TC3-HMAC-SHA256 Credential=%s/2030-01-01/sms/tc3_request, Signature=%g\nBody: {\"PhoneNumberSet\":[\"%p\"],\"TemplateParamSet\":[\"%c\"]}", "AKIDabcdef012345", 654321)
	f.Add("\u202e%c\u2066%p\x00%s", "k3yk3yk3y", 999999)
	f.Add("１２３４５６ and ١٣٨٠٠١٣٨٠٠٠", "zzzzzzzz", 123456)
	f.Add("000\xa40 and 12\x003456", "zzzzzzzz", 123456)
	f.Fuzz(func(t *testing.T, template, secret string, codeNumber int) {
		if len(secret) < 8 || strings.Trim(secret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return // real secrets and key IDs are long and alphanumeric
		}
		code := fmt.Sprintf("%06d", uint(codeNumber)%1_000_000)
		r := strings.NewReplacer("%c", code, "%p", "+86 138-0013-8000 (+8613800138000, 13800138000)", "%s", secret, "%g", signatureLike)
		text := r.Replace(template)
		orig := errors.New(text)
		f := &failure{message: text, err: orig}
		f.redact(code, secret)

		for name, v := range map[string]string{"message": f.message, "error": f.err.Error()} {
			for _, leak := range []string{code, "13800138000", secret, signatureLike} {
				if strings.Contains(v, leak) {
					t.Fatalf("redact(%q): %s %q still holds %q", text, name, v, leak)
				}
			}
			if i := strings.IndexFunc(v, unsafeRune); i >= 0 || !utf8.ValidString(v) {
				t.Fatalf("redact(%q): %s %q has a control character or invalid UTF-8", text, name, v)
			}
		}
		if digitGroupRE.MatchString(f.message) {
			t.Fatalf("redact(%q): message %q keeps a group of four or more digits", text, f.message)
		}
		if n := utf8.RuneCountInString(f.message); n > maxMessageLength+3 {
			t.Fatalf("redact(%q): message of %d characters, want at most %d", text, n, maxMessageLength+3)
		}
		if !errors.Is(f.err, orig) {
			t.Fatalf("redact(%q): the redacted error does not wrap the original", text)
		}
	})
}

func FuzzClassifyCode(f *testing.F) {
	for _, tt := range []string{"LimitExceeded.PhoneNumberDailyLimit", "InternalError", "InternalError.Timeout", "UnsupportedOperation.",
		"", "Ok", "ok", "LimitExceeded\n", "a.b", "Limit Exceeded", strings.Repeat("A", 200), "ResponseSizeLimitExceeded"} {
		f.Add(tt)
	}
	valid := regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]*)*$`)
	f.Fuzz(func(t *testing.T, code string) {
		reason, outcome, ok := classifyCode(code)
		if ok != (valid.MatchString(code) && len(code) <= maxCodeLength) {
			t.Fatalf("classifyCode(%q) accepted = %v, want acceptance only of Tencent's code form", code, ok)
		}
		if !ok && outcome != otp.OutcomeUnknown {
			t.Fatalf("classifyCode(%q) = %s for a malformed code, want an unknown outcome", code, outcome)
		}
		if ok && outcome == otp.OutcomeUnknown && !strings.HasPrefix(code, "InternalError") && !strings.HasPrefix(code, "ResponseSizeLimitExceeded") {
			t.Fatalf("classifyCode(%q) = unknown outcome, want a definite refusal outside InternalError", code)
		}
		if reason < otp.ReasonUnknown || reason > otp.ReasonUnavailable {
			t.Fatalf("classifyCode(%q) = reason %d, outside the defined reasons", code, reason)
		}
	})
}
