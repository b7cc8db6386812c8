package testprovider_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkit/latch/internal/testprovider"
)

// transports are the two ways the provider serves.
var transports = []struct {
	name string
	tls  bool
}{
	{"http", false},
	{"https", true},
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		value      string
		wantOK     bool
		wantReason string
	}{
		{"", false, "LATCH_TEST_OIDC_PROVIDER is not set"},
		{"1", true, ""},
		{"yes", false, `LATCH_TEST_OIDC_PROVIDER="yes" is not 1`},
	}
	for _, tt := range tests {
		t.Setenv(testprovider.EnableEnv, tt.value)
		reason, ok := testprovider.Available()
		if ok != tt.wantOK {
			t.Errorf("with %s=%q: Available() ok = %v, want %v", testprovider.EnableEnv, tt.value, ok, tt.wantOK)
		}
		if !strings.Contains(reason, tt.wantReason) {
			t.Errorf("with %s=%q: Available() reason = %q, want it to contain %q", testprovider.EnableEnv, tt.value, reason, tt.wantReason)
		}
		if !tt.wantOK && !strings.Contains(reason, "npm ci --prefix") {
			t.Errorf("with %s=%q: Available() reason = %q, want the npm ci command", testprovider.EnableEnv, tt.value, reason)
		}
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			op := testprovider.Start(t, testprovider.Options{
				RedirectURIs: []string{"http://127.0.0.1:1/callback"},
				TLS:          tr.tls,
			})
			if !strings.HasPrefix(op.Issuer(), tr.name+"://127.0.0.1:") {
				t.Fatalf("Issuer() = %q, want %s://127.0.0.1:PORT", op.Issuer(), tr.name)
			}

			var doc struct {
				Issuer                   string   `json:"issuer"`
				AuthorizationEndpoint    string   `json:"authorization_endpoint"`
				TokenEndpoint            string   `json:"token_endpoint"`
				UserinfoEndpoint         string   `json:"userinfo_endpoint"`
				EndSessionEndpoint       string   `json:"end_session_endpoint"`
				RevocationEndpoint       string   `json:"revocation_endpoint"`
				JWKSURI                  string   `json:"jwks_uri"`
				ResponseTypes            []string `json:"response_types_supported"`
				GrantTypes               []string `json:"grant_types_supported"`
				Scopes                   []string `json:"scopes_supported"`
				Claims                   []string `json:"claims_supported"`
				CodeChallengeMethods     []string `json:"code_challenge_methods_supported"`
				IDTokenAlgs              []string `json:"id_token_signing_alg_values_supported"`
				TokenAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
				AuthorizationResponseIss bool     `json:"authorization_response_iss_parameter_supported"`
			}
			getJSON(t, op.HTTPClient(), op.Issuer()+"/.well-known/openid-configuration", &doc)

			if doc.Issuer != op.Issuer() {
				t.Errorf("issuer = %q, want %q", doc.Issuer, op.Issuer())
			}
			endpoints := map[string]string{
				"authorization_endpoint": doc.AuthorizationEndpoint,
				"token_endpoint":         doc.TokenEndpoint,
				"userinfo_endpoint":      doc.UserinfoEndpoint,
				"end_session_endpoint":   doc.EndSessionEndpoint,
				"revocation_endpoint":    doc.RevocationEndpoint,
				"jwks_uri":               doc.JWKSURI,
			}
			for name, value := range endpoints {
				if !strings.HasPrefix(value, op.Issuer()+"/") {
					t.Errorf("%s = %q, want a URL under %s", name, value, op.Issuer())
				}
			}
			lists := []struct {
				name      string
				got, want []string
			}{
				{"response_types_supported", doc.ResponseTypes, []string{"code"}},
				{"grant_types_supported", doc.GrantTypes, []string{"authorization_code", "refresh_token"}},
				{"scopes_supported", doc.Scopes, []string{"openid", "offline_access", "profile", "email", "phone"}},
				{"claims_supported", doc.Claims, []string{"sub", "name", "picture", "email", "email_verified", "phone_number", "phone_number_verified"}},
				{"code_challenge_methods_supported", doc.CodeChallengeMethods, []string{"S256"}},
				{"id_token_signing_alg_values_supported", doc.IDTokenAlgs, []string{"RS256"}},
				{"token_endpoint_auth_methods_supported", doc.TokenAuthMethods, []string{"client_secret_basic", "client_secret_post"}},
			}
			for _, l := range lists {
				for _, want := range l.want {
					if !slices.Contains(l.got, want) {
						t.Errorf("%s = %q, want it to contain %q", l.name, l.got, want)
					}
				}
			}
			if !doc.AuthorizationResponseIss {
				t.Error("authorization_response_iss_parameter_supported = false, want true")
			}

			var jwks struct {
				Keys []struct {
					Kty string `json:"kty"`
					Alg string `json:"alg"`
					Use string `json:"use"`
					Kid string `json:"kid"`
					D   string `json:"d"`
				} `json:"keys"`
			}
			getJSON(t, op.HTTPClient(), doc.JWKSURI, &jwks)
			if len(jwks.Keys) != 1 {
				t.Fatalf("jwks has %d keys, want 1", len(jwks.Keys))
			}
			key := jwks.Keys[0]
			if key.Kty != "RSA" || key.Alg != "RS256" || key.Use != "sig" || key.Kid == "" {
				t.Errorf("jwks key = kty %q alg %q use %q kid %q, want RSA RS256 sig with a kid", key.Kty, key.Alg, key.Use, key.Kid)
			}
			if key.D != "" {
				t.Error("jwks key contains the private exponent d")
			}
		})
	}
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{TLS: tr.tls}})
			result := rp.signIn(rp.op.HTTPClient(), "alice")

			if want := []string{"login", "consent"}; !slices.Equal(result.Pages, want) {
				t.Errorf("SignIn pages = %q, want %q", result.Pages, want)
			}
			if result.ReturnURL == nil {
				t.Fatal("SignIn ReturnURL = nil, want the callback URL")
			}
			if got, want := result.ReturnURL.Path, "/callback"; got != want {
				t.Errorf("ReturnURL path = %q, want %q", got, want)
			}
			q := result.ReturnURL.Query()
			for _, name := range []string{"code", "state"} {
				if q.Get(name) == "" {
					t.Errorf("ReturnURL %s has no %s", result.ReturnURL, name)
				}
			}
			if got := q.Get("iss"); got != rp.op.Issuer() {
				t.Errorf("ReturnURL iss = %q, want %q", got, rp.op.Issuer())
			}
			if got, want := string(result.Body), "signed in as "+testprovider.Alice.Subject; got != want {
				t.Errorf("final body = %q, want %q", got, want)
			}

			token, idToken, _ := rp.session()
			if idToken.Issuer != rp.op.Issuer() {
				t.Errorf("ID token iss = %q, want %q", idToken.Issuer, rp.op.Issuer())
			}
			if !slices.Equal(idToken.Audience, []string{rp.op.ClientID()}) {
				t.Errorf("ID token aud = %q, want [%q]", idToken.Audience, rp.op.ClientID())
			}
			var idClaims map[string]any
			if err := idToken.Claims(&idClaims); err != nil {
				t.Fatalf("idToken.Claims() = %v", err)
			}
			// By default scope claims stay out of an ID token issued with an
			// access token.
			for _, name := range []string{"name", "email", "phone_number"} {
				if _, ok := idClaims[name]; ok {
					t.Errorf("ID token contains %s; want it only in userinfo", name)
				}
			}
			if token.RefreshToken == "" {
				t.Error("token response has no refresh_token, want one without offline_access")
			}

			claims, err := rp.userInfo(token.AccessToken)
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			checkClaims(t, "userinfo", claims, testprovider.Alice)
		})
	}
}

