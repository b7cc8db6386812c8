package latch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Errors that [Auth.Authorize] returns; [Auth.Deny] turns each into its
// response.
var (
	// ErrNotSignedIn means the request has no signed-in user, or the
	// user's session ended because the provider revoked its grant.
	ErrNotSignedIn = errors.New("latch: not signed in")
	// ErrForbidden is wrapped by a [*ForbiddenError]: the user is signed
	// in but lacks a claim or scope that the route requires.
	ErrForbidden = errors.New("latch: forbidden")
	// ErrNoSession means the request did not pass through latch's session
	// middleware, a mistake in the program's setup.
	ErrNoSession = errors.New("latch: request has no latch session: wrap the handler with Auth.Wrap, Auth.Sessions or Auth.RequireAuth")
)

// ForbiddenError reports which requirement a signed-in user failed.
type ForbiddenError struct {
	// Requirement describes the failed requirement, such as
	// `claim "roles" in [admin]` or `scope "read:reports"`.
	Requirement string
}

func (e *ForbiddenError) Error() string { return "latch: forbidden: requires " + e.Requirement }

// Unwrap returns [ErrForbidden].
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// RequireOption is a requirement beyond being signed in; see
// [Auth.RequireAuth].
type RequireOption func(*requirements)

type requirements struct {
	claims []claimRequirement
	scopes []string
}

type claimRequirement struct {
	name   string
	values []string
}

// RequireClaim requires the claim name. With no values, the claim must be
// present and not false, null, "" or an empty array. With values, the
// claim must equal one of them or, for an array claim such as Logto's
// "roles", contain one of them. Numbers and booleans compare by their JSON
// text.
func RequireClaim(name string, values ...string) RequireOption {
	return func(r *requirements) {
		r.claims = append(r.claims, claimRequirement{name, values})
	}
}

// RequireScopes requires every scope listed to be among those the provider
// granted at sign-in or the latest refresh. Phone sign-ins hold no scopes.
func RequireScopes(scopes ...string) RequireOption {
	return func(r *requirements) { r.scopes = append(r.scopes, scopes...) }
}

// RequireAuth returns middleware that lets signed-in users through to next
// with [UserFrom] set, and refreshes an expired access token first when a
// refresh token is held (once per session, however many requests arrive at
// the same time). Anonymous browser navigations get a 302 to the sign-in
// page with a return_to back here; API requests (fetch or XMLHttpRequest,
// JSON clients, any method but GET and HEAD) get 401 with a small JSON body
// and never a redirect. Users failing an option get 403.
//
// RequireAuth includes the session middleware, and lets requests for
// latch's own routes through unchecked, so it may wrap a whole router
// without a redirect loop. The router must then serve those routes (see
// [Auth.Routes]); an error is logged when it does not. A path written with
// escapes, such as /sign%2Din, is checked like any other, since routers
// that match on the escaped path would send it to the application's own
// routes.
func (a *Auth) RequireAuth(next http.Handler, opts ...RequireOption) http.Handler {
	var req requirements
	for _, opt := range opts {
		opt(&req)
	}
	return a.Sessions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.isOwnRoute(r.URL.Path) && r.URL.EscapedPath() == r.URL.Path {
			next.ServeHTTP(w, r)
			if st := stateFrom(r.Context()); st != nil && !st.routeServed.Load() && a.unmountedLogged.CompareAndSwap(false, true) {
				a.log.ErrorContext(r.Context(), "latch: RequireAuth passed a request for one of latch's routes to the handler it wraps, which did not serve that route: mount Auth.Routes on the router, or wrap it with Auth.Wrap", "path", r.URL.Path)
			}
			return
		}
		if _, err := a.authorize(r, &req, false); err != nil {
			a.Deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// Require returns [Auth.RequireAuth] with opts as middleware, for routers
// whose Use or With takes a func(http.Handler) http.Handler, such as chi
// and gorilla/mux.
func (a *Auth) Require(opts ...RequireOption) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return a.RequireAuth(next, opts...)
	}
}

// Authorize decides whether the request may proceed: it returns the
// signed-in user, after refreshing an expired access token where it can,
// or an error: [ErrNotSignedIn], a [*ForbiddenError], [ErrNoSession], or a
// session store error. It is the decision [Auth.RequireAuth] makes, for
// frameworks that need it apart from the response. Pass its error to
// [Auth.Deny] to respond as RequireAuth does. The request must have passed
// through [Auth.Sessions]. A refreshed token is saved with the session
// when the response starts.
func (a *Auth) Authorize(r *http.Request, opts ...RequireOption) (*User, error) {
	var req requirements
	for _, opt := range opts {
		opt(&req)
	}
	return a.authorize(r, &req, true)
}

