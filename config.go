package latch

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/templates"
)

// Config configures an [Auth]. OpenID Connect sign-in needs Issuer,
// ClientID and BaseURL; phone sign-in needs Phone and BaseURL. Either may
// be used alone. Every other field has a safe default that [New] fills in.
type Config struct {
	// Issuer is the OpenID provider's issuer URL, exactly as its discovery
	// document states it. For Logto it is the tenant endpoint followed by
	// "/oidc", such as "https://tenant.logto.app/oidc". It must use https
	// unless InsecureAllowHTTPIssuer is set. Empty turns OpenID Connect
	// sign-in off, which needs Phone.
	Issuer string

	// ClientID is the client identifier that the provider issued to this
	// site (Logto calls it the App ID). Required with Issuer.
	ClientID string

	// ClientSecret is the client secret for a confidential client (Logto's
	// "Traditional web" application). Empty means a public client, which
	// relies on PKCE alone.
	ClientSecret string

	// BaseURL is the site's external URL: a scheme and a host, with an
	// optional port, such as "https://app.example". The redirect URI
	// (BaseURL + Paths.Callback) and the post sign-out URL derive from it,
	// and an https BaseURL makes the session cookie Secure. Request headers
	// never override it. Required.
	BaseURL string

	// Scopes are the scopes requested at sign-in. "openid" is added when
	// missing. Nil means openid, profile and email, plus phone and
	// offline_access where the provider's discovery document lists them.
	Scopes []string

	// Resources are the API resource indicators (RFC 8707 "resource"
	// parameters) requested at every sign-in. Logto issues access tokens
	// for an API resource only when it is requested here.
	Resources []string

	// Prompt is the "prompt" parameter sent at every sign-in, such as
	// "login" or "consent". Empty sends none. A sign-in request may ask for
	// its own prompt with the prompt query parameter.
	Prompt string

	// ProviderName is the provider's name on the button that offers
	// OpenID Connect sign-in beside phone sign-in, as in "Continue with
	// Logto". Empty means the issuer's host name.
	ProviderName string

	// Phone turns on sign-in with a phone number and a one-time code. Nil
	// means no phone sign-in.
	Phone *PhoneConfig

	// TrustedProxies are the addresses of reverse proxies in front of the
	// site. The client address of a request that comes from one of them is
	// read from X-Forwarded-For, for the per-client limits of phone codes.
	// Empty means the connection's remote address is the client.
	TrustedProxies []netip.Prefix

	// Paths are the request paths that latch serves. Zero fields take the
	// defaults of [Paths].
	Paths Paths

	// PostSignOutURL is the address to which the provider sends the
	// browser after sign-out. It must be registered with the provider as a post sign-out
	// redirect URI. Empty means BaseURL + "/".
	PostSignOutURL string

	// Sessions is the scs session manager that holds sign-in state. Nil
	// means a new in-memory manager with HttpOnly, SameSite=Lax cookies,
	// Secure and the __Host- name prefix when BaseURL uses https, hashed
	// tokens in the store and latch's compact codec. A caller-supplied
	// manager is used as it is; see [Auth.Sessions].
	Sessions *scs.SessionManager

	// SessionStore is the store of the session manager that latch makes.
	// Set it to a shared store, such as one from store/redis or
	// store/postgres, when the site runs on several instances. Nil means
	// in memory. It is ignored when Sessions is set.
	SessionStore scs.Store

	// MaxSessions bounds the number of sessions that the default in-memory
	// store holds. Zero means 100,000. When it is full and none has
	// expired, new sessions fail with 503 while existing ones keep working.
	MaxSessions int

	// SessionLifetime is the absolute lifetime of a signed-in session,
	// counted from sign-in. Zero means 24 hours. It applies only to the
	// session manager that latch makes.
	SessionLifetime time.Duration

	// IdleTimeout ends a session that has seen no request for this long.
	// Zero means 2 hours; a negative value turns the idle timeout off.
	// latch records activity at most once per tenth of the timeout, so a
	// session may end up to that much early. In exchange, a request that
	// changes nothing writes nothing to the store. It applies only to the
	// session manager that latch makes.
	IdleTimeout time.Duration

	// ClockSkew is the leeway allowed when checking the exp, iat and nbf
	// claims of ID tokens. Zero means 1 minute; at most 5 minutes.
	ClockSkew time.Duration

	// AdditionalAudiences lists audiences, besides ClientID, that an ID
	// token may name. An ID token whose aud names any other party is
	// rejected, as OpenID Connect Core 1.0 section 3.1.3.7 requires of
	// audiences the client does not trust.
	AdditionalAudiences []string

	// SkipUserInfo stops latch from fetching the UserInfo endpoint at
	// sign-in. By default the claims it returns fill in what the ID token
	// lacks, because some providers, oidc-provider among them, put profile
	// claims only there.
	SkipUserInfo bool

	// Pages customizes latch's pages: the site name, logo, accent colour
	// and replacement templates.
	Pages templates.Options

	// HTTPClient makes every request to the provider. Nil means a client
	// with a 10 second timeout. Its timeout, or 10 seconds for a client
	// without one, also bounds each sign-in's exchange with the provider as
	// a whole, and each token refresh and key set fetch. latch caps each
	// response body at 1 MiB whatever the client.
	HTTPClient *http.Client

	// Logger receives sign-in, sign-out and failure events. Nil means
	// [slog.Default]. No token, code, secret or session token is logged.
	Logger *slog.Logger

	// InsecureAllowHTTPIssuer accepts an http:// Issuer. Use it only
	// against a provider on a loopback address during development: over
	// plain http, anyone on the path can read the tokens.
	InsecureAllowHTTPIssuer bool

	// Now returns the current time. Nil means [time.Now]. Tests set it to
	// move the clock.
	Now func() time.Time
}

