package latch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// SignInOption customizes one sign-in route; see [Auth.SignInHandler].
type SignInOption func(*signInOptions)

type signInOptions struct {
	firstScreen string
	identifier  string
	prompt      string
	scopes      []string
	resources   []string
}

// WithFirstScreen sets Logto's first_screen parameter, which selects the
// screen that Logto opens on: "sign_in", "register" (the sign-up form),
// "reset_password", "identifier:sign_in", "identifier:register" or
// "single_sign_on". Other providers ignore it.
func WithFirstScreen(screen string) SignInOption {
	return func(o *signInOptions) { o.firstScreen = screen }
}

// WithPrompt sends the OpenID Connect prompt parameter, such as "login" to
// make the provider ask for credentials again or "consent".
func WithPrompt(prompt string) SignInOption {
	return func(o *signInOptions) { o.prompt = prompt }
}

// WithScopes requests scopes beyond Config.Scopes, for example to ask for
// access to an API only where the application needs it.
func WithScopes(scopes ...string) SignInOption {
	return func(o *signInOptions) { o.scopes = append(o.scopes, scopes...) }
}

// WithResources requests access tokens for API resources (RFC 8707)
// beyond Config.Resources.
func WithResources(resources ...string) SignInOption {
	return func(o *signInOptions) { o.resources = append(o.resources, resources...) }
}

// firstScreens are the values of Logto's first_screen parameter.
var firstScreens = []string{"sign_in", "register", "reset_password", "identifier:sign_in", "identifier:register", "single_sign_on"}

// maxHintLen bounds login_hint and identifier values taken from a query.
const maxHintLen = 256

func (o *signInOptions) check() error {
	if o.firstScreen != "" && !slices.Contains(firstScreens, o.firstScreen) {
		return fmt.Errorf("latch: first screen %q is not one of %v", o.firstScreen, firstScreens)
	}
	if o.prompt != "" && !validPrompt(o.prompt) {
		return fmt.Errorf("latch: prompt %q is not a space-separated list of none, login, consent and select_account", o.prompt)
	}
	for _, s := range o.scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || !isPrintableASCII(s) {
			return fmt.Errorf("latch: scope %q is not a valid scope token", s)
		}
	}
	for _, r := range o.resources {
		if err := checkAbsoluteURL("resource", r); err != nil {
			return err
		}
	}
	return nil
}

// SignInHandler returns the handler that starts a sign-in: it records a new
// attempt (state, nonce and PKCE verifier) in the session and redirects to
// the provider. [Auth.Wrap] serves it at Paths.SignIn; mount it yourself to
// offer variants, such as a sign-up link:
//
//	mux.Handle("/sign-up", auth.SignInHandler(latch.WithFirstScreen("register")))
//
// It reads these query parameters: return_to (a path on this site, see
// [SafeReturnTo]), first_screen, login_hint, identifier and prompt. An
// option given here takes precedence over the query. A user who is already
// signed in is sent straight to return_to unless the request carries a
// prompt. SignInHandler panics if an option is invalid, as a mistake in
// the program's setup.
func (a *Auth) SignInHandler(opts ...SignInOption) http.Handler {
	var o signInOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		panic(err)
	}
	return a.Sessions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.signIn(w, r, o)
	}))
}

func (a *Auth) signIn(w http.ResponseWriter, r *http.Request, o signInOptions) {
	if r.Method != http.MethodGet {
		a.methodNotAllowed(w, r, http.MethodGet)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, pageBadRequest)
		return
	}
	returnTo := a.returnTo(q)
	if a.oidc == nil {
		// Phone sign-in alone: its page is the sign-in page.
		redirect(w, a.phonePagePath(a.cfg.Paths.PhoneSignIn, returnTo), http.StatusFound)
		return
	}
	if err := o.fromQuery(q); err != nil {
		a.log.InfoContext(r.Context(), "latch: sign-in request rejected", "reason", err.Error())
		a.fail(w, r, http.StatusBadRequest, pageBadRequest)
		return
	}

	ctx := r.Context()
	if u, _ := UserFrom(ctx); u != nil && o.prompt == "" {
		redirect(w, returnTo, http.StatusFound)
		return
	}

	a.keepShort(ctx)
	p := pendingSignIn{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Created:  a.cfg.Now(),
	}
	a.addPending(ctx, p)
	redirect(w, a.authURL(p, o, q.Get("login_hint"), q.Get("identifier")), http.StatusFound)
}

