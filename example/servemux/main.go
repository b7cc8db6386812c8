// Command servemux shows latch on a net/http ServeMux with Go 1.22
// patterns: a home page, a /dashboard page and an /api/me JSON endpoint,
// both behind RequireAuth.
//
//	OIDC_ISSUER=https://tenant.logto.app/oidc OIDC_CLIENT_ID=... \
//	    OIDC_CLIENT_SECRET=... go run ./example/servemux
//
// It reads the environment variables of ./example: OIDC_ISSUER,
// OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, LATCH_BASE_URL (default
// http://localhost:3000) and LATCH_ADDR (default localhost:3000).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/latchkit/latch"
)

// routes returns the site: latch's routes and the session of every request
// come from Wrap, and RequireAuth guards the private routes.
func routes(auth *latch.Auth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", home)
	mux.Handle("GET /dashboard", auth.RequireAuth(http.HandlerFunc(dashboard)))
	mux.Handle("GET /api/me", auth.RequireAuth(http.HandlerFunc(me)))
	return auth.Wrap(mux)
}

func home(w http.ResponseWriter, r *http.Request) {
	user, _ := latch.UserFrom(r.Context())
	render(w, "latch with http.ServeMux", user)
}

func dashboard(w http.ResponseWriter, r *http.Request) {
	user, _ := latch.UserFrom(r.Context())
	render(w, "Dashboard", user)
}

func me(w http.ResponseWriter, r *http.Request) {
	user, _ := latch.UserFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"subject": user.Subject, "name": user.Name, "email": user.Email, "method": string(user.Method),
	})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto">
<h1>{{.Title}}</h1>
{{with .User}}
<p>Signed in as <strong>{{or .Name .Email .Subject}}</strong>.</p>
<p><a href="/dashboard">Dashboard</a> · <a href="/api/me">/api/me</a></p>
<form method="post" action="/sign-out"><button type="submit">Sign out</button></form>
{{else}}
<p>You are not signed in.</p>
<p><a href="/sign-in?return_to=%2Fdashboard">Sign in</a></p>
{{end}}
</body></html>`))

func render(w http.ResponseWriter, title string, user *latch.User) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = page.Execute(w, struct {
		Title string
		User  *latch.User
	}{title, user})
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("servemux: " + err.Error())
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := settingsFromEnv()
	auth, err := newAuth(ctx, s, logger)
	if err != nil {
		return err
	}
	defer auth.Close()
	return serve(ctx, s, routes(auth), logger)
}

// settings are the program's environment variables.
type settings struct {
	issuer, clientID, clientSecret string
	baseURL, addr                  string
}

func settingsFromEnv() settings {
	return settings{
		issuer:       os.Getenv("OIDC_ISSUER"),
		clientID:     os.Getenv("OIDC_CLIENT_ID"),
		clientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
		baseURL:      envOr("LATCH_BASE_URL", "http://localhost:3000"),
		addr:         envOr("LATCH_ADDR", "localhost:3000"),
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func newAuth(ctx context.Context, s settings, logger *slog.Logger) (*latch.Auth, error) {
	if s.issuer == "" {
		return nil, errors.New("OIDC_ISSUER is not set: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (see README.md)")
	}
	discover, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return latch.New(discover, latch.Config{
		Issuer:       s.issuer,
		ClientID:     s.clientID,
		ClientSecret: s.clientSecret,
		BaseURL:      s.baseURL,
		Logger:       logger,
		// Plain http only for a provider on this machine, such as the
		// oidc-provider that the repository's tests use.
		InsecureAllowHTTPIssuer: isLoopbackHTTP(s.issuer),
	})
}

// isLoopbackHTTP reports whether raw is an http URL on a loopback address.
func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// serve serves h until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, s settings, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Addr:              s.addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	logger.Info("serving", "addr", s.addr, "url", s.baseURL)

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}
