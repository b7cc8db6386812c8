package templates

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func FuzzLocale(f *testing.F) {
	s, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	tags, _ := s.Languages()
	for _, seed := range [][2]string{
		{"", ""}, {"es-MX,es;q=0.9,en;q=0.5", ""}, {"zh-CN", "es"}, {"*", "und"}, {"en;q=0", "zh-Hant-TW"},
		{"!!garbage;;q=x", "x-private"}, {strings.Repeat("es,", 300), strings.Repeat("a-", 100)},
		{"es;q=1.0000000001", "zh-Hans-u-nu-hanidec"}, {"\x00", "\xff"}, {"en-US-x-twain", "sgn-BE-FR"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, accept, override string) {
		start := time.Now()
		loc := s.Locale(accept, override)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Locale(%.60q, %.60q) took %v", accept, override, d)
		}
		if !slices.Contains(tags, loc.Tag) {
			t.Fatalf("Locale(%q, %q) = %q, which has no catalog", accept, override, loc.Tag)
		}
		if loc.T("language.name") == "language.name" {
			t.Fatalf("Locale(%q, %q) has no messages", accept, override)
		}
	})
}

// TestLocaleLongInput checks that hostile Accept-Language headers and lang
// parameters cost little, whatever their length.
func TestLocaleLongInput(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		strings.Repeat("a-", 500_000), strings.Repeat("x", 1<<20), strings.Repeat("en-", 100_000) + "es",
		strings.Repeat("es;q=0.5,", 100_000),
	} {
		start := time.Now()
		s.Locale(in, "")
		s.Locale("", in)
		// Generous for the race detector on a busy machine; a parser
		// that is quadratic in the length takes minutes here.
		if d := time.Since(start); d > time.Second {
			t.Errorf("Locale with a %d-byte input took %v", len(in), d)
		}
	}
}