// returnTo returns the validated return_to of a query: a single value that
// is a safe path and not one of latch's own routes, or Paths.AfterSignIn.
func (a *Auth) returnTo(q url.Values) string {
	values := q["return_to"]
	if len(values) != 1 {
		return a.cfg.Paths.AfterSignIn
	}
	target := SafeReturnTo(values[0], "")
	if target == "" || a.isOwnRoute(routedPath(target)) {
		return a.cfg.Paths.AfterSignIn
	}
	return target
}

// pathOf returns the path of a target, without its query and fragment.
func pathOf(target string) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		return target[:i]
	}
	return target
}

// routedPath returns the path that net/http routes a request for target
// by: its path, percent-decoded once, so that "/sign%2Dout" counts as
// latch's "/sign-out".
func routedPath(target string) string {
	p := pathOf(target)
	if decoded, err := url.PathUnescape(p); err == nil {
		return decoded
	}
	return p
}

// redirectLocal redirects to target, a return-to value that latch checked
// when it received it, after checking it again: the value may have come
// back from a session store that someone else can write to.
func (a *Auth) redirectLocal(w http.ResponseWriter, target string, status int) {
	redirect(w, SafeReturnTo(target, a.cfg.Paths.AfterSignIn), status)
}

// selfPath returns the escaped path of r, for a link or redirect back to
// the page that r requested, or Paths.AfterSignIn when a browser would
// read that path as another site, as it would "//host/x".
func (a *Auth) selfPath(r *http.Request) string {
	if p := r.URL.EscapedPath(); isSafeReturnTo(p) {
		return p
	}
	return a.cfg.Paths.AfterSignIn
}

// fromQuery fills the options that the route did not fix from the query,
// rejecting invalid or repeated values.
func (o *signInOptions) fromQuery(q url.Values) error {
	// Every value is checked before use, so that the errors below, which
	// are logged, quote at most maxHintLen characters of input.
	for _, k := range []string{"first_screen", "prompt", "login_hint", "identifier", "interaction_mode"} {
		if len(q[k]) > 1 {
			return fmt.Errorf("query parameter %s is repeated", k)
		}
		if v := q.Get(k); len(v) > maxHintLen || !isPrintable(v) {
			return fmt.Errorf("query parameter %s is too long or has control characters", k)
		}
	}
	if o.firstScreen == "" {
		o.firstScreen = q.Get("first_screen")
		// interaction_mode=signUp is Logto's older way to ask for the
		// sign-up screen.
		if o.firstScreen == "" && q.Get("interaction_mode") == "signUp" {
			o.firstScreen = "register"
		}
	}
	if o.prompt == "" {
		o.prompt = q.Get("prompt")
	}
	for _, id := range strings.Fields(q.Get("identifier")) {
		if id != "username" && id != "email" && id != "phone" {
			return fmt.Errorf("identifier %q is not username, email or phone", id)
		}
	}
	return o.check()
}

// authURL builds the authorization request. url.Values escapes every
// parameter.
func (a *Auth) authURL(p pendingSignIn, o signInOptions, loginHint, identifier string) string {
	v := url.Values{
		"response_type": {"code"},
		"client_id":     {a.cfg.ClientID},
		"redirect_uri":  {a.oidc.oauth.RedirectURL},
		"scope":         {strings.Join(appendUnique(a.oidc.oauth.Scopes, o.scopes), " ")},
		"state":         {p.State},
		"nonce":         {p.Nonce},
	}
	if a.oidc.supportsPKCE() {
		v.Set("code_challenge", oauth2.S256ChallengeFromVerifier(p.Verifier))
		v.Set("code_challenge_method", "S256")
	}
	prompt := o.prompt
	if prompt == "" {
		prompt = a.cfg.Prompt
	}
	set := map[string]string{"prompt": prompt, "first_screen": o.firstScreen, "login_hint": loginHint, "identifier": identifier}
	for k, val := range set {
		if val != "" {
			v.Set(k, val)
		}
	}
	for _, r := range appendUnique(a.cfg.Resources, o.resources) {
		v.Add("resource", r)
	}

	endpoint := a.oidc.oauth.Endpoint.AuthURL
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + v.Encode()
}