func TestIDTokenClaims(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{IDTokenClaims: true}})
	rp.signIn(rp.op.HTTPClient(), "alice")
	_, idToken, _ := rp.session()
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		t.Fatalf("idToken.Claims() = %v", err)
	}
	checkClaims(t, "ID token", claims, testprovider.Alice)
}

func TestUnverifiedEmail(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{})
	rp.signIn(rp.op.HTTPClient(), "bob")
	token, _, _ := rp.session()
	claims, err := rp.userInfo(token.AccessToken)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	checkClaims(t, "userinfo", claims, testprovider.Bob)
	if _, ok := claims["phone_number"]; ok {
		t.Errorf("userinfo phone_number = %v, want none for an account without one", claims["phone_number"])
	}
}

func TestRefreshAfterExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 3 * time.Second
	rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{AccessTokenTTL: ttl}})
	rp.signIn(rp.op.HTTPClient(), "alice")
	first, _, _ := rp.session()

	time.Sleep(time.Until(first.Expiry) + time.Second)
	if _, err := rp.userInfo(first.AccessToken); err == nil {
		t.Fatal("userinfo with an expired access token succeeded, want an error")
	}

	second, err := rp.refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after expiry: %v", err)
	}
	if second.AccessToken == "" || second.AccessToken == first.AccessToken {
		t.Errorf("refreshed access token = %q, want a new one", second.AccessToken)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Errorf("refreshed refresh token = %q, want a rotated one", second.RefreshToken)
	}
	raw, _ := second.Extra("id_token").(string)
	idToken, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token from refresh: %v", err)
	}
	if idToken.Subject != testprovider.Alice.Subject {
		t.Errorf("refreshed ID token sub = %q, want %q", idToken.Subject, testprovider.Alice.Subject)
	}
	claims, err := rp.userInfo(second.AccessToken)
	if err != nil {
		t.Fatalf("userinfo with refreshed access token: %v", err)
	}
	checkClaims(t, "userinfo", claims, testprovider.Alice)

	// Reuse of a rotated refresh token is treated as theft: it fails and
	// revokes the grant, taking the newest refresh token with it.
	if _, err := rp.refresh(first.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reuse of rotated refresh token: error %v, want invalid_grant", err)
	}
	if _, err := rp.refresh(second.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after reuse was detected: error %v, want invalid_grant", err)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rotation    testprovider.Rotation
		wantRotated bool
	}{
		{"every use", testprovider.RotateEveryUse, true},
		{"provider default", testprovider.RotateProviderDefault, false},
		{"never", testprovider.RotateNever, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{RefreshTokenRotation: tt.rotation}})
			rp.signIn(rp.op.HTTPClient(), "alice")
			first, _, _ := rp.session()
			second, err := rp.refresh(first.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if rotated := second.RefreshToken != first.RefreshToken; rotated != tt.wantRotated {
				t.Errorf("refresh token rotated = %v, want %v", rotated, tt.wantRotated)
			}
			if _, err := rp.refresh(second.RefreshToken); err != nil {
				t.Errorf("second refresh: %v", err)
			}
		})
	}
}