// Paths are the request paths of latch's routes. Each must start with "/".
type Paths struct {
	// SignIn starts a sign-in. Default "/sign-in".
	SignIn string
	// Callback receives the provider's authorization response. Default
	// "/callback". BaseURL + Callback must be registered with the provider
	// as a redirect URI.
	Callback string
	// SignOut shows the sign-out confirmation (GET) and signs out (POST).
	// Default "/sign-out".
	SignOut string
	// AfterSignIn is the path at which a sign-in without a return_to
	// ends. Default "/".
	AfterSignIn string
	// PhoneSignIn serves the phone sign-in pages. Default "/sign-in/phone".
	PhoneSignIn string
	// PhoneSignUp serves the phone sign-up pages, which issue codes for
	// the Register purpose. Default "/sign-up/phone".
	PhoneSignUp string
}

// Defaults used where a Config field is zero.
const (
	defaultSessionLifetime = 24 * time.Hour
	defaultIdleTimeout     = 2 * time.Hour
	defaultClockSkew       = time.Minute
	maxClockSkew           = 5 * time.Minute
	defaultProviderTimeout = 10 * time.Second
)

// ErrInvalidConfig is wrapped by every error that [New] returns for a
// Config it cannot use, so callers can tell a bad Config from an
// unreachable provider with [errors.Is].
var ErrInvalidConfig = errors.New("latch: invalid configuration")

func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// withDefaults returns a copy of c with zero fields filled in, or an error
// naming the first field that cannot be used.
func (c Config) withDefaults() (Config, error) {
	if err := c.checkProviderFields(); err != nil {
		return c, err
	}
	base, err := checkBaseURL(c.BaseURL)
	if err != nil {
		return c, err
	}
	c.BaseURL = base

	if err := c.fillPaths(); err != nil {
		return c, err
	}
	if c.PostSignOutURL == "" {
		c.PostSignOutURL = c.BaseURL + "/"
	} else if err := checkAbsoluteURL("PostSignOutURL", c.PostSignOutURL); err != nil {
		return c, err
	}

	if c.SessionLifetime < 0 {
		return c, configErrorf("SessionLifetime is negative (%v): set a positive duration or zero for the default of 24h", c.SessionLifetime)
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = defaultSessionLifetime
	}
	if c.MaxSessions < 0 {
		return c, configErrorf("MaxSessions is negative (%d): set a positive number or zero for the default of 100,000", c.MaxSessions)
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = defaultMaxSessions
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}

	switch {
	case c.ClockSkew < 0 || c.ClockSkew > maxClockSkew:
		return c, configErrorf("ClockSkew %v is out of range: use a value from 0 to %v", c.ClockSkew, maxClockSkew)
	case c.ClockSkew == 0:
		c.ClockSkew = defaultClockSkew
	}

	if c.Prompt != "" && !validPrompt(c.Prompt) {
		return c, configErrorf("Prompt %q is not a space-separated list of none, login, consent and select_account", c.Prompt)
	}
	for _, r := range c.Resources {
		if err := checkAbsoluteURL("Resources", r); err != nil {
			return c, err
		}
	}
	if c.Scopes != nil && !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}

	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultProviderTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

