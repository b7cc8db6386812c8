package otp

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// maxScrubbedLength bounds each text field of a SendError that Issue
// returns, in characters.
const maxScrubbedLength = 300

// scrubber removes one code and one phone number from texts that a Sender
// wrote, whatever the spelling.
type scrubber struct {
	code, phone *regexp.Regexp
}

// newScrubber returns a scrubber for code and p. A digit of either may be
// written in ASCII or full width, and separated from the next by spaces,
// dashes, dots or brackets. The phone may appear with or without its
// country calling code and "+" or "00", and with a "(0)" trunk prefix.
func newScrubber(code string, p Phone) *scrubber {
	cc := strconv.Itoa(p.CountryCode())
	national := strings.TrimPrefix(p.E164(), "+"+cc)
	phone := `(?:(?:[+＋]|0\s*0)?\s*` + digitsPattern(cc) + `[\s\-.()]*)?(?:\(?[0０]\)?[\s\-.]*)?` + digitsPattern(national)
	return &scrubber{
		code:  regexp.MustCompile(digitsPattern(code)),
		phone: regexp.MustCompile(phone),
	}
}

// digitsPattern returns a pattern for the digits of s in either width,
// with separators allowed between them.
func digitsPattern(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteString(`[\s\-.()]*`)
		}
		b.WriteString("[" + string(r) + string('０'+(r-'0')) + "]")
	}
	return b.String()
}

// text returns s without the phone number and the code, with control,
// line-separator and bidirectional formatting characters replaced by
// spaces, so that it cannot forge or hide log lines, and at most
// maxScrubbedLength characters long.
func (sc *scrubber) text(s string) string {
	// Formatting characters become spaces first, so that they cannot
	// split a code or number that the patterns would otherwise match.
	s = strings.Map(func(r rune) rune {
		if isFormattingRune(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = sc.phone.ReplaceAllString(s, "[phone]")
	s = sc.code.ReplaceAllString(s, "[code]")
	if r := []rune(s); len(r) > maxScrubbedLength {
		s = string(r[:maxScrubbedLength]) + "..."
	}
	return s
}

func isFormattingRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// sendError returns se with every text field scrubbed. Err keeps its
// chain for errors.Is and errors.As, but reports the scrubbed text.
func (sc *scrubber) sendError(se SendError) SendError {
	se.Provider = sc.text(se.Provider)
	se.Code = sc.text(se.Code)
	se.RequestID = sc.text(se.RequestID)
	se.Message = sc.text(se.Message)
	if se.Err != nil {
		if text := sc.text(se.Err.Error()); text != se.Err.Error() {
			se.Err = &scrubbedError{text: text, err: se.Err}
		}
	}
	return se
}

// scrubbedError is an error whose text had a code or phone number removed.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// localeRE is the syntax of a BCP 47 language tag, loosely: a language
// subtag of letters, then subtags of letters and digits, joined by
// hyphens.
var localeRE = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)

// maxLocaleLength is the tag length for which RFC 5646 (section 4.4.1)
// requires buffers to have room. Longer tags exist but are rare.
const maxLocaleLength = 35

// cleanLocale returns tag if it has the form of a BCP 47 language tag of
// at most maxLocaleLength characters, and "" otherwise.
func cleanLocale(tag string) string {
	if len(tag) > maxLocaleLength || !localeRE.MatchString(tag) {
		return ""
	}
	return tag
}
