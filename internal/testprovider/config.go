package testprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// providerConfig is the JSON configuration that provider.mjs reads.
type providerConfig struct {
	TLS                   *tlsConfig      `json:"tls,omitempty"`
	Client                clientConfig    `json:"client"`
	TTL                   ttlConfig       `json:"ttl"`
	Accounts              []accountConfig `json:"accounts"`
	Consent               string          `json:"consent"`
	RefreshTokenRotation  string          `json:"refresh_token_rotation"`
	OfflineAccessRequired bool            `json:"offline_access_required"`
	ClockTolerance        int64           `json:"clock_tolerance"`
	IDTokenClaims         bool            `json:"id_token_claims"`
}

type tlsConfig struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

type clientConfig struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

type ttlConfig struct {
	AccessToken  int64 `json:"access_token"`
	IDToken      int64 `json:"id_token"`
	RefreshToken int64 `json:"refresh_token"`
	Session      int64 `json:"session"`
}

type accountConfig struct {
	Subject  string         `json:"sub"`
	Login    string         `json:"login"`
	Password string         `json:"password"`
	Claims   map[string]any `json:"claims"`
}

// configJSON validates opts and encodes them for provider.mjs. With
// opts.TLS it also creates the CA and server certificate in dir.
func (p *Provider) configJSON(opts Options, dir string) ([]byte, error) {
	if len(opts.RedirectURIs) == 0 {
		return nil, errors.New("testprovider: Options.RedirectURIs is empty: register at least one redirect URI")
	}
	rotation, err := opts.RefreshTokenRotation.configValue()
	if err != nil {
		return nil, err
	}

	cfg := providerConfig{
		Client: clientConfig{
			ClientID:                p.clientID,
			ClientSecret:            p.clientSecret,
			RedirectURIs:            opts.RedirectURIs,
			PostLogoutRedirectURIs:  opts.PostLogoutRedirectURIs,
			TokenEndpointAuthMethod: "client_secret_basic",
		},
		Consent:               "form",
		RefreshTokenRotation:  rotation,
		OfflineAccessRequired: opts.OfflineAccessRequired,
		IDTokenClaims:         opts.IDTokenClaims,
	}
	if cfg.Client.PostLogoutRedirectURIs == nil {
		cfg.Client.PostLogoutRedirectURIs = []string{}
	}
	if opts.AutoConsent {
		cfg.Consent = "auto"
	}

	if opts.ClockTolerance < 0 || opts.ClockTolerance%time.Second != 0 {
		return nil, fmt.Errorf("testprovider: Options.ClockTolerance %v is not a whole number of seconds", opts.ClockTolerance)
	}
	cfg.ClockTolerance = int64(opts.ClockTolerance / time.Second)

	ttls := []struct {
		name  string
		value time.Duration
		def   time.Duration
		dst   *int64
	}{
		{"AccessTokenTTL", opts.AccessTokenTTL, DefaultAccessTokenTTL, &cfg.TTL.AccessToken},
		{"IDTokenTTL", opts.IDTokenTTL, DefaultIDTokenTTL, &cfg.TTL.IDToken},
		{"RefreshTokenTTL", opts.RefreshTokenTTL, DefaultRefreshTokenTTL, &cfg.TTL.RefreshToken},
		{"SessionTTL", opts.SessionTTL, DefaultSessionTTL, &cfg.TTL.Session},
	}
	for _, ttl := range ttls {
		value := ttl.value
		if value == 0 {
			value = ttl.def
		}
		// The provider counts lifetimes in whole seconds.
		if value < time.Second || value%time.Second != 0 {
			return nil, fmt.Errorf("testprovider: Options.%s %v is not a positive whole number of seconds", ttl.name, ttl.value)
		}
		*ttl.dst = int64(value / time.Second)
	}

	subjects := make(map[string]bool)
	logins := make(map[string]bool)
	for i, a := range p.accounts {
		if a.Subject == "" || a.Login == "" || a.Password == "" {
			return nil, fmt.Errorf("testprovider: Options.Accounts[%d] (login %q): Subject, Login and Password are required", i, a.Login)
		}
		if subjects[a.Subject] || logins[a.Login] {
			return nil, fmt.Errorf("testprovider: Options.Accounts[%d]: duplicate Subject %q or Login %q", i, a.Subject, a.Login)
		}
		subjects[a.Subject] = true
		logins[a.Login] = true
		cfg.Accounts = append(cfg.Accounts, accountConfig{
			Subject:  a.Subject,
			Login:    a.Login,
			Password: a.Password,
			Claims:   a.claims(),
		})
	}
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("testprovider: Options.Accounts is empty: pass nil for DefaultAccounts")
	}

	if opts.TLS {
		ca, err := newTestCA(dir)
		if err != nil {
			return nil, err
		}
		p.ca = ca.cert
		cfg.TLS = &tlsConfig{CertFile: ca.certFile, KeyFile: ca.keyFile}
	}

	return json.Marshal(cfg)
}

// claims returns the account's claims other than sub, as the provider
// releases them.
func (a Account) claims() map[string]any {
	claims := map[string]any{}
	if a.Name != "" {
		claims["name"] = a.Name
	}
	if a.Picture != "" {
		claims["picture"] = a.Picture
	}
	if a.Email != "" {
		claims["email"] = a.Email
		claims["email_verified"] = a.EmailVerified
	}
	if a.PhoneNumber != "" {
		claims["phone_number"] = a.PhoneNumber
		claims["phone_number_verified"] = a.PhoneNumberVerified
	}
	return claims
}
