package otp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/runenames"
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

// TestGenerateCodeDistribution checks with chi-squared tests that codes
// from crypto/rand are uniform: each digit position, all digits pooled,
// and pairs of adjacent digits, which would show a correlation. The
// sample is fixed (100,000 codes of 6 digits) and the family of tests
// runs at a significance of 1e-9 in total, so a correct generator fails
// it about once in a billion runs whatever the random stream.
// TestChiSquareDetectsBias shows that the same tests catch a small bias.
func TestGenerateCodeDistribution(t *testing.T) {
	const samples, length = 100_000, 6
	codes := make([]string, samples)
	for i := range codes {
		code, err := GenerateCode(length)
		if err != nil {
			t.Fatal(err)
		}
		codes[i] = code
	}
	for _, f := range uniformityFailures(codes, length) {
		t.Error(f)
	}
}

// uniformityFailures runs the chi-squared tests of
// TestGenerateCodeDistribution on codes and describes each that rejects
// uniformity.
func uniformityFailures(codes []string, length int) []string {
	const familyAlpha = 1e-9
	tests := length + 2 // positions, pooled digits, adjacent pairs
	alpha := familyAlpha / float64(tests)

	positions := make([][]int, length)
	for i := range positions {
		positions[i] = make([]int, 10)
	}
	pooled := make([]int, 10)
	pairs := make([]int, 100)
	for _, code := range codes {
		for i := range length {
			d := int(code[i] - '0')
			positions[i][d]++
			pooled[d]++
			if i > 0 {
				pairs[int(code[i-1]-'0')*10+d]++
			}
		}
	}
	var failures []string
	check := func(name string, counts []int) {
		stat, df := chiSquare(counts)
		if p := chiSquareSF(stat, df); p < alpha {
			failures = append(failures, fmt.Sprintf("%s: chi-squared %.1f with %d degrees of freedom, p = %.2g, below %.2g; counts %v",
				name, stat, df, p, alpha, counts))
		}
	}
	for i, counts := range positions {
		check(fmt.Sprintf("digit position %d", i), counts)
	}
	check("all digits", pooled)
	check("adjacent pairs", pairs)
	return failures
}

// chiSquare returns Pearson's statistic for counts against equal
// expected counts, and its degrees of freedom.
func chiSquare(counts []int) (stat float64, df int) {
	total := 0
	for _, c := range counts {
		total += c
	}
	expected := float64(total) / float64(len(counts))
	for _, c := range counts {
		d := float64(c) - expected
		stat += d * d / expected
	}
	return stat, len(counts) - 1
}

// chiSquareSF returns the probability that a chi-squared variable with df
// degrees of freedom exceeds x: the regularized upper incomplete gamma
// function Q(df/2, x/2), from its series below df/2+1 and its continued
// fraction above (Numerical Recipes, 3rd edition, section 6.2).
func chiSquareSF(x float64, df int) float64 {
	a, z := float64(df)/2, x/2
	if z <= 0 {
		return 1
	}
	lgamma, _ := math.Lgamma(a)
	front := math.Exp(-z + a*math.Log(z) - lgamma)
	if z < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < 10_000 && term > sum*1e-16; n++ {
			term *= z / (a + float64(n))
			sum += term
		}
		return 1 - front*sum
	}
	const tiny = 1e-300
	b := z + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1; i < 10_000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		step := d * c
		h *= step
		if math.Abs(step-1) < 1e-16 {
			break
		}
	}
	return front * h
}

func TestChiSquareSF(t *testing.T) {
	// Reference values from mpmath 1.3 (gammainc, regularized, 30 digits).
	tests := []struct {
		x    float64
		df   int
		want float64
	}{
		{9, 9, 0.437274188914},
		{2, 9, 0.991467606629},
		{33.7199, 9, 1.00001951328e-4},
		{60.6603, 9, 1.00000372041e-9},
		{99, 99, 0.481096912408},
		{150, 99, 7.20445395717e-4},
		{207.898, 99, 9.99870314894e-10},
		{0.5, 1, 0.479500122187},
	}
	for _, tt := range tests {
		if got := chiSquareSF(tt.x, tt.df); math.Abs(got-tt.want) > 1e-9*tt.want {
			t.Errorf("chiSquareSF(%g, %d) = %.12g, want %.12g", tt.x, tt.df, got, tt.want)
		}
	}
}

func TestChiSquareDetectsBias(t *testing.T) {
	// Digits taken as a random byte modulo 10 favour 0 to 5 by 26/256
	// against 25/256, about 1.6%. The tests must catch it with the
	// sample size of TestGenerateCodeDistribution. The stream is seeded,
	// so the outcome is the same on every run.
	src := rand.NewChaCha8([32]byte{42})
	codes := make([]string, 100_000)
	var b [6]byte
	for i := range codes {
		src.Read(b[:])
		for j := range b {
			b[j] = '0' + b[j]%10
		}
		codes[i] = string(b[:])
	}
	if failures := uniformityFailures(codes, 6); len(failures) == 0 {
		t.Error("uniformity tests passed digits made as byte%10, want them to reject the bias")
	}
}

func TestGenerateCodeAcceptsWholeBlocks(t *testing.T) {
	// generateCode accepts uint64 values up to MaxUint64-rem and takes
	// them modulo 10^length. It is exactly uniform when the accepted
	// range, MaxUint64-rem+1 values, is a whole number of blocks of
	// 10^length.
	for length := MinCodeLength; length <= MaxCodeLength; length++ {
		n := uint64(math.Pow10(length))
		rem := (math.MaxUint64%n + 1) % n
		if accepted := math.MaxUint64 - rem; accepted%n != n-1 {
			t.Errorf("length %d: accepted range ends at %d, which is %d mod 10^%d, want 10^%d-1", length, accepted, accepted%n, length, length)
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
		{"١٢٣٤٥٦", "123456", true},
		{"۱۲۳ ۴۵۶", "123456", true},
		{"१२३४५६", "123456", true},
		{"𝟏𝟐𝟑𝟒𝟓𝟔", "123456", true},
		{"12345½", "", false},
		{"12345²", "", false},
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

// TestDecimalValue checks decimalValue against the name of every decimal
// digit that Go's Unicode tables know, which ends in the digit's value.
func TestDecimalValue(t *testing.T) {
	names := []string{"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"}
	checked := 0
	for _, rng := range unicode.Nd.R16 {
		for r := rune(rng.Lo); r <= rune(rng.Hi); r += rune(rng.Stride) {
			checkDecimalValue(t, r, names)
			checked++
		}
	}
	for _, rng := range unicode.Nd.R32 {
		for r := rune(rng.Lo); r <= rune(rng.Hi); r += rune(rng.Stride) {
			checkDecimalValue(t, r, names)
			checked++
		}
	}
	if checked < 600 {
		t.Errorf("checked %d digits, want every one of Unicode's more than 600", checked)
	}
}

func checkDecimalValue(t *testing.T, r rune, names []string) {
	t.Helper()
	name := runenames.Name(r)
	if name == "" {
		return // newer than the name table
	}
	if want := names[decimalValue(r)]; !strings.HasSuffix(name, " "+want) {
		t.Errorf("decimalValue(%U %s) = %d", r, name, decimalValue(r))
	}
}
