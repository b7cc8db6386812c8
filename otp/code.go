package otp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode"
)

// Bounds of Config.CodeLength.
const (
	MinCodeLength     = 4
	MaxCodeLength     = 10
	DefaultCodeLength = 6
)

// GenerateCode returns a code of length decimal digits drawn uniformly from
// crypto/rand. Leading zeros are kept, so every code has exactly length
// digits. It returns an error when length is outside [MinCodeLength,
// MaxCodeLength].
func GenerateCode(length int) (string, error) {
	return generateCode(rand.Reader, length)
}

// generateCode draws from r by rejection sampling. Taking a uniform uint64
// modulo 10^length would favour small codes slightly, because 2^64 is not a
// multiple of 10^length; values in the incomplete last block are drawn
// again instead.
func generateCode(r io.Reader, length int) (string, error) {
	if length < MinCodeLength || length > MaxCodeLength {
		return "", fmt.Errorf("otp: code length %d is outside [%d, %d]", length, MinCodeLength, MaxCodeLength)
	}
	n := uint64(1)
	for range length {
		n *= 10
	}
	// 2^64 mod n; values above MaxUint64-rem belong to the incomplete block.
	rem := (math.MaxUint64%n + 1) % n
	var buf [8]byte
	for {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("otp: read random bytes: %w", err)
		}
		v := binary.LittleEndian.Uint64(buf[:])
		if v > math.MaxUint64-rem {
			continue
		}
		code := make([]byte, length)
		digits := strconv.AppendUint(nil, v%n, 10)
		for i := range code {
			code[i] = '0'
		}
		copy(code[length-len(digits):], digits)
		return string(code), nil
	}
}

// normalizeCode returns the code typed by a person as ASCII digits, with
// spaces and dashes removed and the digits of other scripts (full-width,
// Arabic-Indic, Devanagari and so on) mapped, or false if it cannot be a
// code of the given length.
func normalizeCode(input string, length int) (string, bool) {
	if len(input) > 4*(length+8) {
		return "", false
	}
	code := make([]byte, 0, length)
	for _, r := range input {
		switch {
		case r >= '0' && r <= '9':
			code = append(code, byte(r))
		case r == ' ' || r == '\t' || r == '\u00a0' || r == '\u3000' || r == '-':
			// Spaces and dashes that people copy from an SMS.
		case unicode.Is(unicode.Nd, r):
			// The digits that a phone's keyboard types in another script.
			code = append(code, byte('0'+decimalValue(r)))
		default:
			return "", false
		}
		if len(code) > length {
			return "", false
		}
	}
	if len(code) != length {
		return "", false
	}
	return string(code), true
}

// decimalValue returns the value of r, a decimal digit (Unicode category
// Nd). Unicode encodes every script's digits zero to nine as ten
// consecutive code points, and adjacent runs are whole, so the value is the
// number of digits just before r, modulo ten.
func decimalValue(r rune) int {
	n := 0
	for unicode.Is(unicode.Nd, r-rune(n)-1) {
		n++
	}
	return n % 10
}
