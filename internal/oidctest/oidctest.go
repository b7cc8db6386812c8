// Package oidctest runs an OpenID provider inside a test, with keys, clock
// and responses that the test controls. It implements the authorization
// code flow with PKCE, refresh tokens with rotation, UserInfo and
// RP-Initiated Logout closely enough to exercise a relying party, and lets
// a test break any of them on purpose. The authorization endpoint signs in
// a fixed user without showing a page.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Provider is an OpenID provider served by an httptest server. Its
// exported fields may be changed between requests; hold Mu while doing so
// when requests may be in flight.
type Provider struct {
	// Issuer is the provider's issuer URL, the server's URL.
	Issuer string
	// ClientID and ClientSecret are the one registered client.
	ClientID     string
	ClientSecret string

	Mu sync.Mutex
	// Now is the provider's clock. Default time.Now.
	Now func() time.Time
	// Claims are the user's claims, returned in the ID token (with sub) and
	// from UserInfo.
	Claims map[string]any
	// ProfileInUserInfoOnly keeps every claim but sub out of the ID token,
	// as oidc-provider does when it also issues an access token.
	ProfileInUserInfoOnly bool
	// SendIss adds the RFC 9207 iss parameter to authorization responses,
	// and AdvertiseIss announces it in discovery.
	SendIss      bool
	AdvertiseIss bool
	// AccessTokenTTL is the expires_in of access tokens. Default 1 hour.
	AccessTokenTTL time.Duration
	// RotateRefreshTokens makes each refresh return a new refresh token
	// and revoke the old one, revoking the whole grant when an old one is
	// reused, as Logto and oidc-provider do.
	RotateRefreshTokens bool
	// NoEndSession leaves end_session_endpoint out of discovery.
	NoEndSession bool
	// Discovery, when set, edits the discovery document before it is sent.
	Discovery func(doc map[string]any)
	// AuthorizeError, when set, is returned as the error of authorization
	// responses.
	AuthorizeError string
	// IDToken, when set, edits the header and claims of each ID token
	// before it is signed.
	IDToken func(header map[string]any, claims map[string]any)
	// SignIDToken, when set, replaces the signing of ID tokens: it gets
	// the header and claims and returns the compact token.
	SignIDToken func(header map[string]any, claims map[string]any) string
	// Token, when set, handles token requests in place of the provider. It
	// returns false to let the provider respond.
	Token func(w http.ResponseWriter, r *http.Request) bool
	// UserInfo, when set, handles UserInfo requests in place of the
	// provider. It returns false to let the provider respond.
	UserInfo func(w http.ResponseWriter, r *http.Request) bool
	// JWKS, when set, handles key set requests in place of the provider,
	// after they are counted in JWKSRequests. It returns false to let the
	// provider respond.
	JWKS func(w http.ResponseWriter, r *http.Request) bool

	server  *httptest.Server
	order   []string // keys of codes and refresh, oldest first; see remember
	keys    []*Key
	signing *Key
	codes   map[string]*grant
	refresh map[string]*grant

	// Counters of requests the provider answered.
	JWKSRequests     int
	TokenRequests    int
	RefreshRequests  int
	UserInfoRequests int
	// Authorizations are the query parameters of the last maxRecorded
	// authorization requests, and EndSessions those of the last
	// end-session requests.
	Authorizations []url.Values
	EndSessions    []url.Values
}

// maxRecorded bounds the requests a Provider records, and maxGrants the
// codes and tokens it remembers, so that a long soak test measures the
// relying party's memory rather than the provider's.
const (
	maxRecorded = 100
	maxGrants   = 1000
)

// record appends v to list, keeping the last maxRecorded entries.
func record(list []url.Values, v url.Values) []url.Values {
	if len(list) >= maxRecorded {
		list = append(list[:0], list[len(list)-maxRecorded+1:]...)
	}
	return append(list, v)
}

// remember records that key was added to one of the grant maps, and
// drops the oldest entries of both maps beyond maxGrants, as a provider
// expires old codes and tokens. Callers hold p.Mu.
func (p *Provider) remember(key string) {
	p.order = append(p.order, key)
	for len(p.order) > 2*maxGrants {
		oldest := p.order[0]
		p.order = p.order[1:]
		delete(p.codes, oldest)
		delete(p.refresh, oldest)
	}
	if cap(p.order) > 8*maxGrants {
		p.order = append([]string(nil), p.order...)
	}
}

// Key is a signing key of the provider.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
}

// Public returns the key as a public JWK.
func (k *Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Algorithm), Use: "sig"}
}

type grant struct {
	clientID      string
	redirectURI   string
	nonce         string
	challenge     string
	challengeMeth string
	scope         string
	used          bool
	revoked       *bool
	family        string
}