func appendUnique(base, extra []string) []string {
	out := slices.Clone(base)
	for _, s := range extra {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CallbackHandler returns the handler for the provider's authorization
// response. [Auth.Wrap] serves it at Paths.Callback, and BaseURL +
// Paths.Callback must be registered with the provider as a redirect URI.
//
// It finds and removes the sign-in attempt named by state, and checks the
// iss parameter (RFC 9207) when the provider sends it or advertises it.
// It then exchanges the code with the PKCE verifier and verifies the ID
// token. Last, it renews the session token, stores the user and tokens in
// the session and redirects to the attempt's return_to. Every failure ends
// on a page that explains what happened (or JSON for API clients), never a
// 500.
func (a *Auth) CallbackHandler() http.Handler {
	return a.Sessions(http.HandlerFunc(a.callback))
}

// callbackParams are the parameters of an authorization response.
type callbackParams struct {
	Code, State, Iss                string
	Error, ErrorDescription, ErrURI string
}

// maxCallbackParam bounds each authorization response parameter.
const maxCallbackParam = 4096

// maxLoggedParam bounds the error codes from the provider that are logged.
// RFC 6749 error codes are short words; anything longer is cut, so that a
// forged response cannot write kilobytes into the log.
const maxLoggedParam = 64

// maxLoggedInput bounds the request paths and headers that are logged, for
// the same reason.
const maxLoggedInput = 256

var errMalformedCallback = errors.New("latch: malformed authorization response")

// parseCallbackQuery parses an authorization response. A repeated
// parameter, an over-long value or a control character in code, state or
// iss makes the whole response malformed. A real provider sends none of
// these, and accepting the first of two states would let an attacker slip
// one in.
func parseCallbackQuery(raw string) (callbackParams, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return callbackParams{}, errMalformedCallback
	}
	get := func(k string, strict bool) (string, error) {
		vs := q[k]
		switch {
		case len(vs) == 0:
			return "", nil
		case len(vs) > 1:
			return "", fmt.Errorf("%w: parameter %s is repeated", errMalformedCallback, k)
		case len(vs[0]) > maxCallbackParam:
			return "", fmt.Errorf("%w: parameter %s is too long", errMalformedCallback, k)
		case strict && !isPrintableASCII(vs[0]):
			return "", fmt.Errorf("%w: parameter %s has characters outside printable ASCII", errMalformedCallback, k)
		}
		return vs[0], nil
	}
	var p callbackParams
	fields := []struct {
		key    string
		dst    *string
		strict bool
	}{
		{"code", &p.Code, true}, {"state", &p.State, true}, {"iss", &p.Iss, true},
		{"error", &p.Error, true}, {"error_description", &p.ErrorDescription, false}, {"error_uri", &p.ErrURI, false},
	}
	for _, f := range fields {
		if *f.dst, err = get(f.key, f.strict); err != nil {
			return callbackParams{}, err
		}
	}
	return p, nil
}

func (a *Auth) callback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		a.methodNotAllowed(w, r, http.MethodGet)
		return
	}
	if a.oidc == nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	p, err := parseCallbackQuery(r.URL.RawQuery)
	if err != nil {
		a.log.WarnContext(ctx, "latch: sign-in failed", "reason", err.Error())
		a.fail(w, r, http.StatusBadRequest, pageBadRequest)
		return
	}
	if p.State == "" {
		a.log.WarnContext(ctx, "latch: sign-in failed", "reason", "authorization response without state", "provider_error", truncate(p.Error, maxLoggedParam))
		a.fail(w, r, http.StatusBadRequest, pageExpired)
		return
	}

	release, busy := a.claimState(p.State)
	if busy != nil {
		a.awaitDuplicate(w, r, p.State, busy)
		return
	}
	defer release()

	attempt, found := a.takePending(ctx, p.State)
	if !found {
		a.unknownState(w, r, p.State)
		return
	}

	// RFC 9207 section 2.4 applies to error responses too: an error from
	// another provider must not pass for this provider's refusal.
	if reason := a.checkIss(p.Iss); reason != "" {
		a.log.WarnContext(ctx, "latch: sign-in failed", "reason", reason, "provider_error", truncate(p.Error, maxLoggedParam))
		a.fail(w, r, http.StatusBadRequest, pageRejected)
		return
	}
	if p.Error != "" {
		a.providerRefused(w, r, p)
		return
	}
	if p.Code == "" {
		a.log.WarnContext(ctx, "latch: sign-in failed", "reason", "authorization response without code")
		a.fail(w, r, http.StatusBadRequest, pageRejected)
		return
	}

	u, t, status, pg, err := a.redeem(ctx, p.Code, attempt)
	if err != nil {
		a.log.WarnContext(ctx, "latch: sign-in failed", "reason", err.Error())
		a.fail(w, r, status, pg)
		return
	}
	if err := a.startSession(ctx, u, t); err != nil {
		a.storeFailed(w, r, "renew", err)
		return
	}
	a.markCompleted(ctx, p.State, attempt.ReturnTo)
	a.log.InfoContext(ctx, "latch: signed in", "method", string(u.Method), "subject", logSubject(u), "issuer", u.Issuer, "session", sessionID(a.sm.Token(ctx)))
	a.redirectLocal(w, attempt.ReturnTo, http.StatusFound)
}

