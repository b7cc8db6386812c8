package latch

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/templates"
)

// numberState holds the number form's input, kept after an error, and the
// error message.
type numberState struct {
	Number   string
	Region   string
	ReturnTo string
	Error    string
}

// numberFields are the fields of phone.html.
type numberFields struct {
	Title        string
	Action       string
	ReturnTo     string
	Number       string
	Error        string
	Countries    []country
	OIDCURL      string
	ProviderName string
	AltURL       string
	AltLabel     string
}

// country is one option of the country list.
type country struct {
	Region   string
	Label    string
	Selected bool
}

// codeFields are the fields of phone-code.html.
type codeFields struct {
	Action     string
	Flow       string
	SentTo     string
	Hint       string
	Error      string
	Notice     string
	ResendWait string
}

func (f *phoneFlow) renderNumber(status int, st numberState) {
	a := f.a
	fields := numberFields{
		Title:    "phone.title",
		Action:   f.withLang(a.selfPath(f.r)),
		ReturnTo: st.ReturnTo,
		Number:   st.Number,
		Error:    st.Error,
	}
	if fields.ReturnTo == "" {
		fields.ReturnTo = a.cfg.Paths.AfterSignIn
	}
	region := st.Region
	if region == "" {
		region = a.phone.Codes.DefaultRegion()
	}
	fields.Countries = a.countries(f.loc.Tag, region)

	builtIn := f.next == nil && (f.purpose == otp.SignIn || f.purpose == otp.Register)
	switch {
	case f.purpose == otp.Register:
		fields.Title = "phone.signup_title"
	case !builtIn:
		fields.Title = "phone.verify_title"
	}
	if builtIn && a.oidc != nil {
		fields.OIDCURL = f.withLang(a.cfg.Paths.SignIn + signInQuery(fields.ReturnTo, a.cfg.Paths.AfterSignIn))
		fields.ProviderName = a.providerName
	}
	if builtIn && !a.phone.DisableSignUp {
		if f.purpose == otp.SignIn {
			fields.AltURL, fields.AltLabel = f.withLang(a.phonePath(otp.Register, fields.ReturnTo)), "phone.no_account"
		} else {
			fields.AltURL, fields.AltLabel = f.withLang(a.phonePath(otp.SignIn, fields.ReturnTo)), "phone.have_account"
		}
	}
	var langs []templates.Language
	if f.r.Method == http.MethodGet {
		var keep url.Values
		if fields.ReturnTo != a.cfg.Paths.AfterSignIn {
			keep = url.Values{"return_to": {fields.ReturnTo}}
		}
		langs = a.languageLinks(f.r, f.loc.Tag, keep)
	}
	a.renderPage(f.w, f.r, status, "phone.html", langs, fields)
}

func (f *phoneFlow) renderCode(status int, p pendingPhone, errMsg, notice string) {
	a := f.a
	n := a.phone.Codes.CodeLength()
	fields := codeFields{
		Action: f.withLang(a.selfPath(f.r)),
		Flow:   p.Flow,
		SentTo: f.loc.T("code.sent_to", n, formatPhone(p.Phone)),
		Hint:   f.loc.T("code.hint", n),
		Error:  errMsg,
		Notice: notice,
	}
	if wait := p.ResendAt.Sub(a.cfg.Now()); wait > 0 {
		fields.ResendWait = f.loc.N("code.resend_wait", int((wait+time.Second-1)/time.Second))
	}
	a.renderPage(f.w, f.r, status, "phone-code.html", nil, fields)
}

// signInQuery returns "?return_to=..." for a return-to other than the
// default, or "".
func signInQuery(returnTo, def string) string {
	if returnTo == "" || returnTo == def {
		return ""
	}
	return "?return_to=" + url.QueryEscape(returnTo)
}

// formatPhone writes an E.164 number in the international format people
// read, such as "+86 138 0013 8000", with no-break spaces so that the
// number is not split across lines.
func formatPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return e164
	}
	return strings.ReplaceAll(phonenumbers.Format(num, phonenumbers.INTERNATIONAL), " ", "\u00a0")
}

// countries returns the country list for a locale, with selected marked.
// Lists are built once per locale, sorted by the localized name.
func (a *Auth) countries(locale, selected string) []country {
	cached, ok := a.countryLists.Load(locale)
	if !ok {
		cached, _ = a.countryLists.LoadOrStore(locale, a.buildCountries(locale))
	}
	list := slices.Clone(cached.([]country))
	for i := range list {
		list[i].Selected = list[i].Region == selected
	}
	return list
}

func (a *Auth) buildCountries(locale string) []country {
	regions := a.phone.Codes.Regions()
	if regions == nil {
		for r := range phonenumbers.GetSupportedRegions() {
			regions = append(regions, r)
		}
	}
	tag := language.Make(locale)
	names := display.Regions(tag)
	list := make([]country, 0, len(regions))
	for _, r := range regions {
		name := r
		if region, err := language.ParseRegion(r); err == nil {
			if n := names.Name(region); n != "" {
				name = n
			}
		}
		list = append(list, country{Region: r, Label: fmt.Sprintf("%s (+%d)", name, otp.CountryCallingCode(r))})
	}
	c := collate.New(tag)
	slices.SortFunc(list, func(x, y country) int { return c.CompareString(x.Label, y.Label) })
	return list
}
