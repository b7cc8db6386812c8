package tencent

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// requestIDRE is the form of a request ID kept in errors: Tencent's are
// UUIDs.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// cleanRequestID returns id, or "" when it is not of a request ID's form,
// so that a response cannot put arbitrary text into errors and logs.
func cleanRequestID(id string) string {
	if !requestIDRE.MatchString(id) {
		return ""
	}
	return id
}

// quoteUntrusted quotes at most 32 characters of s, with control
// characters escaped, for a message about a malformed value.
func quoteUntrusted(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	if r := []rune(s); len(r) > 32 {
		return strconv.QuoteToASCII(string(r[:32])) + "..."
	}
	return strconv.QuoteToASCII(s)
}

// maxMessageLength bounds the provider message kept in an error.
const maxMessageLength = 200

var (
	// digitGroupRE matches four or more digits of any script, alone or
	// split by spaces, dashes, dots, slashes or brackets, as codes and
	// phone numbers are written.
	digitGroupRE = regexp.MustCompile(`[+＋]?\p{Nd}(?:[\s\-./()]*\p{Nd}){3,}`)

	// longDigitsRE matches runs of digits long enough to be a phone
	// number. Error texts of net/http keep shorter runs, such as ports.
	longDigitsRE = regexp.MustCompile(`\+?\d{7,}`)

	// hexRunRE matches 32 or more hexadecimal digits: a TC3 signature, a
	// MAC or a key.
	hexRunRE = regexp.MustCompile(`[0-9A-Fa-f]{32,}`)
)

// redact removes from the provider's message the code, the given
// secrets, long hexadecimal strings such as a TC3 signature, and every
// group of four or more digits, which covers codes and phone numbers in
// any spelling. It replaces control and bidirectional formatting
// characters with spaces and bounds the length, so that an error string
// is safe to log even when Tencent, or something posing as it, echoes the
// request. The text of f.err, which comes from net/http, keeps short
// digit runs such as port numbers.
func (f *failure) redact(code string, secrets ...string) {
	// Control characters and invalid bytes become spaces before digits
	// are looked for, so that they cannot split a number into groups
	// too short to match.
	msg := printable(removeSecrets(f.message, code, secrets))
	msg = digitGroupRE.ReplaceAllString(msg, "[number]")
	if r := []rune(msg); len(r) > maxMessageLength {
		msg = string(r[:maxMessageLength]) + "..."
	}
	f.message = msg
	if f.err != nil {
		errText := f.err.Error()
		cleaned := longDigitsRE.ReplaceAllString(printable(removeSecrets(errText, code, secrets)), "[number]")
		if cleaned != errText {
			f.err = &redactedError{text: cleaned, err: f.err}
		}
	}
}

// removeSecrets replaces the secrets, the code and long hexadecimal runs
// in s.
func removeSecrets(s, code string, secrets []string) string {
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = hexRunRE.ReplaceAllString(s, "[redacted]")
	if len(code) >= 4 {
		s = strings.ReplaceAll(s, code, "[code]")
	}
	return s
}

// printable returns s as valid UTF-8 with control characters, line and
// paragraph separators and bidirectional formatting characters replaced
// by spaces, so that it cannot forge log lines or reorder text on screen.
func printable(s string) string {
	s = strings.ToValidUTF8(s, " ")
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, s)
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// redactedError keeps the chain of an error whose text was redacted.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