// unknownState responds to a callback whose state matches no attempt. A
// reload of a finished sign-in goes where that sign-in went. Anything else
// is an expired or replayed response.
func (a *Auth) unknownState(w http.ResponseWriter, r *http.Request, state string) {
	ctx := r.Context()
	if u, _ := UserFrom(ctx); u != nil {
		if target, ok := a.completedReturnTo(ctx, state); ok {
			a.redirectLocal(w, target, http.StatusFound)
			return
		}
	}
	a.log.InfoContext(ctx, "latch: sign-in failed", "reason", "state matches no pending sign-in: expired, already used or from another browser")
	a.fail(w, r, http.StatusBadRequest, pageExpired)
}

// providerRefused responds to an error response from the provider
// (RFC 6749 section 4.1.2.1).
func (a *Auth) providerRefused(w http.ResponseWriter, r *http.Request, p callbackParams) {
	a.log.InfoContext(r.Context(), "latch: sign-in failed", "reason", "provider returned an error", "provider_error", truncate(p.Error, maxLoggedParam), "description", truncate(p.ErrorDescription, 200))
	switch p.Error {
	case "access_denied":
		a.fail(w, r, http.StatusForbidden, pageCancelled)
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
		a.fail(w, r, http.StatusUnauthorized, pageCancelled)
	default:
		a.fail(w, r, http.StatusBadGateway, pageProvider)
	}
}

// checkIss applies RFC 9207: an iss parameter must name the configured
// issuer, and a provider that advertises the parameter must send it. This
// stops a mix-up attack, where a response from another provider is
// replayed here. It returns the reason for a rejection, or "".
func (a *Auth) checkIss(iss string) string {
	switch {
	case iss != "" && iss != a.cfg.Issuer:
		return fmt.Sprintf("authorization response iss %q is not the configured issuer", truncate(iss, maxLoggedInput))
	case iss == "" && a.oidc.meta.IssParameterSupported:
		return "authorization response lacks the iss parameter that the provider advertises"
	}
	return ""
}

