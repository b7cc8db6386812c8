package latch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/templates"
)

func TestNewRejectsConfig(t *testing.T) {
	ok := Config{Issuer: "https://id.example/oidc", ClientID: "c", BaseURL: "https://app.example"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"issuer missing", func(c *Config) { c.Issuer = "" }, "Issuer is missing"},
		{"issuer relative", func(c *Config) { c.Issuer = "/oidc" }, "not an absolute"},
		{"issuer over http", func(c *Config) { c.Issuer = "http://id.example" }, "InsecureAllowHTTPIssuer"},
		{"issuer other scheme", func(c *Config) { c.Issuer = "ftp://id.example" }, "not an absolute http or https"},
		{"client id missing", func(c *Config) { c.ClientID = "" }, "ClientID is missing"},
		{"base URL missing", func(c *Config) { c.BaseURL = "" }, "BaseURL is missing"},
		{"base URL relative", func(c *Config) { c.BaseURL = "app.example" }, "BaseURL \"app.example\""},
		{"base URL with path", func(c *Config) { c.BaseURL = "https://app.example/app" }, "scheme and host only"},
		{"base URL with query", func(c *Config) { c.BaseURL = "https://app.example/?x=1" }, "scheme and host only"},
		{"base URL with user", func(c *Config) { c.BaseURL = "https://u:p@app.example" }, "scheme and host only"},
		{"post sign-out relative", func(c *Config) { c.PostSignOutURL = "/bye" }, "PostSignOutURL"},
		{"path without slash", func(c *Config) { c.Paths.SignIn = "login" }, "Paths.SignIn"},
		{"path scheme-relative", func(c *Config) { c.Paths.Callback = "//cb" }, "Paths.Callback"},
		{"path with query", func(c *Config) { c.Paths.SignOut = "/out?x" }, "Paths.SignOut"},
		{"paths collide", func(c *Config) { c.Paths.SignOut = "/sign-in" }, "both \"/sign-in\""},
		{"negative lifetime", func(c *Config) { c.SessionLifetime = -time.Hour }, "SessionLifetime"},
		{"skew too large", func(c *Config) { c.ClockSkew = time.Hour }, "ClockSkew"},
		{"negative skew", func(c *Config) { c.ClockSkew = -time.Second }, "ClockSkew"},
		{"bad prompt", func(c *Config) { c.Prompt = "always" }, "Prompt"},
		{"none with others", func(c *Config) { c.Prompt = "none login" }, "Prompt"},
		{"bad resource", func(c *Config) { c.Resources = []string{"api"} }, "Resources"},
		{"negative max sessions", func(c *Config) { c.MaxSessions = -1 }, "MaxSessions"},
		{"bad accent", func(c *Config) { c.Pages = templates.Options{AccentColor: "red;}"} }, "AccentColor"},
		{"bad logo", func(c *Config) { c.Pages = templates.Options{LogoURL: "javascript:alert(1)"} }, "LogoURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			_, err := New(context.Background(), c)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want an ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestNewProviderProblems(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	mismatched := oidctest.New(t)
	mismatched.Discovery = func(doc map[string]any) { doc["issuer"] = "https://other.example" }
	noKeys := oidctest.New(t)
	noKeys.Discovery = func(doc map[string]any) { doc["jwks_uri"] = noKeys.Issuer + "/missing" }
	httpToken := oidctest.New(t)
	httpToken.Discovery = func(doc map[string]any) { doc["token_endpoint"] = "ftp://x/token" }
	hsOnly := oidctest.New(t)
	hsOnly.Discovery = func(doc map[string]any) { doc["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }
	implicitOnly := oidctest.New(t)
	implicitOnly.Discovery = func(doc map[string]any) { doc["response_types_supported"] = []string{"id_token"} }

	tests := []struct {
		name   string
		issuer string
		want   string
	}{
		{"unreachable", closed.URL, "check Config.Issuer"},
		{"issuer mismatch", mismatched.Issuer, `reports its issuer as "https://other.example"`},
		{"key set missing", noKeys.Issuer, "keys"},
		{"odd token endpoint", httpToken.Issuer, "token_endpoint"},
		{"symmetric algorithms only", hsOnly.Issuer, "asymmetric"},
		{"no code flow", implicitOnly.Issuer, "authorization code flow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{
				Issuer: tt.issuer, ClientID: "client", BaseURL: "http://127.0.0.1:1",
				InsecureAllowHTTPIssuer: true, HTTPClient: &http.Client{Timeout: 2 * time.Second},
			})
			if !errors.Is(err, ErrProvider) {
				t.Fatalf("New = %v, want an ErrProvider", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestNewDefaultScopes(t *testing.T) {
	idp := oidctest.New(t)
	idp.Discovery = func(doc map[string]any) { delete(doc, "scopes_supported") }
	s := newSiteFor(t, idp, nil)
	if got := strings.Join(s.auth.oidc.oauth.Scopes, " "); got != "openid profile email" {
		t.Errorf("scopes for a provider without scopes_supported = %q, want openid profile email", got)
	}
}

func TestNewRespectsContext(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := New(ctx, Config{Issuer: hang.URL, ClientID: "c", BaseURL: "http://127.0.0.1:1", InsecureAllowHTTPIssuer: true})
	if !errors.Is(err, ErrProvider) || time.Since(start) > 5*time.Second {
		t.Errorf("New against a hanging provider = %v after %v, want ErrProvider within the context's deadline", err, time.Since(start))
	}
}

func TestProviderBodyLimit(t *testing.T) {
	idp := oidctest.New(t)
	big := strings.Repeat("x", maxProviderBody+10)
	idp.Discovery = func(doc map[string]any) { doc["padding"] = big }
	_, err := New(context.Background(), Config{
		Issuer: idp.Issuer, ClientID: "client", BaseURL: "http://127.0.0.1:1", InsecureAllowHTTPIssuer: true,
	})
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("New with a %d-byte discovery document = %v, want ErrProvider about its size", len(big), err)
	}
}

func TestValidPrompt(t *testing.T) {
	for p, want := range map[string]bool{
		"login": true, "consent": true, "select_account": true, "none": true, "login consent": true,
		"": false, "none login": false, " login": false, "login  consent": false, "LOGIN": false, "bogus": false,
	} {
		if got := validPrompt(p); got != want {
			t.Errorf("validPrompt(%q) = %v, want %v", p, got, want)
		}
	}
}
