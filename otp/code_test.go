package otp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestGenerateCodeLength(t *testing.T) {
	for length := MinCodeLength; length <= MaxCodeLength; length++ {
		code, err := GenerateCode(length)
		if err != nil {
			t.Fatalf("GenerateCode(%d): %v", length, err)
		}
		if len(code) != length || strings.Trim(code, "0123456789") != "" {
			t.Errorf("GenerateCode(%d) = %q, want %d digits", length, code, length)
		}
	}
	for _, length := range []int{-1, 0, 3, 11, 20} {
		if _, err := GenerateCode(length); err == nil {
			t.Errorf("GenerateCode(%d): no error, want one", length)
		}
	}
}

// uint64s returns a reader that yields the given values in order.
func uint64s(vs ...uint64) *bytes.Reader {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return bytes.NewReader(b)
}

func TestGenerateCodeKeepsLeadingZeros(t *testing.T) {
	code, err := generateCode(uint64s(42), 6)
	if err != nil || code != "000042" {
		t.Errorf("generateCode(42, 6) = %q, %v; want 000042", code, err)
	}
}

func TestGenerateCodeRejectsBiasedValues(t *testing.T) {
	// 2^64 mod 10^6 = 551616, so the largest 551616 values would make
	// codes 000000 to 551615 more likely; they must be drawn again.
	const n = 1_000_000
	rem := uint64(math.MaxUint64%n+1) % n
	if rem != 551616 {
		t.Fatalf("2^64 mod 10^6 = %d, test assumes 551616", rem)
	}
	first := uint64(math.MaxUint64) // in the incomplete block
	edge := uint64(math.MaxUint64) - rem + 1
	accepted := uint64(math.MaxUint64) - rem // last value of the last full block
	code, err := generateCode(uint64s(first, edge, accepted), 6)
	if err != nil {
		t.Fatalf("generateCode: %v", err)
	}
	if want := "999999"; code != want {
		t.Errorf("generateCode(two biased values, then MaxUint64-rem) = %q, want %q", code, want)
	}
	if _, err := generateCode(uint64s(first), 6); err == nil {
		t.Error("generateCode(only biased values): no error at end of input, want one")
	}
}

func TestGenerateCodeReadError(t *testing.T) {
	_, err := generateCode(bytes.NewReader([]byte{1, 2, 3}), 6)
	if err == nil || !strings.HasPrefix(err.Error(), "otp: read random bytes") {
		t.Errorf("generateCode(short reader): %v, want a read error", err)
	}
}

func TestGenerateCodeDistribution(t *testing.T) {
	// Each digit position should be uniform. With 20,000 codes of 4 digits
	// the chi-square statistic over 10 cells (9 degrees of freedom) exceeds
	// 33.7 with probability below 1e-4.
	const samples = 20_000
	var counts [4][10]int
	for range samples {
		code, err := GenerateCode(4)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			counts[i][code[i]-'0']++
		}
	}
	for pos := range 4 {
		chi := 0.0
		expected := float64(samples) / 10
		for _, c := range counts[pos] {
			chi += (float64(c) - expected) * (float64(c) - expected) / expected
		}
		if chi > 33.7 {
			t.Errorf("digit position %d: chi-square %.1f over counts %v, want below 33.7", pos, chi, counts[pos])
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"123456", "123456", true},
		{" 123 456 ", "123456", true},
		{"123-456", "123456", true},
		{"１２３４５６", "123456", true},
		{"\u3000123456\t", "123456", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12345a", "", false},
		{"+123456", "", false},
		{"", "", false},
		{strings.Repeat(" ", 100) + "123456", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeCode(tt.in, 6)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeCode(%q, 6) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestIssueRandomFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.random = failingReader{}
	_, err := h.issue(t, h.phone(t, "13800138000"), SignIn)
	if err == nil || !strings.Contains(err.Error(), "entropy exhausted") {
		t.Errorf("Issue with failing random source: %v, want the read error", err)
	}
	if n := h.sender.callCount(); n != 0 {
		t.Errorf("sender called %d times, want 0", n)
	}
}
