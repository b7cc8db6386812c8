package otp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParsePhoneVariantsNormalizeAlike(t *testing.T) {
	tests := []struct {
		input, region, want string
	}{
		{"+8613800138000", "", "+8613800138000"},
		{"13800138000", "CN", "+8613800138000"},
		{"138 0013 8000", "CN", "+8613800138000"},
		{"138-0013-8000", "CN", "+8613800138000"},
		{"138.0013.8000", "CN", "+8613800138000"},
		{"(138) 0013 8000", "CN", "+8613800138000"},
		{"+86 (138) 0013-8000", "US", "+8613800138000"},
		{"008613800138000", "", "+8613800138000"},
		{"0086 138 0013 8000", "GB", "+8613800138000"},
		{"＋８６ １３８ ００１３ ８０００", "", "+8613800138000"},
		{"１３８００１３８０００", "cn", "+8613800138000"},
		{"\u3000+86\u00a0138\u20130013\u20148000 ", "", "+8613800138000"},
		{"+86［138］0013-8000", "", ""}, // full-width square brackets are not separators
		{"07400 123456", "GB", "+447400123456"},
		{"+44 (0)7400 123456", "", "+447400123456"},
		{"(415) 555-2671", "US", "+14155552671"},
		{"+852 5123 4567", "", "+85251234567"},
	}
	for _, tt := range tests {
		p, err := ParsePhone(tt.input, tt.region)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParsePhone(%q, %q) = %s, want an error", tt.input, tt.region, p.E164())
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePhone(%q, %q): %v", tt.input, tt.region, err)
			continue
		}
		if p.E164() != tt.want {
			t.Errorf("ParsePhone(%q, %q) = %s, want %s", tt.input, tt.region, p.E164(), tt.want)
		}
	}
}

func TestParsePhoneFields(t *testing.T) {
	p, err := ParsePhone("13800138000", "CN")
	if err != nil {
		t.Fatal(err)
	}
	if p.Region() != "CN" || p.CountryCode() != 86 || p.IsZero() {
		t.Errorf("ParsePhone(13800138000, CN): region %q, country code %d, zero %v; want CN, 86, false",
			p.Region(), p.CountryCode(), p.IsZero())
	}
	if q, _ := ParsePhone("+86 138-0013-8000", ""); q != p {
		t.Errorf("two spellings of one number parse to unequal Phones")
	}
}

