package otp

import "regexp"

// reservedRanges are ranges of numbers that regulators keep out of service
// for films, books and tests, so that a number printed in one rings no
// subscriber. libphonenumber counts some of them as valid mobile numbers
// (NANP 555-01XX as FIXED_LINE_OR_MOBILE). No SMS to them can arrive, and
// a provider may still bill the attempt or count it against its limits.
//
// NOTE: the list holds the ranges whose reservation is documented by the
// numbering authority named; other countries reserve numbers too (for
// example Australia, a list of single mobile numbers), and are not
// covered.
var reservedRanges = []struct {
	name    string
	pattern *regexp.Regexp
}{
	// NANPA reserves 555-0100 to 555-0199 in every area code of the North
	// American Numbering Plan for fictional use.
	{"NANP 555-0100 to 555-0199", regexp.MustCompile(`^\+1[2-9][0-9]{2}55501[0-9]{2}$`)},
	// Ofcom reserves 07700 900000 to 07700 900999 for TV and radio drama.
	{"UK 07700 900000 to 07700 900999", regexp.MustCompile(`^\+447700900[0-9]{3}$`)},
}

// reservedRange returns the name of the reserved range that e164 is in, or
// "" when it is in none.
func reservedRange(e164 string) string {
	for _, r := range reservedRanges {
		if r.pattern.MatchString(e164) {
			return r.name
		}
	}
	return ""
}
