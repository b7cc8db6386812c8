package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkit/latch/internal/oidctest"
)

func TestExampleSignInAndOut(t *testing.T) {
	idp := oidctest.New(t)
	srv := httptest.NewServer(nil)
	defer srv.Close()
	auth, err := newAuth(context.Background(), settings{
		issuer: idp.Issuer, clientID: idp.ClientID, clientSecret: idp.ClientSecret, baseURL: srv.URL,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newAuth: %v", err)
	}
	srv.Config.Handler = auth.Wrap(routes(auth))

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if _, body := get("/"); !strings.Contains(body, "You are not signed in") {
		t.Errorf("home page before sign-in: %q", body)
	}
	// The dashboard sends the browser through the provider and back.
	code, body := get("/dashboard")
	if code != http.StatusOK || !strings.Contains(body, "Signed in as <strong>Ada Lovelace</strong> (oidc)") || !strings.Contains(body, "ada@example.com") {
		t.Errorf("dashboard after sign-in: status %d body %q", code, body)
	}

	req, _ := http.NewRequest("POST", srv.URL+"/sign-out", nil)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, body := get("/"); !strings.Contains(body, "You are not signed in") {
		t.Errorf("home page after sign-out: %q", body)
	}
	if len(idp.EndSessions) != 1 {
		t.Errorf("end-session requests = %d, want 1", len(idp.EndSessions))
	}
}

func TestExampleNeedsIssuer(t *testing.T) {
	_, err := newAuth(context.Background(), settings{baseURL: "http://localhost:3000"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER") {
		t.Errorf("newAuth without an issuer = %v, want an error naming OIDC_ISSUER", err)
	}
}

func TestIsLocalHTTP(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:9000": true, "http://localhost:9000": true, "http://[::1]:9000": true,
		"https://127.0.0.1": false, "http://id.example": false, "http://10.0.0.1": false,
	} {
		if got := isLocalHTTP(raw); got != want {
			t.Errorf("isLocalHTTP(%q) = %v, want %v", raw, got, want)
		}
	}
}
