package latch

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// ErrProvider is wrapped by the error that [New] returns when the OpenID
// provider cannot be reached or its discovery document cannot be used.
var ErrProvider = errors.New("latch: OpenID provider discovery failed")

// maxProviderBody caps every response body read from the provider.
const maxProviderBody = 1 << 20

// signingAlgs are the ID token signature algorithms latch accepts:
// asymmetric ones only. HS256 would make the client secret a signing key,
// and "none" is never acceptable for a token that authenticates a user.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// discovery holds the fields of the discovery document that go-oidc does
// not expose.
type discovery struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	EndSessionEndpoint     string   `json:"end_session_endpoint"`
	ScopesSupported        []string `json:"scopes_supported"`
	SigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	IssParameterSupported  bool     `json:"authorization_response_iss_parameter_supported"`
	TokenEndpoint          string   `json:"token_endpoint"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	UserInfoEndpoint       string   `json:"userinfo_endpoint"`
	ResponseTypesSupported []string `json:"response_types_supported"`
}

// oidcClient is the OpenID Connect side of an Auth: the discovered provider
// and what latch built from it.
type oidcClient struct {
	provider *oidc.Provider
	meta     discovery
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	keys     *keySet
	client   *http.Client
	// userInfoClient is client with the bodies of error responses
	// dropped; see dropErrorBodies.
	userInfoClient *http.Client
}

// discover fetches the provider's discovery document and key set and
// checks that latch can use them.
func discover(ctx context.Context, c *Config) (*oidcClient, error) {
	client := limitedClient(c.HTTPClient)
	ctx = oidc.ClientContext(ctx, client)

	provider, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("%w: the provider at %q reports its issuer as %q: set Config.Issuer to exactly that value", ErrProvider, c.Issuer, mismatch.Discovered)
		}
		return nil, fmt.Errorf("%w: cannot read %s/.well-known/openid-configuration: %v: check Config.Issuer and that the provider is reachable", ErrProvider, strings.TrimSuffix(c.Issuer, "/"), err)
	}
	var meta discovery
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("%w: discovery document of %q: %v", ErrProvider, c.Issuer, err)
	}
	if err := meta.check(c); err != nil {
		return nil, err
	}

	algs := supportedAlgs(meta.SigningAlgs)
	if len(algs) == 0 {
		return nil, fmt.Errorf("%w: the provider signs ID tokens only with %v, and latch accepts only asymmetric algorithms such as RS256 and ES256", ErrProvider, meta.SigningAlgs)
	}
	keys := &keySet{url: meta.JWKSURI, client: client, algs: algs, now: c.Now}
	if err := keys.load(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProvider, err)
	}

	algNames := make([]string, len(algs))
	for i, a := range algs {
		algNames[i] = string(a)
	}
	verifier := oidc.NewVerifier(c.Issuer, keys, &oidc.Config{
		ClientID:             c.ClientID,
		SupportedSigningAlgs: algNames,
		// latch checks exp, iat and nbf itself, with Config.ClockSkew.
		SkipExpiryCheck: true,
	})

	scopes := c.Scopes
	if scopes == nil {
		scopes = defaultScopes(meta.ScopesSupported)
	}
	return &oidcClient{
		provider: provider,
		meta:     meta,
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  c.BaseURL + c.Paths.Callback,
			Scopes:       scopes,
		},
		verifier:       verifier,
		keys:           keys,
		client:         client,
		userInfoClient: withoutErrorBodies(client),
	}, nil
}

func (m *discovery) check(c *Config) error {
	endpoints := []struct{ name, value string }{
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
		{"jwks_uri", m.JWKSURI},
	}
	for _, e := range endpoints {
		if e.value == "" {
			return fmt.Errorf("%w: the discovery document of %q has no %s", ErrProvider, c.Issuer, e.name)
		}
	}
	endpoints = append(endpoints,
		struct{ name, value string }{"userinfo_endpoint", m.UserInfoEndpoint},
		struct{ name, value string }{"end_session_endpoint", m.EndSessionEndpoint})
	for _, e := range endpoints {
		if e.value == "" {
			continue
		}
		u, err := url.Parse(e.value)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && c.InsecureAllowHTTPIssuer)) {
			return fmt.Errorf("%w: the provider's %s %q is not an https URL", ErrProvider, e.name, e.value)
		}
	}
	if len(m.ResponseTypesSupported) > 0 && !slices.Contains(m.ResponseTypesSupported, "code") {
		return fmt.Errorf("%w: the provider does not support the authorization code flow (response_types_supported is %v)", ErrProvider, m.ResponseTypesSupported)
	}
	return nil
}

// supportedAlgs returns the provider's advertised ID token algorithms that
// latch accepts, or RS256 when it advertises none (RS256 is the one that
// OpenID Connect Discovery 1.0 requires of every provider).
func supportedAlgs(advertised []string) []jose.SignatureAlgorithm {
	if len(advertised) == 0 {
		return []jose.SignatureAlgorithm{jose.RS256}
	}
	var algs []jose.SignatureAlgorithm
	for _, a := range advertised {
		if slices.Contains(signingAlgs, jose.SignatureAlgorithm(a)) {
			algs = append(algs, jose.SignatureAlgorithm(a))
		}
	}
	return algs
}

// defaultScopes returns openid, profile and email, plus phone and
// offline_access where the provider lists them in scopes_supported. Some
// providers reject scopes they do not know, so a provider that publishes
// no list gets the first three only.
func defaultScopes(supported []string) []string {
	scopes := []string{"openid", "profile", "email"}
	for _, s := range []string{"phone", "offline_access"} {
		if slices.Contains(supported, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes
}

// supportsPKCE reports whether the provider lists S256, or lists nothing
// (most providers that support PKCE predate the metadata field).
func (o *oidcClient) supportsPKCE() bool {
	m := o.meta.CodeChallengeMethods
	return len(m) == 0 || slices.Contains(m, "S256")
}

// limitedClient returns a copy of client whose responses are cut off at
// maxProviderBody, so a misbehaving provider cannot make latch buffer an
// unbounded body.
func limitedClient(client *http.Client) *http.Client {
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = limitTransport{base}
	return &c
}

type limitTransport struct{ base http.RoundTripper }

// CloseIdleConnections passes http.Client.CloseIdleConnections on to the
// wrapped transport, which holds the connections.
func (t limitTransport) CloseIdleConnections() { closeIdle(t.base) }

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxProviderBody}
	return resp, nil
}

// withoutErrorBodies returns a copy of client that empties the body of
// every response outside 2xx. go-oidc (v3.21) puts the body of a failed
// UserInfo response into its error, and an endpoint that echoes the
// request would put the access token into latch's log.
func withoutErrorBodies(client *http.Client) *http.Client {
	c := *client
	c.Transport = dropErrorBodies{c.Transport}
	return &c
}

type dropErrorBodies struct{ base http.RoundTripper }

// CloseIdleConnections passes http.Client.CloseIdleConnections on to the
// wrapped transport.
func (t dropErrorBodies) CloseIdleConnections() { closeIdle(t.base) }

func (t dropErrorBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || (resp.StatusCode >= 200 && resp.StatusCode < 300) {
		return resp, err
	}
	resp.Body.Close()
	resp.Body = http.NoBody
	resp.ContentLength = 0
	return resp, nil
}

var errBodyTooLarge = fmt.Errorf("latch: provider response larger than %d bytes", maxProviderBody)

// limitedBody fails a read past its limit, rather than truncating the body
// silently into something that might still parse.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var probe [1]byte
		if n, _ := b.ReadCloser.Read(probe[:]); n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// idTokenCheck holds the expectations of one ID token beyond what every
// ID token must meet.
type idTokenCheck struct {
	nonce string // empty after a refresh, where no nonce is expected
	// subject, when set, must match: a refreshed ID token must describe
	// the user who signed in. The verifier already checks the issuer.
	subject string
}

// verifyIDToken verifies the signature, issuer and audience with go-oidc,
// then the claims that go-oidc leaves to its caller: exp, iat and nbf with
// the configured clock skew, azp, untrusted audiences, nonce and sub. It
// returns the token and its raw claims.
func (a *Auth) verifyIDToken(ctx context.Context, raw string, want idTokenCheck) (*oidc.IDToken, []byte, error) {
	ctx = oidc.ClientContext(ctx, a.oidc.client)
	tok, err := a.oidc.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	var claims json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return nil, nil, err
	}
	var extra struct {
		NotBefore *json.Number `json:"nbf"`
		AZP       *string      `json:"azp"`
		IssuedAt  *json.Number `json:"iat"`
		Expiry    *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(claims, &extra); err != nil {
		return nil, nil, fmt.Errorf("latch: id token claims: %w", err)
	}

	now, skew := a.cfg.Now(), a.cfg.ClockSkew
	switch {
	case extra.Expiry == nil:
		return nil, nil, errors.New("latch: id token has no exp claim")
	case now.Add(-skew).After(tok.Expiry):
		return nil, nil, fmt.Errorf("latch: id token expired at %s", tok.Expiry.UTC().Format(time.RFC3339))
	case extra.IssuedAt == nil:
		return nil, nil, errors.New("latch: id token has no iat claim")
	case tok.IssuedAt.After(now.Add(skew)):
		return nil, nil, fmt.Errorf("latch: id token issued in the future, at %s", tok.IssuedAt.UTC().Format(time.RFC3339))
	}
	if extra.NotBefore != nil {
		nbf, err := numericDate(*extra.NotBefore)
		if err != nil {
			return nil, nil, fmt.Errorf("latch: id token nbf claim: %w", err)
		}
		if nbf.After(now.Add(skew)) {
			return nil, nil, fmt.Errorf("latch: id token not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}

	if err := a.checkAudience(tok.Audience, extra.AZP); err != nil {
		return nil, nil, err
	}
	if tok.Subject == "" || len(tok.Subject) > 255 {
		return nil, nil, errors.New("latch: id token sub claim is empty or longer than 255 characters")
	}
	if want.subject != "" && tok.Subject != want.subject {
		return nil, nil, errSubjectChanged
	}
	if want.nonce != "" && subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(want.nonce)) != 1 {
		return nil, nil, errors.New("latch: id token nonce does not match the sign-in attempt")
	}
	return tok, claims, nil
}

var errSubjectChanged = errors.New("latch: refreshed id token names a different subject")

// checkAudience applies OpenID Connect Core 1.0 section 3.1.3.7: every
// audience must be trusted, and azp, present whenever there are several
// audiences, must be this client.
func (a *Auth) checkAudience(aud []string, azp *string) error {
	for _, v := range aud {
		if v != a.cfg.ClientID && !slices.Contains(a.cfg.AdditionalAudiences, v) {
			return fmt.Errorf("latch: id token audience %q is not trusted: add it to Config.AdditionalAudiences if it should be", v)
		}
	}
	if len(aud) > 1 && azp == nil {
		return errors.New("latch: id token has several audiences but no azp claim")
	}
	if azp != nil && *azp != a.cfg.ClientID {
		return fmt.Errorf("latch: id token azp %q is not this client", *azp)
	}
	return nil
}

func numericDate(n json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(f), 0), nil
}

// userInfoClaims fetches the UserInfo endpoint with the access token and
// returns its claims, or nil when there is no endpoint, the fetch fails or
// its subject differs from the ID token's. Failures are logged and not
// fatal: the ID token alone authenticates the user.
func (a *Auth) userInfoClaims(ctx context.Context, token *oauth2.Token, subject string) []byte {
	if a.cfg.SkipUserInfo || a.oidc.meta.UserInfoEndpoint == "" {
		return nil
	}
	ctx = oidc.ClientContext(ctx, a.oidc.userInfoClient)
	info, err := a.oidc.provider.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		a.log.WarnContext(ctx, "latch: userinfo request failed; using ID token claims only", "error", err.Error())
		return nil
	}
	// OpenID Connect Core 1.0 section 5.3.4: a UserInfo response for
	// another subject must not be used.
	if info.Subject != subject {
		a.log.WarnContext(ctx, "latch: userinfo subject differs from the ID token's; ignoring it")
		return nil
	}
	var claims json.RawMessage
	if err := info.Claims(&claims); err != nil {
		return nil
	}
	return claims
}

// mergeClaims returns the ID token's claims with the UserInfo claims added
// where the ID token lacks them.
func mergeClaims(idClaims, infoClaims []byte) ([]byte, error) {
	if len(infoClaims) == 0 {
		return idClaims, nil
	}
	var id, info map[string]json.RawMessage
	if err := json.Unmarshal(idClaims, &id); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(infoClaims, &info); err != nil {
		return idClaims, nil
	}
	for k, v := range info {
		if _, ok := id[k]; !ok {
			id[k] = v
		}
	}
	return json.Marshal(id)
}

// userFromClaims fills a User from the merged claims.
func userFromClaims(claims []byte, issuer string) (*User, error) {
	var c struct {
		Subject       string   `json:"sub"`
		Name          string   `json:"name"`
		Email         string   `json:"email"`
		EmailVerified flexBool `json:"email_verified"`
		Phone         string   `json:"phone_number"`
		PhoneVerified flexBool `json:"phone_number_verified"`
		Picture       string   `json:"picture"`
	}
	if err := json.Unmarshal(claims, &c); err != nil {
		return nil, fmt.Errorf("latch: profile claims: %w", err)
	}
	return &User{
		Subject:       c.Subject,
		Issuer:        issuer,
		Method:        MethodOIDC,
		Name:          c.Name,
		Email:         c.Email,
		EmailVerified: bool(c.EmailVerified),
		Phone:         c.Phone,
		PhoneVerified: bool(c.PhoneVerified),
		Picture:       c.Picture,
		claims:        claims,
	}, nil
}

// flexBool decodes a JSON boolean, or the strings "true" and "false" that
// some providers send for email_verified.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("latch: %s is not a boolean", data)
	}
	return nil
}

// safeError returns text about err that is safe to log. For a token
// endpoint error that is the status and the RFC 6749 error code only.
// oauth2's own message includes the response body, which may hold
// anything a misbehaving provider put there, tokens included.
func safeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := ""
		if re.Response != nil {
			status = re.Response.Status
		}
		if re.ErrorCode != "" {
			return fmt.Sprintf("token endpoint: %s: %q", status, truncate(re.ErrorCode, maxLoggedParam))
		}
		return "token endpoint: " + status
	}
	return err.Error()
}

// isTimeout reports whether err comes from a request to the provider that
// ran out of time, whether the HTTP client's timeout or providerTimeout
// ended it.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// providerTimeout returns how long one exchange with the provider may take
// in total: the HTTP client's timeout, or defaultProviderTimeout for a
// client without one.
func providerTimeout(c *http.Client) time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return defaultProviderTimeout
}