// New starts a provider for t with one RS256 key and a client with the id
// "client" and the secret "secret", served over plain http. It is closed
// when t ends.
func New(t testing.TB) *Provider {
	t.Helper()
	return start(t, false)
}

// NewTLS is [New] served over https with a self-signed certificate, which
// the client of [Provider.Client] trusts. Its Issuer is an https URL, so a
// relying party needs no exception for plain http.
func NewTLS(t testing.TB) *Provider {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, tls bool) *Provider {
	p := &Provider{
		ClientID:     "client",
		ClientSecret: "secret",
		Now:          time.Now,
		Claims: map[string]any{
			"sub":            "user-1",
			"name":           "Ada Lovelace",
			"email":          "ada@example.com",
			"email_verified": true,
			"picture":        "https://example.com/ada.png",
		},
		AccessTokenTTL: time.Hour,
		codes:          map[string]*grant{},
		refresh:        map[string]*grant{},
	}
	sharedKeyOnce.Do(func() { sharedKey = newKey(jose.RS256) })
	p.signing = &Key{ID: randomString(8), Algorithm: jose.RS256, Private: sharedKey.Private}
	p.keys = []*Key{p.signing}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("GET /end_session", p.endSession)
	p.server = httptest.NewUnstartedServer(mux)
	if tls {
		p.server.StartTLS()
	} else {
		p.server.Start()
	}
	p.Issuer = p.server.URL
	t.Cleanup(p.server.Close)
	return p
}

// Client returns an HTTP client for the provider's server.
func (p *Provider) Client() *http.Client { return p.server.Client() }

// Close shuts the server down, so the provider becomes unreachable.
func (p *Provider) Close() { p.server.Close() }

// AddKey creates a key of the given algorithm (RS256, PS256 or ES256),
// publishes it and returns it. The signing key stays the same; see
// [Provider.Rotate].
func (p *Provider) AddKey(alg jose.SignatureAlgorithm) *Key {
	k := newKey(alg)
	p.Mu.Lock()
	p.keys = append(p.keys, k)
	p.Mu.Unlock()
	return k
}

// The first key of every provider shares one RSA key pair under its own
// key ID, because generating a 2048-bit key takes long enough to slow a
// suite that starts many providers.
var (
	sharedKeyOnce sync.Once
	sharedKey     *Key
)

func newKey(alg jose.SignatureAlgorithm) *Key {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		panic(err)
	}
	return &Key{ID: randomString(8), Algorithm: alg, Private: priv}
}

// Rotate publishes a new RS256 key, signs with it from now on and, when
// dropOld is set, stops publishing the previous keys.
func (p *Provider) Rotate(dropOld bool) *Key {
	k := p.AddKey(jose.RS256)
	p.Mu.Lock()
	defer p.Mu.Unlock()
	p.signing = k
	if dropOld {
		p.keys = []*Key{k}
	}
	return k
}

