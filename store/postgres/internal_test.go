package postgres

import (
	"strings"
	"testing"
)

func TestSchemaFileUsesDefaultNames(t *testing.T) {
	n, err := newNames("", "")
	if err != nil {
		t.Fatalf("newNames(defaults): %v", err)
	}
	// With the default names, the rewrite must be the identity apart from
	// quoting, so that schema.sql and Migrate create the same objects.
	got := strings.ReplaceAll(n.schemaSQL(), `"`, "")
	if got != schemaSQL {
		t.Error("schema.sql rewritten with the default names differs from schema.sql")
	}
}

// FuzzNames checks that every accepted schema and prefix is a plain
// identifier that fits PostgreSQL's limit, and that the rewritten schema
// names no default object and quotes every name it puts in.
func FuzzNames(f *testing.F) {
	for _, seed := range [][2]string{
		{"", ""}, {"public", "latch_"}, {"app", "site2_"}, {`a"b`, "x"}, {"x", `p"; DROP TABLE t; --`},
		{"1a", "_"}, {"ok", strings.Repeat("p", 38)}, {strings.Repeat("s", 64), "p"}, {"é", "p"}, {"s", "latch_x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, schema, prefix string) {
		n, err := newNames(schema, prefix)
		if err != nil {
			return
		}
		for _, name := range []string{schema, n.prefix} {
			if name != "" && (!identifier.MatchString(name) || len(name) > maxIdentifier) {
				t.Fatalf("newNames(%q, %q) accepted %q", schema, prefix, name)
			}
		}
		if len(n.prefix)+len(longestSuffix) > maxIdentifier {
			t.Fatalf("newNames(%q, %q) accepted a prefix too long for %q", schema, prefix, longestSuffix)
		}
		out := n.schemaSQL()
		if n.prefix != DefaultTablePrefix && strings.Contains(out, "latch_challenges ") {
			t.Fatalf("schema for (%q, %q) still creates latch_challenges", schema, prefix)
		}
		if want := `"` + n.prefix + `challenges"`; !strings.Contains(out, want) {
			t.Fatalf("schema for (%q, %q) does not contain %s", schema, prefix, want)
		}
		if strings.Count(out, "$$")%2 != 0 {
			t.Fatalf("schema for (%q, %q) has unbalanced $$ quotes", schema, prefix)
		}
	})
}