// redeem exchanges the code and verifies the result. On failure it
// returns the status and page to show.
//
// providerTimeout bounds the whole exchange, key set refetch and UserInfo
// request included, so a provider that responds to each request just
// within the HTTP client's timeout cannot hold the callback several times
// that long.
func (a *Auth) redeem(ctx context.Context, code string, attempt pendingSignIn) (*User, *Tokens, int, page, error) {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout(a.oidc.client))
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.oidc.client)
	tok, err := a.oidc.oauth.Exchange(ctx, code, oauth2.VerifierOption(attempt.Verifier))
	if err != nil {
		status, pg := http.StatusBadGateway, pageProvider
		if isTimeout(err) {
			status, pg = http.StatusGatewayTimeout, pageTimeout
		}
		return nil, nil, status, pg, fmt.Errorf("code exchange failed: %s", safeError(err))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, nil, http.StatusBadGateway, pageRejected, errors.New("token response has no id_token")
	}
	idt, claims, err := a.verifyIDToken(ctx, rawID, idTokenCheck{nonce: attempt.Nonce})
	if err != nil {
		// go-oidc (v3.21) flattens the key set's error into text, so the
		// context shows whether the key set refetch ran out of time.
		if isTimeout(err) || ctx.Err() != nil {
			return nil, nil, http.StatusGatewayTimeout, pageTimeout, fmt.Errorf("id token not verified: %w", err)
		}
		return nil, nil, http.StatusBadGateway, pageRejected, fmt.Errorf("id token rejected: %w", err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, http.StatusBadGateway, pageRejected, fmt.Errorf("id token at_hash does not match the access token: %w", err)
		}
	}

	merged, err := mergeClaims(claims, a.userInfoClaims(ctx, tok, idt.Subject))
	if err != nil {
		return nil, nil, http.StatusBadGateway, pageRejected, err
	}
	u, err := userFromClaims(merged, a.cfg.Issuer)
	if err != nil {
		return nil, nil, http.StatusBadGateway, pageRejected, err
	}
	u.SignedInAt = a.cfg.Now()
	return u, a.tokensFrom(tok, rawID, a.requestedScope()), 0, page{}, nil
}

