// Package templates holds latch's server-rendered pages: one layout, a
// small inline stylesheet, the page templates and their message catalogs,
// all embedded in the binary. The pages load no external assets and work
// without JavaScript.
//
// A site customizes them through [Options]: its name, logo and accent
// colour, and an [fs.FS] whose files replace the built-in files of the same
// name, one template, the stylesheet or a catalog at a time.
package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
)

//go:embed *.html style.css locales/*.json
var builtin embed.FS

// Pages are the page templates that a [Set] renders. Each is executed
// inside layout.html, which defines the "layout" template and the "title"
// and "content" blocks that a page overrides.
var Pages = []string{"message.html", "sign-out.html", "phone.html", "phone-code.html"}

// Options customize a [Set]. The zero value gives the built-in pages with
// the site name "Sign in".
type Options struct {
	// FS holds files that replace built-in ones of the same name:
	// layout.html and the page templates listed in [Pages], style.css,
	// and catalogs named locales/<BCP 47 tag>.json. A replaced catalog is
	// merged over the built-in one key by key. A catalog for a new tag
	// adds that language, with English for keys it lacks.
	FS fs.FS

	// SiteName is shown in the header and the window title. Empty means
	// "Sign in".
	SiteName string

	// LogoURL is the address of the logo shown beside the site name: an
	// https URL or a path on this site. Empty shows no logo. Its origin is
	// added to the pages' Content-Security-Policy img-src.
	LogoURL string

	// AccentColor is the colour of buttons, links and focus rings, as
	// "#rgb" or "#rrggbb". Empty means #1f6feb, which keeps white button
	// text above the WCAG AA contrast ratio.
	AccentColor string
}

const defaultAccent = "#1f6feb"

var accentPattern = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Set is a parsed set of pages, safe for concurrent use.
type Set struct {
	pages     map[string]*template.Template
	style     template.CSS
	styleHash string
	imgSrc    string
	site      Site
	catalogs  *catalogs
}

// Site holds the site's name and logo, which every page shows.
type Site struct {
	Name    string
	LogoURL string
}

// New parses the pages and catalogs, applying opts.
func New(opts Options) (*Set, error) {
	files := overlay{custom: opts.FS}
	s := &Set{site: Site{Name: opts.SiteName, LogoURL: opts.LogoURL}, imgSrc: "'self'"}
	if s.site.Name == "" {
		s.site.Name = "Sign in"
	}
	if err := s.setLogo(opts.LogoURL); err != nil {
		return nil, err
	}

	accent := opts.AccentColor
	if accent == "" {
		accent = defaultAccent
	}
	if !accentPattern.MatchString(accent) {
		return nil, fmt.Errorf("templates: AccentColor %q is not a colour of the form #rgb or #rrggbb", accent)
	}
	css, err := fs.ReadFile(files, "style.css")
	if err != nil {
		return nil, fmt.Errorf("templates: reading style.css: %w", err)
	}
	style := strings.ReplaceAll(strings.TrimSpace(string(css)), "ACCENT", accent)
	if strings.Contains(style, "</") {
		return nil, errors.New(`templates: style.css must not contain "</"`)
	}
	s.style = template.CSS(style)
	sum := sha256.Sum256([]byte(style))
	s.styleHash = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"

	if s.catalogs, err = loadCatalogs(opts.FS); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(files); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) setLogo(logo string) error {
	if logo == "" {
		return nil
	}
	if strings.HasPrefix(logo, "/") && !strings.HasPrefix(logo, "//") {
		return nil
	}
	u, err := url.Parse(logo)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("templates: LogoURL %q is neither an https URL nor a path on this site", logo)
	}
	s.imgSrc += " " + u.Scheme + "://" + u.Host
	return nil
}

func parsePages(files fs.FS) (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(files, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: reading layout.html: %w", err)
	}
	base, err := template.New("layout.html").Parse(string(layout))
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	pages := make(map[string]*template.Template, len(Pages))
	for _, name := range Pages {
		text, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("templates: reading %s: %w", name, err)
		}
		t, err := template.Must(base.Clone()).New(name).Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Data holds the values that every page template receives.
type Data struct {
	// Locale translates the page's text; templates call {{.T "key"}}.
	Locale *Locale
	// Site is the site's name and logo.
	Site Site
	// Style is the inline stylesheet.
	Style template.CSS
	// Languages are links to this page in the other languages.
	Languages []Language
	// Page holds the fields of the page being rendered.
	Page any
}

// Language is a link to the current page in another language.
type Language struct {
	Tag  string
	Name string
	URL  string
}

// T returns the message for key in the page's language; see [Locale.T].
func (d *Data) T(key string, args ...any) string {
	return d.Locale.T(key, args...)
}

// N returns the plural form of the message for key that suits n; see
// [Locale.N].
func (d *Data) N(key string, n int, args ...any) string {
	return d.Locale.N(key, n, args...)
}

// Render executes page (one of [Pages]) with loc and the page fields, and
// writes the HTML to w. The page is rendered into a buffer first, so a
// template error writes nothing.
func (s *Set) Render(w io.Writer, page string, loc *Locale, languages []Language, fields any) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("templates: no page named %q", page)
	}
	var buf bytes.Buffer
	data := &Data{Locale: loc, Site: s.site, Style: s.style, Languages: languages, Page: fields}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("templates: rendering %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// ContentSecurityPolicy returns the Content-Security-Policy for the pages.
// Nothing loads but the inline stylesheet (allowed by its hash) and the
// logo, and no page may be framed. Forms may post to this site and to
// formActions, the origins that a form's response may redirect to, because
// browsers apply form-action to those redirects too.
func (s *Set) ContentSecurityPolicy(formActions ...string) string {
	var b strings.Builder
	b.WriteString("default-src 'none'; style-src ")
	b.WriteString(s.styleHash)
	b.WriteString("; img-src ")
	b.WriteString(s.imgSrc)
	b.WriteString(" data:; form-action 'self'")
	for _, o := range formActions {
		b.WriteByte(' ')
		b.WriteString(o)
	}
	b.WriteString("; frame-ancestors 'none'; base-uri 'none'")
	return b.String()
}

// overlay reads a file from custom when it has one, and from the built-in
// files otherwise.
type overlay struct {
	custom fs.FS
}

func (o overlay) Open(name string) (fs.File, error) {
	if o.custom != nil {
		f, err := o.custom.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return builtin.Open(name)
}
