package otp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzNormalizeCode(f *testing.F) {
	for _, seed := range []string{
		"123456", " 123 456 ", "123-456", "１２３４５６", "\u3000123456\t", "12345", "1234567", "12a456",
		"+123456", "", "١٢٣٤٥٦", "12\u00a034\u00a056", "123456\n", "--------", strings.Repeat(" ", 60) + "1234",
		"\xff123456", "1\u202e23456",
	} {
		f.Add(seed, 6)
		f.Add(seed, 4)
	}
	f.Fuzz(func(t *testing.T, input string, length int) {
		length = MinCodeLength + abs(length)%(MaxCodeLength-MinCodeLength+1)
		code, ok := normalizeCode(input, length)

		// The digits typed, in ASCII, and whether anything else than digits
		// and the separators people copy from an SMS was typed.
		var digits []byte
		clean := true
		for _, r := range input {
			switch {
			case r >= '0' && r <= '9':
				digits = append(digits, byte(r))
			case unicode.Is(unicode.Nd, r):
				// TestDecimalValue checks decimalValue against the
				// digits' names.
				digits = append(digits, byte('0'+decimalValue(r)))
			case r == ' ' || r == '\t' || r == '\u00a0' || r == '\u3000' || r == '-':
			default:
				clean = false
			}
		}
		if !ok {
			if code != "" {
				t.Fatalf("normalizeCode(%q, %d) = %q, false; want an empty code with false", input, length, code)
			}
			if clean && len(digits) == length && len(input) <= 4*(length+8) {
				t.Fatalf("normalizeCode(%q, %d) rejected %d digits and separators", input, length, length)
			}
			return
		}
		if len(code) != length || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("normalizeCode(%q, %d) = %q, want %d ASCII digits", input, length, code, length)
		}
		if !clean || code != string(digits) {
			t.Fatalf("normalizeCode(%q, %d) = %q, want the typed digits %q and no other character", input, length, code, digits)
		}
		if again, ok := normalizeCode(code, length); !ok || again != code {
			t.Fatalf("normalizeCode(%q) = %q, %v; want it unchanged", code, again, ok)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}

// FuzzParsePhoneIn feeds numbers and region codes as a form posts them to
// a Service that allows four regions.
func FuzzParsePhoneIn(f *testing.F) {
	for _, seed := range []struct{ input, region string }{
		{"13800138000", "CN"}, {"13800138000", "cn"}, {"13800138000", " CN "}, {"13800138000", ""},
		{"(415) 555-2671", "US"}, {"(201) 555-0123", "US"}, {"07400 123456", "GB"}, {"5123 4567", "HK"},
		{"13800138000", "uſ"}, {"13800138000", "ＣＮ"}, {"13800138000", "C\nN"}, {"13800138000", "001"},
		{"13800138000", "ZZ"}, {"13800138000", "XX"}, {"13800138000", "FR"}, {"+881612345678", ""},
		{"+447700900123", "GB"}, {"+8613800138000", "US"}, {"\xff", "\xff"},
	} {
		f.Add(seed.input, seed.region)
	}
	svc, err := New(Config{Key: testKey, Sender: NewConsoleSender(io.Discard), DefaultRegion: "CN",
		AllowedRegions: []string{"CN", "US", "GB", "HK"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	allowed := svc.Regions()
	f.Fuzz(func(t *testing.T, input, region string) {
		call := fmt.Sprintf("ParsePhoneIn(%q, %q)", input, region)
		if cc, r := CountryCallingCode(region), strings.TrimSpace(region); cc != 0 && (len(r) != 2 || !isASCIILetter(r[0]) || !isASCIILetter(r[1])) {
			t.Fatalf("CountryCallingCode(%q) = %d, want a code only for two ASCII letters", region, cc)
		}
		p, err := svc.ParsePhoneIn(input, region)
		if err != nil {
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Fatalf("%s: error %T %v, want *PhoneError", call, err, err)
			}
			msg := err.Error()
			if len(msg) > 300 || strings.ContainsFunc(msg, isFormattingRune) || !utf8.ValidString(msg) {
				t.Fatalf("%s: error %q is long, invalid UTF-8 or has control characters", call, msg)
			}
			return
		}
		e := p.E164()
		if !e164RE.MatchString(e) {
			t.Fatalf("%s = %q, not E.164", call, e)
		}
		if !slices.Contains(allowed, p.Region()) {
			t.Fatalf("%s = %s of region %s, outside the allowed %v", call, e, p.Region(), allowed)
		}
		if r := reservedRange(e); r != "" {
			t.Fatalf("%s = %s, in %s", call, e, r)
		}
		if again, err := svc.ParsePhone(e); err != nil || again != p {
			t.Fatalf("ParsePhone(%s) = %s, %v; want the Phone of %s", e, again.E164(), err, call)
		}
	})
}

func FuzzMaskPhone(f *testing.F) {
	for _, seed := range []string{"+8613800138000", "+14155552671", "+8521234", "13800138000", "", "+", "+000123456789",
		"+86 138 0013 8000", "+８６１３８００１３８０００", "+861380013800012345678", "\xff+86"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := MaskPhone(s)
		if n := utf8.RuneCountInString(m); n != utf8.RuneCountInString(s) && !(!utf8.ValidString(s) && n == len(s)) {
			t.Fatalf("MaskPhone(%q) = %q, want one character per character of the input", s, m)
		}
		// At most a country calling code (1 to 3 digits) and four digits
		// stay visible.
		if shown := strings.Count(m, "") - 1 - strings.Count(m, "*"); shown > 8 {
			t.Fatalf("MaskPhone(%q) = %q shows %d characters, want at most '+', 3 and 4 digits", s, m, shown)
		}
	})
}

// FuzzScrubSendError checks that a code and a phone number put into a
// sender's error text in any spelling never survive scrubbing.
func FuzzScrubSendError(f *testing.F) {
	f.Add("send %c to %p failed", 123456, "+8613800138000")
	f.Add("%c%c%p%p", 0, "+14155552671")
	f.Add("code: 1 2 3 4 5 6 (%p)\n", 123456, "+447400123456")
	f.Add("%p-%c", 999999, "+85251234567")
	f.Add("13\x0080\u202e0138000 and 12\xff3456", 123456, "+8613800138000")
	f.Fuzz(func(t *testing.T, template string, codeNumber int, number string) {
		p, err := ParsePhone(number, "")
		if err != nil {
			return
		}
		code := fmt.Sprintf("%06d", abs(codeNumber)%1_000_000)
		national := strings.TrimPrefix(p.E164(), "+"+fmt.Sprint(p.CountryCode()))
		spellings := []string{code, p.E164(), national, spaced(code, " "), spaced(national, "-"), toFullWidth(code)}
		text := template
		for i, s := range spellings {
			text = strings.ReplaceAll(text, "%c", s)
			text = strings.ReplaceAll(text, "%p", spellings[(i+1)%len(spellings)])
		}
		out := newScrubber(code, p).text(text)
		if strings.ContainsFunc(out, isFormattingRune) {
			t.Fatalf("scrubbed %q to %q, which keeps a control character", text, out)
		}
		if r := utf8.RuneCountInString(out); r > maxScrubbedLength+3 {
			t.Fatalf("scrubbed text has %d characters, want at most %d", r, maxScrubbedLength+3)
		}
		// Replacements insert no digits, so a code or number left in the
		// output, even split by separators, is one the patterns missed.
		joined := joinDigits(out)
		for _, s := range []string{code, national} {
			if strings.Contains(joined, s) {
				t.Fatalf("scrubbed %q to %q, which still holds %q", text, out, s)
			}
		}
	})
}

// separatorsRE matches the separators between two digits, which
// FuzzScrubSendError removes to find split codes and numbers.
var separatorsRE = regexp.MustCompile(`([0-9])[\s\-.()]+([0-9])`)

// joinDigits removes the separators between digits in s.
func joinDigits(s string) string {
	for {
		joined := separatorsRE.ReplaceAllString(s, "$1$2")
		if joined == s {
			return s
		}
		s = joined
	}
}

// spaced returns s with sep between its characters.
func spaced(s, sep string) string {
	return strings.Join(strings.Split(s, ""), sep)
}
