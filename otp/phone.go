package otp

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxPhoneInputLength is the maximum length, in characters, of the input to
// [ParsePhone]. It leaves room for separators around the 15 digits that
// E.164 allows, and keeps the parser's work bounded for hostile input.
const MaxPhoneInputLength = 64

// maxPhoneDigits is the most digits a number may have, counting a "00"
// international prefix: E.164 allows 15, and libphonenumber accepts 17.
const maxPhoneDigits = 17

// Phone is a phone number validated and normalized by [ParsePhone]. The
// zero Phone is invalid. Phones parsed from different spellings of one
// number are equal, so they share rate limits.
//
// String, LogValue and Format all print the masked form, so a Phone that
// reaches a log by accident does not reveal the number. Use E164 for the
// full number.
type Phone struct {
	e164        string
	region      string
	countryCode int
}

// E164 returns the number in E.164 form, such as "+8613800138000".
func (p Phone) E164() string { return p.e164 }

// Region returns the ISO 3166-1 region of the number, such as "CN".
func (p Phone) Region() string { return p.region }

// CountryCode returns the country calling code, such as 86.
func (p Phone) CountryCode() int { return p.countryCode }

// IsZero reports whether p is the zero Phone, which no parse returns.
func (p Phone) IsZero() bool { return p.e164 == "" }

// Masked returns the number with all digits but the country calling code
// and the last four replaced by '*', such as "+86*******8000".
func (p Phone) Masked() string {
	if p.IsZero() {
		return ""
	}
	return maskE164(p.e164, len(strconv.Itoa(p.countryCode)))
}

// String returns the masked number.
func (p Phone) String() string { return p.Masked() }

// LogValue returns the masked number, so that slog never logs it in full.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.Masked()) }

// Format prints the masked number for every verb, including %#v.
func (p Phone) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(p.Masked())) }

// ParsePhone validates a phone number typed by a person and returns it
// normalized. A number that starts with '+' or "00" is international; any
// other is read as a national number of defaultRegion (an ISO 3166-1 code
// such as "CN"), and is invalid when defaultRegion is empty.
//
// The input may contain spaces, dashes, dots and brackets, full-width
// digits (U+FF10 to U+FF19) and a full-width plus sign (U+FF0B). Letters,
// extensions, digits of other scripts and any other characters make it
// invalid. ParsePhone accepts only numbers that libphonenumber's metadata
// types as MOBILE or FIXED_LINE_OR_MOBILE; fixed-line, premium-rate,
// shared-cost, toll-free, UAN, voicemail, pager, VoIP, personal and
// unallocated numbers are rejected, and so are the numbers of satellite
// and other international networks (+870, +881, +882, +883 and the other
// country calling codes of no country), so that no SMS is ever paid for
// to them.
//
// Errors are *PhoneError values that wrap ErrInvalidPhone or ErrNotMobile.
// They never contain the input.
func ParsePhone(input, defaultRegion string) (Phone, error) {
	digits, international, err := cleanPhoneInput(input)
	if err != nil {
		return Phone{}, err
	}
	var num *phonenumbers.PhoneNumber
	if international {
		num, err = phonenumbers.Parse("+"+digits, "ZZ")
	} else {
		if defaultRegion == "" {
			return Phone{}, &PhoneError{Err: ErrInvalidPhone,
				Detail: "national number without a country calling code, and no default region is set"}
		}
		region, ok := normalizeRegion(defaultRegion)
		if !ok {
			return Phone{}, &PhoneError{Err: ErrInvalidPhone, Detail: "unknown default region " + quoteInput(defaultRegion)}
		}
		num, err = phonenumbers.Parse(digits, region)
	}
	if err != nil {
		return Phone{}, &PhoneError{Err: ErrInvalidPhone, Detail: "not a phone number (" + err.Error() + ")"}
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if !phonenumbers.IsValidNumber(num) {
		return Phone{}, &PhoneError{Err: ErrInvalidPhone, Region: region, Detail: "no such number in the numbering plan"}
	}
	if t := phonenumbers.GetNumberType(num); t != phonenumbers.MOBILE && t != phonenumbers.FIXED_LINE_OR_MOBILE {
		return Phone{}, &PhoneError{Err: ErrNotMobile, Region: region, NumberType: numberTypeName(t)}
	}
	if region == nonGeographicRegion {
		// Satellite phones (+870 Inmarsat, +881 Iridium and others) and
		// the shared codes of international networks (+882, +883) are
		// typed MOBILE, but an SMS to them costs many times a domestic
		// one, which makes them a favourite of toll fraud.
		return Phone{}, &PhoneError{Err: ErrNotMobile, Region: region, NumberType: "satellite or international network"}
	}
	return Phone{
		e164:        phonenumbers.Format(num, phonenumbers.E164),
		region:      region,
		countryCode: int(num.GetCountryCode()),
	}, nil
}

// cleanPhoneInput returns the digits of input and whether it is written in
// international form, or a *PhoneError.
func cleanPhoneInput(input string) (digits string, international bool, err error) {
	// A byte bound first, so that a huge input is rejected without
	// decoding it; a character takes at most 4 bytes in UTF-8.
	if len(input) > 4*MaxPhoneInputLength || utf8.RuneCountInString(input) > MaxPhoneInputLength {
		return "", false, &PhoneError{Err: ErrInvalidPhone,
			Detail: fmt.Sprintf("longer than %d characters", MaxPhoneInputLength)}
	}
	var b strings.Builder
	b.Grow(maxPhoneDigits + 1)
	n := 0
	for _, r := range input {
		switch {
		case r >= '0' && r <= '9':
			n++
			b.WriteRune(r)
		case r >= '０' && r <= '９': // U+FF10 to U+FF19
			n++
			b.WriteRune('0' + (r - '０'))
		case r == '+' || r == '＋': // U+FF0B
			if international || n > 0 {
				return "", false, &PhoneError{Err: ErrInvalidPhone, Detail: "'+' is allowed only at the start"}
			}
			international = true
		case isPhoneSeparator(r):
		default:
			return "", false, &PhoneError{Err: ErrInvalidPhone,
				Detail: fmt.Sprintf("contains %q, which is not a digit or separator", r)}
		}
		if n > maxPhoneDigits {
			return "", false, &PhoneError{Err: ErrInvalidPhone,
				Detail: fmt.Sprintf("more than %d digits", maxPhoneDigits)}
		}
	}
	digits = b.String()
	if !international && strings.HasPrefix(digits, "00") {
		// "00" is the international call prefix in most of the world,
		// and no national number starts with it.
		international = true
		digits = digits[2:]
	}
	if digits == "" {
		return "", false, &PhoneError{Err: ErrInvalidPhone, Detail: "no digits"}
	}
	return digits, international, nil
}

// nonGeographicRegion is libphonenumber's region code for the country
// calling codes of international networks, which belong to no country.
const nonGeographicRegion = "001"

// normalizeRegion returns region in upper case if it is two ASCII letters,
// after removing surrounding spaces, that libphonenumber lists as an ISO
// 3166-1 region. strings.ToUpper alone would also map letters such as
// U+017F (long s) to ASCII.
func normalizeRegion(region string) (string, bool) {
	r := strings.TrimSpace(region)
	if len(r) != 2 || !isASCIILetter(r[0]) || !isASCIILetter(r[1]) {
		return "", false
	}
	r = strings.ToUpper(r)
	return r, phonenumbers.GetSupportedRegions()[r]
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// quoteInput quotes at most 16 characters of a value that a caller passed
// in, with control characters escaped, for an error that names it.
func quoteInput(s string) string {
	if r := []rune(s); len(r) > 16 {
		return strconv.QuoteToASCII(string(r[:16])) + "..."
	}
	return strconv.QuoteToASCII(s)
}

func isPhoneSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00a0', '\u3000', // spaces, including no-break and ideographic
		'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\uff0d', // dashes
		'.', '\uff0e', // dots
		'(', ')', '[', ']', '\uff08', '\uff09': // brackets
		return true
	}
	return false
}

func numberTypeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed-line"
	case phonenumbers.TOLL_FREE:
		return "toll-free"
	case phonenumbers.PREMIUM_RATE:
		return "premium-rate"
	case phonenumbers.SHARED_COST:
		return "shared-cost"
	case phonenumbers.VOIP:
		return "VoIP"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "UAN"
	case phonenumbers.VOICEMAIL:
		return "voicemail"
	case phonenumbers.UNKNOWN:
		return "unallocated"
	}
	return "unknown type " + strconv.Itoa(int(t))
}

// MaskPhone returns a phone number fit for logs: for an E.164 number, the
// country calling code and the last four digits, with '*' for the digits
// between, such as "+86*******0000". Any other input is returned as one '*'
// per character, so that nothing of it leaks.
func MaskPhone(e164 string) string {
	if len(e164) < 2 || len(e164) > maxPhoneDigits+1 || e164[0] != '+' {
		return strings.Repeat("*", utf8.RuneCountInString(e164))
	}
	for i := 1; i < len(e164); i++ {
		if e164[i] < '0' || e164[i] > '9' {
			return strings.Repeat("*", utf8.RuneCountInString(e164))
		}
	}
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil || num.GetCountryCode() == 0 {
		return strings.Repeat("*", len(e164))
	}
	return maskE164(e164, len(strconv.Itoa(int(num.GetCountryCode()))))
}

// maskE164 masks an E.164 number whose country calling code has ccLen
// digits.
func maskE164(e164 string, ccLen int) string {
	head := 1 + ccLen
	if head > len(e164) {
		return strings.Repeat("*", len(e164))
	}
	rest := len(e164) - head
	keep := 4
	if rest <= keep {
		// Too short to keep four digits and still hide any: hide all.
		return e164[:head] + strings.Repeat("*", rest)
	}
	return e164[:head] + strings.Repeat("*", rest-keep) + e164[len(e164)-keep:]
}
