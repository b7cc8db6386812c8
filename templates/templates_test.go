package templates

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

type messageFields struct {
	Title, Message string
	Alert          bool
	Link           *struct{ URL, Label string }
}

func TestCatalogsComplete(t *testing.T) {
	read := func(name string) map[string]string {
		b, err := fs.ReadFile(builtin, "locales/"+name+".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	// Plural forms other than "other" exist only in languages that use
	// them: Chinese has no singular.
	pluralForm := regexp.MustCompile(`\.(zero|one|two|few|many)$`)
	en := read("en")
	for _, lang := range []string{"es", "zh-Hans"} {
		other := read(lang)
		for k := range en {
			if _, ok := other[k]; !ok && !pluralForm.MatchString(k) {
				t.Errorf("catalog %s lacks %q", lang, k)
			}
		}
		for k := range other {
			if _, ok := en[k]; !ok {
				t.Errorf("catalog %s has %q, which English lacks", lang, k)
			}
		}
	}
}

func TestLocaleChoice(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ accept, override, want string }{
		{"", "", "en"},
		{"es-MX,es;q=0.9,en;q=0.5", "", "es"},
		{"zh-CN,zh;q=0.9", "", "zh-Hans"},
		{"zh-Hans", "", "zh-Hans"},
		{"fr-FR", "", "en"},
		{"fr;q=0.9,es;q=0.8", "", "es"},
		{"es", "zh-Hans", "zh-Hans"},
		{"es", "klingon!!", "es"},
		{"es", "fr", "es"},
		// ?lang= and Accept-Language match alike.
		{"zh-TW", "", "zh-Hans"},
		{"", "zh-TW", "zh-Hans"},
		{"es", "zh-Hant", "zh-Hans"},
		{"", "es-MX", "es"},
		{"!!garbage;;q=x", "", "en"},
		{strings.Repeat("es,", 300), "", "en"},
	}
	for _, tt := range tests {
		if got := s.Locale(tt.accept, tt.override).Tag; got != tt.want {
			t.Errorf("Locale(%q, %q) = %s, want %s", tt.accept, tt.override, got, tt.want)
		}
	}
}

func TestRenderEscapesAndLocalizes(t *testing.T) {
	s, err := New(Options{SiteName: `Shop <script>`})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fields := struct{ Name, Action, Cancel string }{`<img src=x onerror=alert(1)>`, "/sign-out", "/"}
	if err := s.Render(&b, "sign-out.html", s.Locale("", "es"), nil, fields); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`lang="es"`, "¿Quieres cerrar la sesión?", "&lt;img src=x onerror=alert(1)&gt;", "Shop &lt;script&gt;", `name="viewport"`} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<img src=x") || strings.Contains(out, "<script>") {
		t.Errorf("rendered page contains unescaped input:\n%s", out)
	}
}

func TestStyleHashMatchesCSP(t *testing.T) {
	s, err := New(Options{AccentColor: "#abc", LogoURL: "https://cdn.example/logo.svg"})
	if err != nil {
		t.Fatal(err)
	}
	csp := s.ContentSecurityPolicy("https://id.example")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-", "img-src 'self' https://cdn.example data:", "form-action 'self' https://id.example", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if !strings.Contains(string(s.style), "--accent:#abc") {
		t.Errorf("stylesheet lacks the accent colour")
	}
}

func TestOverrides(t *testing.T) {
	custom := fstest.MapFS{
		"message.html":    {Data: []byte(`{{define "content"}}<p>custom {{.T .Page.Message}}</p>{{end}}`)},
		"locales/es.json": {Data: []byte(`{"error.expired.message": "caducó"}`)},
		"locales/fr.json": {Data: []byte(`{"language.name": "Français", "error.expired.message": "expiré"}`)},
	}
	s, err := New(Options{FS: custom})
	if err != nil {
		t.Fatal(err)
	}
	render := func(lang string) string {
		var b strings.Builder
		f := messageFields{Title: "error.expired.title", Message: "error.expired.message"}
		if err := s.Render(&b, "message.html", s.Locale("", lang), nil, f); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if out := render("es"); !strings.Contains(out, "<p>custom caducó</p>") {
		t.Errorf("Spanish page with a replaced template and message:\n%s", out)
	}
	if got := s.Locale("", "es").T("error.expired.title"); got != "Este inicio de sesión ha caducado" {
		t.Errorf("Spanish title after merging a partial catalog = %q, want the built-in one", got)
	}
	if out := render("fr"); !strings.Contains(out, "<p>custom expiré</p>") {
		t.Errorf("French page:\n%s", out)
	}
	if got := s.Locale("", "fr").T("sign_out.title"); got != "Sign out" {
		t.Errorf("French message missing from its catalog = %q, want the English one", got)
	}
	if tags, _ := s.Languages(); strings.Join(tags, " ") != "en es fr zh-Hans" {
		t.Errorf("Languages = %v, want en first then the others sorted", tags)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"accent":        {AccentColor: "blue"},
		"accent css":    {AccentColor: "#fff;}body{"},
		"logo scheme":   {LogoURL: "javascript:alert(1)"},
		"logo relative": {LogoURL: "logo.png"},
		"bad template":  {FS: fstest.MapFS{"layout.html": {Data: []byte("{{define")}}},
		"bad catalog":   {FS: fstest.MapFS{"locales/es.json": {Data: []byte("[1]")}}},
		"bad tag":       {FS: fstest.MapFS{"locales/not a tag.json": {Data: []byte("{}")}}},
		"style break":   {FS: fstest.MapFS{"style.css": {Data: []byte("</style><script>")}}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New with a bad %s: no error", name)
		}
	}
}

func TestPlural(t *testing.T) {
	s, err := New(Options{FS: fstest.MapFS{"locales/en.json": {Data: []byte(`{"n.one": "%d try left", "n.other": "%d tries left"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	loc := s.Locale("", "en")
	if got := loc.N("n", 1); got != "1 try left" {
		t.Errorf("N(n, 1) = %q", got)
	}
	if got := loc.N("n", 3); got != "3 tries left" {
		t.Errorf("N(n, 3) = %q", got)
	}
	if got := loc.T("missing.key"); got != "missing.key" {
		t.Errorf("T of a missing key = %q, want the key", got)
	}
}