func TestRefreshTokenIssue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		required       bool
		scopes         []string
		prompt         string
		wantRefreshTok bool
	}{
		{"always without offline_access", false, []string{"openid"}, "", true},
		{"always with prompt=login", false, []string{"openid", "offline_access"}, "login", true},
		{"required and not requested", true, []string{"openid"}, "", false},
		// oidc-provider drops offline_access unless prompt includes consent.
		{"required without prompt", true, []string{"openid", "offline_access"}, "", false},
		{"required with prompt=login", true, []string{"openid", "offline_access"}, "login", false},
		{"required with prompt=consent", true, []string{"openid", "offline_access"}, "consent", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var authOptions []oauth2.AuthCodeOption
			if tt.prompt != "" {
				authOptions = append(authOptions, oauth2.SetAuthURLParam("prompt", tt.prompt))
			}
			rp := startRelyingParty(t, rpOptions{
				provider:    testprovider.Options{OfflineAccessRequired: tt.required},
				scopes:      tt.scopes,
				authOptions: authOptions,
			})
			rp.signIn(rp.op.HTTPClient(), "alice")
			token, _, _ := rp.session()
			if got := token.RefreshToken != ""; got != tt.wantRefreshTok {
				t.Errorf("refresh token issued = %v, want %v", got, tt.wantRefreshTok)
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{TLS: tr.tls}})
			client := rp.op.HTTPClient()
			rp.signIn(client, "alice")
			token, _, _ := rp.session()

			result, err := rp.op.SignOut(client, rp.url("/logout"))
			if err != nil {
				t.Fatalf("SignOut() = %v", err)
			}
			if want := []string{"op.logoutForm"}; !slices.Equal(result.Pages, want) {
				t.Errorf("SignOut pages = %q, want %q", result.Pages, want)
			}
			if result.ReturnURL == nil || result.ReturnURL.Path != "/signed-out" {
				t.Fatalf("SignOut ReturnURL = %v, want the post_logout_redirect_uri", result.ReturnURL)
			}
			if result.ReturnURL.Query().Get("state") == "" {
				t.Errorf("SignOut ReturnURL %s has no state", result.ReturnURL)
			}
			if result.Response.StatusCode != http.StatusOK || string(result.Body) != "signed out" {
				t.Errorf("SignOut ended with %s %q, want 200 \"signed out\"", result.Response.Status, result.Body)
			}

			// Tokens issued without offline_access die with the session.
			if _, err := rp.refresh(token.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
				t.Errorf("refresh after sign-out: error %v, want invalid_grant", err)
			}

			again := rp.signIn(client, "alice")
			if want := []string{"login", "consent"}; !slices.Equal(again.Pages, want) {
				t.Errorf("sign-in after sign-out pages = %q, want %q", again.Pages, want)
			}
		})
	}
}

