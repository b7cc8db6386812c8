package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkit/latch/example/internal/exampletest"
)

func init() {
	gin.SetMode(gin.TestMode)
}

func TestSignInAndOut(t *testing.T) {
	exampletest.Run(t, func(s exampletest.Settings) (http.Handler, error) {
		auth, err := newAuth(context.Background(), settings{
			issuer: s.Issuer, clientID: s.ClientID, clientSecret: s.ClientSecret, baseURL: s.BaseURL,
		}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = auth.Close() })
		return routes(auth), nil
	})
}

func TestNeedsIssuer(t *testing.T) {
	_, err := newAuth(context.Background(), settings{baseURL: "http://localhost:3000"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER") {
		t.Errorf("newAuth without an issuer = %v, want an error naming OIDC_ISSUER", err)
	}
}

func TestProgramAgainstOIDCProvider(t *testing.T) {
	exampletest.RunProgram(t)
}

func TestIsLoopbackHTTP(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:9000": true, "http://localhost:9000": true, "http://[::1]:9000": true,
		"https://127.0.0.1": false, "http://id.example": false, "http://10.0.0.1": false, "::": false,
	} {
		if got := isLoopbackHTTP(raw); got != want {
			t.Errorf("isLoopbackHTTP(%q) = %v, want %v", raw, got, want)
		}
	}
}