func (c *Config) checkProviderFields() error {
	if c.Phone != nil {
		if err := c.Phone.check(); err != nil {
			return err
		}
	}
	if c.Issuer == "" {
		if c.Phone != nil {
			return nil
		}
		return configErrorf("Issuer is missing: set it to your OpenID provider's issuer URL (for Logto, https://<tenant>.logto.app/oidc), or set Phone for phone sign-in alone")
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return configErrorf("Issuer %q is not an absolute http or https URL", c.Issuer)
	}
	if u.Scheme == "http" && !c.InsecureAllowHTTPIssuer {
		return configErrorf("Issuer %q uses http: use the provider's https URL, or set InsecureAllowHTTPIssuer for a local development provider", c.Issuer)
	}
	if c.ClientID == "" {
		return configErrorf("ClientID is missing: set it to the client ID (Logto: App ID) that the provider issued for this site")
	}
	return nil
}

func checkBaseURL(raw string) (string, error) {
	if raw == "" {
		return "", configErrorf("BaseURL is missing: set it to the site's external URL, such as https://app.example")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", configErrorf("BaseURL %q is not an absolute http or https URL such as https://app.example", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", configErrorf("BaseURL %q must be a scheme and host only, such as https://app.example: set Paths to serve latch under a path prefix", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

func checkAbsoluteURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return configErrorf("%s %q is not an absolute http or https URL", field, raw)
	}
	return nil
}

func (c *Config) fillPaths() error {
	p := &c.Paths
	fields := []struct {
		name  string
		value *string
		def   string
	}{
		{"Paths.SignIn", &p.SignIn, "/sign-in"},
		{"Paths.Callback", &p.Callback, "/callback"},
		{"Paths.SignOut", &p.SignOut, "/sign-out"},
		{"Paths.AfterSignIn", &p.AfterSignIn, "/"},
		{"Paths.PhoneSignIn", &p.PhoneSignIn, "/sign-in/phone"},
		{"Paths.PhoneSignUp", &p.PhoneSignUp, "/sign-up/phone"},
	}
	seen := map[string]string{}
	for _, f := range fields {
		if *f.value == "" {
			*f.value = f.def
		}
		if !strings.HasPrefix(*f.value, "/") || strings.HasPrefix(*f.value, "//") || strings.ContainsAny(*f.value, "?#\\ ") {
			return configErrorf("%s %q must be a path that starts with a single \"/\" and has no query", f.name, *f.value)
		}
		if f.name == "Paths.AfterSignIn" {
			continue
		}
		if other, dup := seen[*f.value]; dup {
			return configErrorf("%s and %s are both %q: give each route its own path", other, f.name, *f.value)
		}
		seen[*f.value] = f.name
	}
	return nil
}

func (p *PhoneConfig) check() error {
	if p.Codes == nil {
		return configErrorf("Phone.Codes is missing: create the code service with otp.New")
	}
	if !p.Codes.Allows(otp.SignIn) {
		return configErrorf("Phone.Codes does not allow the SignIn purpose: add otp.SignIn to otp.Config.Purposes")
	}
	if !p.DisableSignUp && !p.Codes.Allows(otp.Register) {
		return configErrorf("Phone.Codes does not allow the Register purpose: add otp.Register to otp.Config.Purposes, or set Phone.DisableSignUp")
	}
	return nil
}

// validPrompt reports whether p is a space-separated list of the prompt
// values that OpenID Connect Core 1.0 section 3.1.2.1 defines. "none" may
// not be combined with others.
func validPrompt(p string) bool {
	values := strings.Fields(p)
	if len(values) == 0 || strings.Join(values, " ") != p {
		return false
	}
	for _, v := range values {
		switch v {
		case "login", "consent", "select_account":
		case "none":
			if len(values) > 1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isHTTPS reports whether the site is served over https, which decides the
// Secure attribute and the __Host- prefix of the session cookie.
func (c *Config) isHTTPS() bool {
	return strings.HasPrefix(c.BaseURL, "https://")
}

// isLoopbackURL reports whether raw names a loopback host, where plain http
// is expected during development.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