func TestSignInReusesSession(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{})
	client := rp.op.HTTPClient()
	rp.signIn(client, "alice")
	again := rp.signIn(client, "alice")
	if len(again.Pages) != 0 {
		t.Errorf("second sign-in pages = %q, want none with a live session and grant", again.Pages)
	}
}

func TestAutoConsent(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{provider: testprovider.Options{AutoConsent: true}})
	result := rp.signIn(rp.op.HTTPClient(), "alice")
	if want := []string{"login"}; !slices.Equal(result.Pages, want) {
		t.Errorf("SignIn pages = %q, want %q", result.Pages, want)
	}
}

func TestDeny(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{})
	result, err := rp.op.Deny(rp.op.HTTPClient(), rp.url("/login"))
	if err != nil {
		t.Fatalf("Deny() = %v", err)
	}
	if result.ReturnURL == nil {
		t.Fatal("Deny ReturnURL = nil, want the callback URL")
	}
	q := result.ReturnURL.Query()
	if got := q.Get("error"); got != "access_denied" {
		t.Errorf("Deny ReturnURL error = %q, want access_denied", got)
	}
	if q.Get("state") == "" {
		t.Errorf("Deny ReturnURL %s has no state", result.ReturnURL)
	}
	if got := q.Get("iss"); got != rp.op.Issuer() {
		t.Errorf("Deny ReturnURL iss = %q, want %q", got, rp.op.Issuer())
	}
	if result.Response.StatusCode != http.StatusForbidden {
		t.Errorf("Deny ended with %s, want the relying party's 403", result.Response.Status)
	}
}

func TestFormPostResponseMode(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{
		authOptions: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_mode", "form_post")},
	})
	result := rp.signIn(rp.op.HTTPClient(), "alice")
	if want := []string{"login", "consent", ""}; !slices.Equal(result.Pages, want) {
		t.Errorf("SignIn pages = %q, want %q", result.Pages, want)
	}
	if result.ReturnURL == nil || result.ReturnURL.RawQuery != "" {
		t.Errorf("ReturnURL = %v, want the callback without a query", result.ReturnURL)
	}
}

func TestSignInUntilReturn(t *testing.T) {
	t.Parallel()
	rp := startRelyingParty(t, rpOptions{})
	client := rp.op.HTTPClient()
	callback, err := rp.op.SignInUntilReturn(client, rp.url("/login"), "alice")
	if err != nil {
		t.Fatalf("SignInUntilReturn() = %v", err)
	}
	if token, _, _ := rp.session(); token != nil {
		t.Fatal("relying party got tokens before the callback was requested")
	}

	// Replaying the callback twice: the first use signs in, the second
	// finds its state consumed.
	for i, want := range []int{http.StatusOK, http.StatusBadRequest} {
		resp, err := client.Get(callback.String())
		if err != nil {
			t.Fatalf("GET callback #%d: %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET callback #%d = %s, want %d", i+1, resp.Status, want)
		}
	}
}