// SigningKey returns the key that signs ID tokens.
func (p *Provider) SigningKey() *Key {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	return p.signing
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	doc := map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"userinfo_endpoint":                     p.Issuer + "/userinfo",
		"jwks_uri":                              p.Issuer + "/jwks",
		"end_session_endpoint":                  p.Issuer + "/end_session",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "PS256", "ES256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "phone", "offline_access"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	}
	if p.NoEndSession {
		delete(doc, "end_session_endpoint")
	}
	if p.AdvertiseIss {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if p.Discovery != nil {
		p.Discovery(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	p.Mu.Lock()
	p.JWKSRequests++
	hook := p.JWKS
	p.Mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	p.Mu.Lock()
	defer p.Mu.Unlock()
	set := jose.JSONWebKeySet{}
	for _, k := range p.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	writeJSON(w, http.StatusOK, set)
}

// authorize signs the fixed user in at once and redirects back.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	q := r.URL.Query()
	p.Authorizations = record(p.Authorizations, q)
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		http.Error(w, "invalid authorization request", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if p.SendIss {
		v.Set("iss", p.Issuer)
	}
	if p.AuthorizeError != "" {
		v.Set("error", p.AuthorizeError)
	} else {
		code := randomString(24)
		p.remember(code)
		p.codes[code] = &grant{
			clientID:      p.ClientID,
			redirectURI:   q.Get("redirect_uri"),
			nonce:         q.Get("nonce"),
			challenge:     q.Get("code_challenge"),
			challengeMeth: q.Get("code_challenge_method"),
			scope:         q.Get("scope"),
			revoked:       new(bool),
		}
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// Code returns a fresh authorization code for the registered client, as if
// a user had signed in with the given nonce and PKCE verifier, for tests
// that inject codes.
func (p *Provider) Code(redirectURI, nonce, verifier string) string {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	code := randomString(24)
	sum := sha256.Sum256([]byte(verifier))
	p.remember(code)
	p.codes[code] = &grant{
		clientID: p.ClientID, redirectURI: redirectURI, nonce: nonce,
		challenge: base64.RawURLEncoding.EncodeToString(sum[:]), challengeMeth: "S256",
		scope: "openid profile email offline_access", revoked: new(bool),
	}
	return code
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if h := p.tokenHook(); h != nil && h(w, r) {
		return
	}
	p.Mu.Lock()
	defer p.Mu.Unlock()
	p.TokenRequests++
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	if !p.clientAuthenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		p.redeemCode(w, r)
	case "refresh_token":
		p.RefreshRequests++
		p.redeemRefresh(w, r)
	default:
		tokenError(w, "unsupported_grant_type")
	}
}

func (p *Provider) tokenHook() func(http.ResponseWriter, *http.Request) bool {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	return p.Token
}

func (p *Provider) clientAuthenticated(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
}

func (p *Provider) redeemCode(w http.ResponseWriter, r *http.Request) {
	g, ok := p.codes[r.PostForm.Get("code")]
	if !ok || g.used || *g.revoked {
		if ok {
			// RFC 6749 section 4.1.2: a code used twice revokes what it
			// issued.
			*g.revoked = true
		}
		tokenError(w, "invalid_grant")
		return
	}
	g.used = true
	if r.PostForm.Get("redirect_uri") != g.redirectURI {
		tokenError(w, "invalid_grant")
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if g.challengeMeth != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, "invalid_grant")
			return
		}
	}
	g.family = randomString(8)
	p.issue(w, g, true)
}

func (p *Provider) redeemRefresh(w http.ResponseWriter, r *http.Request) {
	rt := r.PostForm.Get("refresh_token")
	g, ok := p.refresh[rt]
	if !ok || *g.revoked {
		tokenError(w, "invalid_grant")
		return
	}
	if g.used {
		// Reuse of a rotated refresh token: revoke the whole grant.
		*g.revoked = true
		tokenError(w, "invalid_grant")
		return
	}
	if p.RotateRefreshTokens {
		g.used = true
	}
	p.issue(w, g, false)
}

// issue writes a token response for g. Callers hold p.Mu.
func (p *Provider) issue(w http.ResponseWriter, g *grant, withNonce bool) {
	now := p.Now()
	claims := map[string]any{
		"iss":       p.Issuer,
		"aud":       p.ClientID,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"auth_time": now.Unix(),
	}
	if withNonce && g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	for k, v := range p.Claims {
		if !p.ProfileInUserInfoOnly || k == "sub" {
			claims[k] = v
		}
	}
	access := randomString(32)
	header := map[string]any{"alg": string(p.signing.Algorithm), "kid": p.signing.ID, "typ": "JWT"}
	sum := sha256.Sum256([]byte(access))
	claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
	if p.IDToken != nil {
		p.IDToken(header, claims)
	}
	var idToken string
	if p.SignIDToken != nil {
		idToken = p.SignIDToken(header, claims)
	} else {
		idToken = p.sign(header, claims)
	}

	refresh := randomString(32)
	next := *g
	next.used = false
	p.refresh[refresh] = &next
	p.refresh["access:"+access] = &next // lets UserInfo find the grant
	p.remember(refresh)
	p.remember("access:" + access)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    int(p.AccessTokenTTL.Seconds()),
		"refresh_token": refresh,
		"id_token":      idToken,
		"scope":         g.scope,
	})
}

// sign signs claims with the signing key, using header as the protected
// header. Callers hold p.Mu.
func (p *Provider) sign(header, claims map[string]any) string {
	return SignWith(p.signing, header, claims)
}

// SignWith signs claims with k, with header as the JWS protected header
// (its alg and kid are used as given, so a test can lie in them).
func SignWith(k *Key, header, claims map[string]any) string {
	opts := &jose.SignerOptions{}
	for name, v := range header {
		if name != "alg" {
			opts = opts.WithHeader(jose.HeaderKey(name), v)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Algorithm, Key: k.Private}, opts)
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Unsigned returns a token with the "none" algorithm and no signature.
func Unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	p.Mu.Lock()
	p.UserInfoRequests++
	hook := p.UserInfo
	p.Mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	p.Mu.Lock()
	defer p.Mu.Unlock()
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if g := p.refresh["access:"+access]; !ok || g == nil || *g.revoked {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, maps.Clone(p.Claims))
}

func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	q := r.URL.Query()
	p.EndSessions = record(p.EndSessions, q)
	target := q.Get("post_logout_redirect_uri")
	if target == "" {
		fmt.Fprintln(w, "signed out")
		return
	}
	if s := q.Get("state"); s != "" {
		target += "?state=" + url.QueryEscape(s)
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// RevokeAll revokes every grant, as when the user signs out at the
// provider or an administrator blocks the user.
func (p *Provider) RevokeAll() {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	for _, g := range p.refresh {
		*g.revoked = true
	}
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
