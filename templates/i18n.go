package templates

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// DefaultLocale is the language used when no requested language matches,
// and for keys that another catalog lacks.
const DefaultLocale = "en"

// maxAcceptLanguage bounds the Accept-Language header and the override that
// are parsed; longer values are ignored.
const maxAcceptLanguage = 512

// catalogs holds one message catalog per language.
type catalogs struct {
	tags    []language.Tag // DefaultLocale first
	names   []string       // the tags' canonical strings, in the same order
	byTag   map[string]map[string]string
	matcher language.Matcher
}

// loadCatalogs reads the built-in catalogs and merges custom's over them.
func loadCatalogs(custom fs.FS) (*catalogs, error) {
	c := &catalogs{byTag: map[string]map[string]string{}}
	if err := c.read(builtin); err != nil {
		return nil, err
	}
	if custom != nil {
		if err := c.read(custom); err != nil {
			return nil, err
		}
	}
	if _, ok := c.byTag[DefaultLocale]; !ok {
		return nil, fmt.Errorf("templates: no catalog for the default language %q", DefaultLocale)
	}

	c.names = append(c.names, DefaultLocale)
	for name := range c.byTag {
		if name != DefaultLocale {
			c.names = append(c.names, name)
		}
	}
	slices.Sort(c.names[1:])
	for _, name := range c.names {
		c.tags = append(c.tags, language.MustParse(name))
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// read merges every locales/*.json file of files into c.
func (c *catalogs) read(files fs.FS) error {
	names, err := fs.Glob(files, "locales/*.json")
	if err != nil {
		return fmt.Errorf("templates: listing catalogs: %w", err)
	}
	for _, name := range names {
		raw := strings.TrimSuffix(path.Base(name), ".json")
		tag, err := language.Parse(raw)
		if err != nil {
			return fmt.Errorf("templates: catalog %s is not named for a BCP 47 language tag: %w", name, err)
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return fmt.Errorf("templates: reading %s: %w", name, err)
		}
		var msgs map[string]string
		if err := json.Unmarshal(b, &msgs); err != nil {
			return fmt.Errorf("templates: catalog %s is not a JSON object of strings: %w", name, err)
		}
		key := tag.String()
		if c.byTag[key] == nil {
			c.byTag[key] = map[string]string{}
		}
		for k, v := range msgs {
			c.byTag[key][k] = v
		}
	}
	return nil
}

// Locale is the language chosen for one request, and its messages.
type Locale struct {
	// Tag is the BCP 47 tag of the language, such as "zh-Hans".
	Tag string

	lang     language.Tag
	msgs     map[string]string
	fallback map[string]string
}

// Locale picks the language for a request: the best match for override
// (the ?lang= query parameter) when there is one, or else the best match
// for the Accept-Language header, or else [DefaultLocale]. Both are matched
// alike, so ?lang=zh-TW picks what Accept-Language: zh-TW picks.
func (s *Set) Locale(acceptLanguage, override string) *Locale {
	c := s.catalogs
	var wanted []language.Tag
	if override != "" && len(override) <= maxAcceptLanguage {
		if t, err := language.Parse(override); err == nil {
			_, i, conf := c.matcher.Match(t)
			if conf != language.No {
				return s.locale(i)
			}
		}
	}
	if len(acceptLanguage) <= maxAcceptLanguage {
		wanted, _, _ = language.ParseAcceptLanguage(acceptLanguage)
	}
	_, i, conf := c.matcher.Match(wanted...)
	if conf == language.No {
		i = 0
	}
	return s.locale(i)
}

// Languages returns the tags and names of every language with a catalog,
// the default first.
func (s *Set) Languages() (tags, names []string) {
	for _, t := range s.catalogs.names {
		tags = append(tags, t)
		names = append(names, s.catalogs.byTag[t]["language.name"])
	}
	return tags, names
}

func (s *Set) locale(i int) *Locale {
	c := s.catalogs
	name := c.names[i]
	return &Locale{Tag: name, lang: c.tags[i], msgs: c.byTag[name], fallback: c.byTag[DefaultLocale]}
}

// T returns the message for key, formatted with args as [fmt.Sprintf]
// does. A key missing from the catalog falls back to English, and a key
// missing there too is returned as it is, so a gap shows on the page
// rather than breaking it.
func (l *Locale) T(key string, args ...any) string {
	msg, ok := l.msgs[key]
	if !ok {
		if msg, ok = l.fallback[key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// N returns the message for key in the plural form that the language uses
// for n: key + ".one", ".few", ".many" and so on, or key + ".other" when the
// catalog has no entry for that form. n is passed to the message before
// args.
func (l *Locale) N(key string, n int, args ...any) string {
	form := plural.Cardinal.MatchPlural(l.lang, n, 0, 0, 0, 0)
	name := key + "." + pluralNames[form]
	if _, ok := l.msgs[name]; !ok {
		name = key + ".other"
	}
	return l.T(name, append([]any{n}, args...)...)
}

var pluralNames = map[plural.Form]string{
	plural.Other: "other",
	plural.Zero:  "zero",
	plural.One:   "one",
	plural.Two:   "two",
	plural.Few:   "few",
	plural.Many:  "many",
}