func TestParsePhoneRejectsInvalid(t *testing.T) {
	tests := []struct {
		input, region string
		want          error
		detail        string
	}{
		{"", "CN", ErrInvalidPhone, "no digits"},
		{"+", "", ErrInvalidPhone, "no digits"},
		{"  -- ", "CN", ErrInvalidPhone, "no digits"},
		{"13800138000", "", ErrInvalidPhone, "no default region"},
		{"1380013800a", "CN", ErrInvalidPhone, "contains 'a'"},
		{"1-800-FLOWERS", "US", ErrInvalidPhone, "contains 'F'"},
		{"+86 138 0013 8000 ext 12", "", ErrInvalidPhone, "contains 'e'"},
		{"13800138000;ext=1", "CN", ErrInvalidPhone, "contains ';'"},
		{"86+13800138000", "", ErrInvalidPhone, "only at the start"},
		{"++8613800138000", "", ErrInvalidPhone, "only at the start"},
		{"+86 138 0013 8000 0000 0000", "", ErrInvalidPhone, "more than 17 digits"},
		{strings.Repeat(" ", 65) + "13800138000", "CN", ErrInvalidPhone, "longer than 64 characters"},
		{strings.Repeat("１", 300), "CN", ErrInvalidPhone, "longer than 64 characters"},
		{"+999 1234 5678", "", ErrInvalidPhone, "not a phone number"},
		{"+86 10 1234 5678 9", "", ErrInvalidPhone, "no such number"},
		{"+8521234", "", ErrInvalidPhone, ""},
		{"\xff\xfe", "CN", ErrInvalidPhone, "contains"},
	}
	for _, tt := range tests {
		_, err := ParsePhone(tt.input, tt.region)
		var pe *PhoneError
		if !errors.As(err, &pe) || !errors.Is(err, tt.want) {
			t.Errorf("ParsePhone(%q, %q): %v, want *PhoneError wrapping %v", tt.input, tt.region, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("ParsePhone(%q, %q): error %q, want it to contain %q", tt.input, tt.region, err, tt.detail)
		}
	}
}

func TestParsePhoneRejectsNonMobile(t *testing.T) {
	// Example numbers of libphonenumber's metadata for each type.
	tests := []struct {
		input, numberType string
	}{
		{"+449012345678", "premium-rate"},
		{"+19002345678", "premium-rate"},
		{"+448001234567", "toll-free"},
		{"+18002345678", "toll-free"},
		{"+868001234567", "toll-free"},
		{"+864001234567", "shared-cost"},
		{"+445512345678", "UAN"},
		{"+447640123456", "pager"},
		{"+445612345678", "VoIP"},
		{"+447012345678", "personal"},
		{"+49177991234567", "voicemail"},
		{"+441212345678", "fixed-line"},
		{"+861012345678", "fixed-line"},
	}
	for _, tt := range tests {
		_, err := ParsePhone(tt.input, "")
		var pe *PhoneError
		if !errors.As(err, &pe) || !errors.Is(err, ErrNotMobile) {
			t.Errorf("ParsePhone(%q): %v, want ErrNotMobile", tt.input, err)
			continue
		}
		if pe.NumberType != tt.numberType {
			t.Errorf("ParsePhone(%q): NumberType %q, want %q", tt.input, pe.NumberType, tt.numberType)
		}
		if strings.Contains(err.Error(), tt.input[1:]) {
			t.Errorf("ParsePhone(%q): error %q contains the number", tt.input, err)
		}
	}
	// Where the metadata cannot tell mobile from fixed-line, numbers pass.
	if _, err := ParsePhone("+12015550123", ""); err != nil {
		t.Errorf("ParsePhone(US FIXED_LINE_OR_MOBILE): %v", err)
	}
}

func TestPhoneErrorOmitsInput(t *testing.T) {
	_, err := ParsePhone("13800138000x", "CN")
	if err == nil || strings.Contains(err.Error(), "13800138000") {
		t.Errorf("ParsePhone(13800138000x): error %v, want one without the digits", err)
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+8613800138000", "+86*******8000"},
		{"+8613800000000", "+86*******0000"},
		{"+14155552671", "+1******2671"},
		{"+447400123456", "+44******3456"},
		{"+85251234567", "+852****4567"},
		{"+8521234", "+852****"},
		{"13800138000", "***********"},
		{"+86 138", "*******"},
		{"", ""},
		{"+", "*"},
		{"+000123456789", "*************"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPhonePrintsMasked(t *testing.T) {
	p, err := ParsePhone("+8613800138000", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{p.String(), fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s %q", p, p, p, p, p), p.LogValue().String()} {
		if strings.Contains(s, "13800138000") {
			t.Errorf("formatted Phone %q contains the full number", s)
		}
	}
	if p.Masked() != "+86*******8000" {
		t.Errorf("Masked() = %q, want +86*******8000", p.Masked())
	}
	if (Phone{}).Masked() != "" {
		t.Errorf("zero Phone Masked() = %q, want empty", (Phone{}).Masked())
	}
}

func FuzzParsePhone(f *testing.F) {
	for _, seed := range []string{
		"+8613800138000", "13800138000", "008613800138000", "＋８６ １３８ ００１３ ８０００",
		"(415) 555-2671", "+44 (0)7400 123456", "+449012345678", "+", "00", "++1", "1-800-FLOWERS",
		"+86 138 0013 8000 ext 12", "\u3000+86\u00a0138\u20130013\u20148000", "+999 1234 5678", "\xff",
	} {
		f.Add(seed, "CN")
		f.Add(seed, "")
	}
	f.Add("7400 123456", "GB")
	f.Fuzz(func(t *testing.T, input, region string) {
		p, err := ParsePhone(input, region)
		if err != nil {
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Fatalf("ParsePhone(%q, %q): error %T %v, want *PhoneError", input, region, err, err)
			}
			return
		}
		e := p.E164()
		if len(e) < 3 || e[0] != '+' || strings.Trim(e[1:], "0123456789") != "" {
			t.Fatalf("ParsePhone(%q, %q) = %q, not E.164", input, region, e)
		}
		if utf8.RuneCountInString(input) > MaxPhoneInputLength {
			t.Fatalf("ParsePhone accepted %d characters, more than %d", utf8.RuneCountInString(input), MaxPhoneInputLength)
		}
		again, err := ParsePhone(e, "")
		if err != nil || again != p {
			t.Fatalf("ParsePhone(%q) = %v, %v; want the same Phone as for %q", e, again.E164(), err, input)
		}
		if m := p.Masked(); strings.Contains(m, e[len(e)-5:]) || len(m) != len(e) {
			t.Fatalf("Masked() = %q for %q, want same length and the fifth-last digit hidden", m, e)
		}
	})
}