// tokensFrom converts an oauth2 token response into stored Tokens.
func (a *Auth) tokensFrom(tok *oauth2.Token, rawID, defaultScope string) *Tokens {
	scope, _ := tok.Extra("scope").(string)
	if scope == "" {
		scope = defaultScope
	}
	// oauth2 computes Expiry with the real clock; latch judges expiry with
	// Config.Now, so it counts expires_in from there too.
	now := a.cfg.Now()
	expiry := tok.Expiry
	if tok.ExpiresIn > 0 {
		expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return &Tokens{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.Type(),
		Expiry:       expiry,
		IDToken:      rawID,
		Scope:        scope,
		refreshToken: tok.RefreshToken,
		obtained:     now,
	}
}

func (a *Auth) requestedScope() string {
	return strings.Join(a.oidc.oauth.Scopes, " ")
}

// startSession renews the session token, so a token planted before sign-in
// (session fixation) is worthless afterwards, and stores the user.
func (a *Auth) startSession(ctx context.Context, u *User, t *Tokens) error {
	if err := a.sm.RenewToken(ctx); err != nil {
		return err
	}
	st := stateFrom(ctx)
	record := u.marshal(a.cfg.Now())
	a.sm.Put(ctx, keyUser, record)
	if st != nil {
		st.keepUser(u, record)
	}
	if t == nil {
		a.sm.Remove(ctx, keyTokens)
		return nil
	}
	tokenRecord := t.marshal()
	a.sm.Put(ctx, keyTokens, tokenRecord)
	if st != nil {
		st.keepTokens(t, tokenRecord)
	}
	return nil
}

// claimState marks state as being processed, so that two concurrent
// requests carrying the same authorization response cannot both redeem it.
// When another request holds it, claimState returns a channel that is
// closed when that request is done.
func (a *Auth) claimState(state string) (release func(), busy <-chan struct{}) {
	done := make(chan struct{})
	if other, loaded := a.inflight.LoadOrStore(state, done); loaded {
		return nil, other.(chan struct{})
	}
	return func() {
		a.inflight.Delete(state)
		close(done)
	}, nil
}

// awaitDuplicate responds to a second copy of an authorization response that
// arrived while the first was processed, as a double click or a browser
// retry produces. Browsers show the response to the last request, so it
// waits for the first and then redirects where that sign-in leads, leaving
// the session to the first request.
func (a *Auth) awaitDuplicate(w http.ResponseWriter, r *http.Request, state string, busy <-chan struct{}) {
	ctx := r.Context()
	select {
	case <-busy:
	case <-ctx.Done():
		return
	}
	target := a.cfg.Paths.AfterSignIn
	for _, p := range a.loadPending(ctx) {
		if p.State == state {
			target = p.ReturnTo
		}
	}
	a.redirectLocal(w, target, http.StatusFound)
}

// SignOutHandler returns the sign-out handler. [Auth.Wrap] serves it at
// Paths.SignOut. A GET shows a confirmation page, because a link or an
// image on another site must not be able to sign a user out. A POST is
// accepted only from this site's own pages (see
// [http.CrossOriginProtection]). It destroys the server-side session and
// redirects to the provider's end-session endpoint with id_token_hint,
// client_id and post_logout_redirect_uri, or to Config.PostSignOutURL when
// the provider has none or the user signed in by phone.
func (a *Auth) SignOutHandler() http.Handler {
	return a.Sessions(a.cop.Handler(http.HandlerFunc(a.signOut)))
}

// signOutFields are the fields of sign-out.html.
type signOutFields struct {
	Name   string
	Action string
	Cancel string
}

func (a *Auth) signOut(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, _ := UserFrom(ctx)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if u == nil {
			redirect(w, a.cfg.Paths.AfterSignIn, http.StatusFound)
			return
		}
		name := u.Name
		if name == "" {
			name = u.Email
		}
		loc := a.locale(r)
		fields := signOutFields{Name: name, Action: a.cfg.Paths.SignOut, Cancel: a.cfg.Paths.AfterSignIn}
		if lang := r.URL.Query().Get("lang"); lang != "" {
			fields.Action += "?" + url.Values{"lang": {lang}}.Encode()
		}
		a.renderPage(w, r, http.StatusOK, "sign-out.html", a.languageLinks(r, loc.Tag, nil), fields)
	case http.MethodPost:
		target := a.cfg.PostSignOutURL
		if u != nil {
			t, _ := TokensFrom(ctx)
			if err := a.sm.Destroy(ctx); err != nil {
				a.storeFailed(w, r, "delete", err)
				return
			}
			a.log.InfoContext(ctx, "latch: signed out", "method", string(u.Method), "subject", logSubject(u))
			if u.Method == MethodOIDC && t != nil {
				target = a.endSessionURL(t.IDToken)
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		redirect(w, target, http.StatusSeeOther)
	default:
		a.methodNotAllowed(w, r, http.MethodGet+", "+http.MethodPost)
	}
}

// endSessionURL builds the RP-Initiated Logout 1.0 request, or returns
// the post sign-out URL when the provider has no end-session endpoint.
func (a *Auth) endSessionURL(idToken string) string {
	if a.oidc == nil || a.oidc.meta.EndSessionEndpoint == "" {
		return a.cfg.PostSignOutURL
	}
	v := url.Values{
		"client_id":                {a.cfg.ClientID},
		"post_logout_redirect_uri": {a.cfg.PostSignOutURL},
	}
	if idToken != "" {
		v.Set("id_token_hint", idToken)
	}
	endpoint := a.oidc.meta.EndSessionEndpoint
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + v.Encode()
}

func (a *Auth) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	a.fail(w, r, http.StatusMethodNotAllowed, pageMethod)
}

// redirect sends a redirect to target as it is. http.Redirect would clean
// the path, which changes targets that latch has already validated.
func redirect(w http.ResponseWriter, target string, status int) {
	h := w.Header()
	h.Set("Location", target)
	setShared(h, "Referrer-Policy", valueNoReferrer)
	if _, ok := h["Cache-Control"]; !ok {
		setShared(h, "Cache-Control", valueNoStore)
	}
	w.WriteHeader(status)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// isPrintable reports whether s is valid UTF-8 without control characters.
func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
