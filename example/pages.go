package main

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/url"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/templates"
)

func templatesOptions() templates.Options {
	return templates.Options{SiteName: "latch example", AccentColor: "#1f6feb"}
}

// routes are the example's own pages.
func routes(auth *latch.Auth, oidc bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		user, _ := latch.UserFrom(r.Context())
		render(w, pageData{User: user, OIDC: oidc})
	})
	mux.Handle("GET /dashboard", auth.RequireAuth(http.HandlerFunc(dashboard)))
	return mux
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>latch example</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem">
<h1>latch example</h1>
{{if .User}}
<p>Signed in as <strong>{{or .User.Name .User.Email .User.Phone .User.Subject}}</strong> ({{.User.Method}}).</p>
<p><a href="/dashboard">Dashboard</a></p>
<form method="post" action="/sign-out"><button type="submit">Sign out</button></form>
{{else}}
<p>You are not signed in.</p>
<p><a href="/sign-in/phone?return_to=%2Fdashboard">Sign in with your phone</a> or <a href="/sign-up/phone?return_to=%2Fdashboard">create an account</a>{{if .OIDC}}, or <a href="/sign-in?return_to=%2Fdashboard">sign in with your provider</a>{{end}}.</p>
{{end}}
{{with .Claims}}<h2>Claims</h2><pre>{{.}}</pre>{{end}}
</body></html>`))

type pageData struct {
	User   *latch.User
	Claims string
	OIDC   bool
}

func dashboard(w http.ResponseWriter, r *http.Request) {
	user, _ := latch.UserFrom(r.Context())
	var claims bytes.Buffer
	_ = json.Indent(&claims, user.RawClaims(), "", "  ")
	render(w, pageData{User: user, Claims: claims.String()})
}

func render(w http.ResponseWriter, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = page.Execute(w, data)
}

// isLocalHTTP reports whether raw is an http URL on a loopback address.
func isLocalHTTP(raw string) bool {
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