func TestPKCERequired(t *testing.T) {
	t.Parallel()
	op := testprovider.Start(t, testprovider.Options{RedirectURIs: []string{"http://127.0.0.1:1/callback"}})
	q := url.Values{
		"client_id":     {op.ClientID()},
		"response_type": {"code"},
		"scope":         {"openid"},
		"redirect_uri":  {"http://127.0.0.1:1/callback"},
		"state":         {"s1"},
	}
	// The redirect URI is never requested, so nothing needs to listen on
	// port 1.
	callback, err := op.SignInUntilReturn(op.HTTPClient(), op.Issuer()+"/auth?"+q.Encode(), "alice")
	if err != nil {
		t.Fatalf("SignInUntilReturn() = %v", err)
	}
	got := callback.Query()
	if got.Get("error") != "invalid_request" || !strings.Contains(got.Get("error_description"), "PKCE") {
		t.Errorf("authorization without code_challenge returned %s, want invalid_request about PKCE", callback)
	}
	if got.Get("state") != "s1" {
		t.Errorf("error response state = %q, want s1", got.Get("state"))
	}
}

func TestUnregisteredRedirectURI(t *testing.T) {
	t.Parallel()
	op := testprovider.Start(t, testprovider.Options{RedirectURIs: []string{"http://127.0.0.1:1/callback"}})
	q := url.Values{
		"client_id":             {op.ClientID()},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"redirect_uri":          {"http://127.0.0.1:1/elsewhere"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	_, err := op.SignIn(op.HTTPClient(), op.Issuer()+"/auth?"+q.Encode(), "alice")
	var pageErr *testprovider.PageError
	if !errors.As(err, &pageErr) {
		t.Fatalf("SignIn with unregistered redirect_uri = %v, want a *PageError", err)
	}
	if pageErr.Code != "invalid_redirect_uri" {
		t.Errorf("PageError.Code = %q, want invalid_redirect_uri", pageErr.Code)
	}
}

// oidc-provider 9.x accepts client_secret_basic and client_secret_post
// from a client registered with either.
func TestClientAuthStyles(t *testing.T) {
	t.Parallel()
	styles := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"basic", oauth2.AuthStyleInHeader},
		{"post", oauth2.AuthStyleInParams},
		{"auto detect", oauth2.AuthStyleAutoDetect},
	}
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			rp := startRelyingParty(t, rpOptions{authStyle: s.style})
			rp.signIn(rp.op.HTTPClient(), "alice")
			token, _, _ := rp.session()
			if _, err := rp.refresh(token.RefreshToken); err != nil {
				t.Errorf("refresh with %s client authentication: %v", s.name, err)
			}
		})
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	op := testprovider.Start(t, testprovider.Options{RedirectURIs: []string{"http://127.0.0.1:1/callback"}})
	client := op.HTTPClient()
	discovery := op.Issuer() + "/.well-known/openid-configuration"
	op.Stop()
	op.Stop() // idempotent
	if resp, err := client.Get(discovery); err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s after Stop = %s, want a connection error", discovery, resp.Status)
	}
	if out := op.Output(); !strings.Contains(out, "provider.mjs: stopping") {
		t.Errorf("Output() = %q, want it to report the stop", out)
	}
}

func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s, want 200", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}

// checkClaims compares the claims of source with the account's.
func checkClaims(t *testing.T, source string, claims map[string]any, a testprovider.Account) {
	t.Helper()
	want := map[string]any{"sub": a.Subject, "name": a.Name, "email": a.Email, "email_verified": a.EmailVerified}
	if a.Picture != "" {
		want["picture"] = a.Picture
	}
	if a.PhoneNumber != "" {
		want["phone_number"] = a.PhoneNumber
		want["phone_number_verified"] = a.PhoneNumberVerified
	}
	for name, value := range want {
		if claims[name] != value {
			t.Errorf("%s %s = %v, want %v", source, name, claims[name], value)
		}
	}
}
