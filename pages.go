package latch

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkit/latch/templates"
)

// page is one of the short pages latch shows when a request cannot go on:
// a title and a message from the catalogs, an optional link, and the
// machine-readable code that API clients get instead.
type page struct {
	code    string // JSON "error" value
	title   string // catalog key
	message string // catalog key
	link    string // catalog key of the link label; "" for none
	target  func(a *Auth) string
}

func signInTarget(a *Auth) string { return a.signInPage() }
func homeTarget(a *Auth) string   { return a.cfg.Paths.AfterSignIn }

var (
	pageExpired     = page{"sign_in_expired", "error.expired.title", "error.expired.message", "action.sign_in_again", signInTarget}
	pageCancelled   = page{"access_denied", "error.cancelled.title", "error.cancelled.message", "action.try_again", signInTarget}
	pageProvider    = page{"provider_error", "error.provider.title", "error.provider.message", "action.try_again", signInTarget}
	pageTimeout     = page{"provider_timeout", "error.timeout.title", "error.timeout.message", "action.try_again", signInTarget}
	pageRejected    = page{"invalid_response", "error.rejected.title", "error.rejected.message", "action.sign_in_again", signInTarget}
	pageBadRequest  = page{"invalid_request", "error.bad_request.title", "error.bad_request.message", "action.home", homeTarget}
	pageForbidden   = page{"forbidden", "error.forbidden.title", "error.forbidden.message", "action.home", homeTarget}
	pageCrossSite   = page{"cross_site_request", "error.cross_site.title", "error.cross_site.message", "action.home", homeTarget}
	pageUnavailable = page{"temporarily_unavailable", "error.unavailable.title", "error.unavailable.message", "action.try_again", nil}
	pageMethod      = page{"method_not_allowed", "error.method.title", "error.method.message", "action.home", homeTarget}
)

// messageFields are the fields of message.html.
type messageFields struct {
	Title   string
	Message string
	Alert   bool
	Link    *linkFields
}

type linkFields struct {
	URL   string
	Label string
}

// fail ends the request with status and p: a JSON body for API clients, an
// HTML page for browsers.
func (a *Auth) fail(w http.ResponseWriter, r *http.Request, status int, p page) {
	if !acceptsHTML(r) {
		// JSON messages are in English: API clients log them, people
		// read the pages.
		writeJSONError(w, status, p.code, a.pages.Locale("", templates.DefaultLocale).T(p.message))
		return
	}
	fields := messageFields{Title: p.title, Message: p.message, Alert: status >= 400}
	if p.link != "" {
		// A link back to the request itself, as "Try again" is, must not
		// lead off the site for a request such as GET //host/x.
		target := SafeReturnTo(r.URL.RequestURI(), a.cfg.Paths.AfterSignIn)
		if p.target != nil {
			target = p.target(a)
		}
		fields.Link = &linkFields{URL: target, Label: p.link}
	}
	a.renderPage(w, r, status, "message.html", nil, fields)
}

// renderPage writes an HTML page with the security headers every latch
// page carries.
func (a *Auth) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, languages []templates.Language, fields any) {
	loc := a.locale(r)
	h := w.Header()
	setShared(h, "Content-Type", valueHTML)
	h.Set("Content-Security-Policy", a.csp)
	setShared(h, "X-Frame-Options", valueDeny)
	setShared(h, "X-Content-Type-Options", valueNoSniff)
	setShared(h, "Referrer-Policy", valueNoReferrer)
	setShared(h, "Cache-Control", valueNoStore)

	var body strings.Builder
	if err := a.pages.Render(&body, name, loc, languages, fields); err != nil {
		a.log.ErrorContext(r.Context(), "latch: rendering page failed", "page", name, "error", err)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Del("Content-Security-Policy")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("The page could not be shown.\n"))
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body.String()))
}

// locale picks the page language from ?lang= and Accept-Language.
func (a *Auth) locale(r *http.Request) *templates.Locale {
	return a.pages.Locale(r.Header.Get("Accept-Language"), r.URL.Query().Get("lang"))
}

// languageLinks returns links to the page that r requested in every other
// language, with the query parameters in keep, which the caller has
// checked, and nothing else from the request's query.
func (a *Auth) languageLinks(r *http.Request, current string, keep url.Values) []templates.Language {
	tags, names := a.pages.Languages()
	links := make([]templates.Language, 0, len(tags))
	for i, tag := range tags {
		if tag == current {
			continue
		}
		v := url.Values{}
		for k, vs := range keep {
			v[k] = vs
		}
		v.Set("lang", tag)
		links = append(links, templates.Language{Tag: tag, Name: names[i], URL: a.selfPath(r) + "?" + v.Encode()})
	}
	return links
}

// writeJSONError writes a small JSON error body, never a stack or an
// internal error text.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, message})
	writeJSONBody(w, status, append(body, '\n'))
}

// unauthenticatedBody is the body of every 401, made once.
var unauthenticatedBody = []byte(`{"error":"unauthenticated","message":"sign-in required"}` + "\n")

func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	setShared(h, "Content-Type", valueJSON)
	setShared(h, "Cache-Control", valueNoStore)
	setShared(h, "X-Content-Type-Options", valueNoSniff)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// acceptsHTML reports whether r is a browser navigation or form post that
// expects an HTML page. Requests made by scripts (fetch or XMLHttpRequest,
// as Sec-Fetch-Mode and X-Requested-With tell) and requests that do not
// accept text/html get JSON instead.
func acceptsHTML(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "", "navigate":
	default:
		return false
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isNavigation reports whether r is a browser loading a page: a GET or
// HEAD that accepts HTML. Only these are redirected to sign in; anything
// else gets 401, because a script cannot follow a redirect to a sign-in
// page.
func isNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && acceptsHTML(r)
}
