package testprovider_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkit/latch/internal/testprovider"
)

// relyingParty is a minimal OpenID Connect relying party built directly on
// x/oauth2 and go-oidc, to prove what the provider issues. Its routes:
//
//	/login       starts a code flow with state, nonce and PKCE S256
//	/callback    checks state and iss, exchanges the code, verifies the ID token
//	/home        reports the signed-in subject
//	/logout      redirects to the end_session_endpoint
//	/signed-out  the post_logout_redirect_uri, checks state
type relyingParty struct {
	t          testing.TB
	op         *testprovider.Provider
	server     *httptest.Server
	ctx        context.Context // carries the back-channel client
	provider   *oidc.Provider
	oauth      *oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string

	// authOptions are extra authorization request parameters.
	authOptions []oauth2.AuthCodeOption

	mu          sync.Mutex
	pending     map[string]pendingAuth // by state
	token       *oauth2.Token
	idToken     *oidc.IDToken
	rawID       string
	logoutState string
	signedOut   bool
}

type pendingAuth struct {
	verifier string
	nonce    string
}

// rpOptions adjusts the provider and the relying party of a test.
type rpOptions struct {
	provider    testprovider.Options
	scopes      []string // nil means openid profile email phone
	authOptions []oauth2.AuthCodeOption
	authStyle   oauth2.AuthStyle
}

// startRelyingParty starts a relying party and a provider that has it
// registered as its client.
func startRelyingParty(t testing.TB, opts rpOptions) *relyingParty {
	t.Helper()
	rp := &relyingParty{t: t, pending: map[string]pendingAuth{}, authOptions: opts.authOptions}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.handleLogin)
	mux.HandleFunc("/callback", rp.handleCallback)
	mux.HandleFunc("GET /home", rp.handleHome)
	mux.HandleFunc("GET /logout", rp.handleLogout)
	mux.HandleFunc("GET /signed-out", rp.handleSignedOut)
	// The server starts only once the fields its handlers read are set, so
	// the race detector sees them written before any request.
	rp.server = httptest.NewUnstartedServer(mux)
	t.Cleanup(rp.server.Close)
	base := "http://" + rp.server.Listener.Addr().String()

	po := opts.provider
	po.RedirectURIs = []string{base + "/callback"}
	po.PostLogoutRedirectURIs = []string{base + "/signed-out"}
	rp.op = testprovider.Start(t, po)

	rp.ctx = oidc.ClientContext(context.Background(), rp.op.HTTPClient())
	provider, err := oidc.NewProvider(rp.ctx, rp.op.Issuer())
	if err != nil {
		t.Fatalf("oidc.NewProvider(%q) = %v", rp.op.Issuer(), err)
	}
	rp.provider = provider
	var metadata struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&metadata); err != nil {
		t.Fatalf("provider.Claims() = %v", err)
	}
	rp.endSession = metadata.EndSession

	scopes := opts.scopes
	if scopes == nil {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "phone"}
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = opts.authStyle
	rp.oauth = &oauth2.Config{
		ClientID:     rp.op.ClientID(),
		ClientSecret: rp.op.ClientSecret(),
		Endpoint:     endpoint,
		RedirectURL:  base + "/callback",
		Scopes:       scopes,
	}
	rp.verifier = provider.Verifier(&oidc.Config{ClientID: rp.op.ClientID()})
	rp.server.Start()
	return rp
}

func (rp *relyingParty) url(path string) string { return rp.server.URL + path }

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (rp *relyingParty) handleLogin(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = pendingAuth{verifier: verifier, nonce: nonce}
	rp.mu.Unlock()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, rp.authOptions...)
	http.Redirect(w, r, rp.oauth.AuthCodeURL(state, opts...), http.StatusFound)
}

// handleCallback accepts the response in the query or, for
// response_mode=form_post, in a POST body.
func (rp *relyingParty) handleCallback(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if code := r.Form.Get("error"); code != "" {
		http.Error(w, "authorization error: "+code, http.StatusForbidden)
		return
	}
	// RFC 9207: the iss parameter names the issuer that sent the response.
	if iss := r.Form.Get("iss"); iss != rp.op.Issuer() {
		http.Error(w, fmt.Sprintf("iss %q, expected %q", iss, rp.op.Issuer()), http.StatusBadRequest)
		return
	}
	state := r.Form.Get("state")
	rp.mu.Lock()
	pending, ok := rp.pending[state]
	delete(rp.pending, state)
	rp.mu.Unlock()
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}

	token, err := rp.oauth.Exchange(rp.ctx, r.Form.Get("code"), oauth2.VerifierOption(pending.verifier))
	if err != nil {
		http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := token.Extra("id_token").(string)
	idToken, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		http.Error(w, "verify ID token: "+err.Error(), http.StatusBadGateway)
		return
	}
	if idToken.Nonce != pending.nonce {
		http.Error(w, "nonce mismatch", http.StatusBadRequest)
		return
	}

	rp.mu.Lock()
	rp.token, rp.idToken, rp.rawID = token, idToken, raw
	rp.mu.Unlock()
	http.Redirect(w, r, "/home", http.StatusSeeOther)
}

func (rp *relyingParty) handleHome(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.idToken == nil {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, "signed in as %s", rp.idToken.Subject)
}

func (rp *relyingParty) handleLogout(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	rp.logoutState = randomString()
	q := url.Values{
		"id_token_hint":            {rp.rawID},
		"post_logout_redirect_uri": {rp.url("/signed-out")},
		"state":                    {rp.logoutState},
	}
	rp.mu.Unlock()
	http.Redirect(w, r, rp.endSession+"?"+q.Encode(), http.StatusFound)
}

func (rp *relyingParty) handleSignedOut(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if r.URL.Query().Get("state") != rp.logoutState {
		http.Error(w, "logout state mismatch", http.StatusBadRequest)
		return
	}
	rp.signedOut = true
	fmt.Fprint(w, "signed out")
}

// signIn signs in through /login as the account with login and returns the
// result, failing the test unless the relying party reports the sign-in.
func (rp *relyingParty) signIn(client *http.Client, login string) *testprovider.Result {
	rp.t.Helper()
	result, err := rp.op.SignIn(client, rp.url("/login"), login)
	if err != nil {
		rp.t.Fatalf("SignIn(%q) = %v", login, err)
	}
	if result.Response.StatusCode != http.StatusOK {
		rp.t.Fatalf("SignIn(%q) ended with %s: %s", login, result.Response.Status, result.Body)
	}
	return result
}

// session returns the tokens of the last sign-in.
func (rp *relyingParty) session() (*oauth2.Token, *oidc.IDToken, string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.token, rp.idToken, rp.rawID
}

// refresh exchanges refreshToken at the token endpoint.
func (rp *relyingParty) refresh(refreshToken string) (*oauth2.Token, error) {
	return rp.oauth.TokenSource(rp.ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// userInfo fetches the userinfo endpoint with accessToken.
func (rp *relyingParty) userInfo(accessToken string) (map[string]any, error) {
	info, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}))
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := info.Claims(&claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// oauthErrorCode returns the OAuth error code of a failed token request.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}