// authorize makes the decision of Authorize. The user record is decoded
// only when needUser is set or a requirement needs it, which keeps
// RequireAuth cheap for handlers that never call UserFrom.
func (a *Auth) authorize(r *http.Request, req *requirements, needUser bool) (*User, error) {
	ctx := r.Context()
	st := stateFrom(ctx)
	if st == nil || st.auth != a {
		return nil, ErrNoSession
	}
	record := st.userRecord(ctx)
	if record == nil {
		return nil, ErrNotSignedIn
	}
	oidc, ok := checkUserRecord(record)
	if !ok {
		a.log.WarnContext(ctx, "latch: unreadable user record; treating the session as signed out")
		a.sm.Remove(ctx, keyUser)
		return nil, ErrNotSignedIn
	}
	if oidc {
		if err := a.refreshIfNeeded(r); err != nil {
			return nil, err
		}
	}
	if !needUser && len(req.claims) == 0 && len(req.scopes) == 0 {
		return nil, nil
	}
	u, err := st.user(ctx)
	if err != nil || u == nil {
		a.log.WarnContext(ctx, "latch: unreadable user record; treating the session as signed out", "error", err)
		a.sm.Remove(ctx, keyUser)
		return nil, ErrNotSignedIn
	}
	if err := a.checkRequirements(r, u, req); err != nil {
		return nil, err
	}
	return u, nil
}

func (a *Auth) checkRequirements(r *http.Request, u *User, req *requirements) error {
	if len(req.scopes) > 0 {
		var granted []string
		if t, ok := TokensFrom(r.Context()); ok {
			granted = strings.Fields(t.Scope)
		}
		for _, s := range req.scopes {
			if !slices.Contains(granted, s) {
				return &ForbiddenError{Requirement: fmt.Sprintf("scope %q", s)}
			}
		}
	}
	if len(req.claims) == 0 {
		return nil
	}
	var claims map[string]json.RawMessage
	if err := u.Claims(&claims); err != nil {
		return &ForbiddenError{Requirement: "readable claims"}
	}
	for _, c := range req.claims {
		if !claimMatches(claims[c.name], c.values) {
			return &ForbiddenError{Requirement: fmt.Sprintf("claim %q in %v", c.name, c.values)}
		}
	}
	return nil
}

// claimMatches reports whether the JSON value raw meets a RequireClaim.
func claimMatches(raw json.RawMessage, values []string) bool {
	if len(raw) == 0 {
		return false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for _, item := range list {
			if claimMatches(item, values) {
				return true
			}
		}
		return len(values) == 0 && len(list) > 0
	}
	text := claimText(raw)
	if len(values) == 0 {
		return text != "false" && text != "null" && text != ""
	}
	return slices.Contains(values, text)
}

// claimText returns a scalar claim as text: a string unquoted, anything
// else as its JSON.
func claimText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Deny writes the response for an error from [Auth.Authorize]: a redirect
// to sign in or 401 for [ErrNotSignedIn], 403 for [ErrForbidden], and 503
// for a session store failure.
func (a *Auth) Deny(w http.ResponseWriter, r *http.Request, err error) {
	addVary(w.Header(), varyRequestKind)
	switch {
	case errors.Is(err, ErrNotSignedIn):
		if isNavigation(r) {
			redirect(w, a.signInURL(r), http.StatusFound)
			return
		}
		writeJSONBody(w, http.StatusUnauthorized, unauthenticatedBody)
	case errors.Is(err, ErrForbidden):
		a.log.InfoContext(r.Context(), "latch: access denied", "path", truncate(r.URL.Path, maxLoggedInput), "reason", err.Error())
		a.fail(w, r, http.StatusForbidden, pageForbidden)
	case errors.Is(err, ErrNoSession):
		a.log.ErrorContext(r.Context(), "latch: misconfigured route", "path", truncate(r.URL.Path, maxLoggedInput), "error", err)
		a.fail(w, r, http.StatusInternalServerError, pageUnavailable)
	default:
		a.storeFailed(w, r, "read", err)
	}
}

// signInURL returns the sign-in path with a return_to back to r, when r's
// URI is a safe one.
func (a *Auth) signInURL(r *http.Request) string {
	back := r.URL.RequestURI()
	if !isSafeReturnTo(back) || back == a.cfg.Paths.AfterSignIn {
		return a.signInPage()
	}
	// Built in one allocation: every anonymous navigation pays for it.
	page := a.signInPage()
	var b strings.Builder
	b.Grow(len(page) + len("?return_to=") + 3*len(back))
	b.WriteString(page)
	b.WriteString("?return_to=")
	writeQueryEscaped(&b, back)
	return b.String()
}

// writeQueryEscaped writes s escaped as url.QueryEscape does.
func writeQueryEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

// isOwnRoute reports whether path is one of latch's routes.
func (a *Auth) isOwnRoute(path string) bool {
	_, ok := a.routes[path]
	return ok
}

// statusText is used in logs where a numeric status reads poorly.
func statusText(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }
