package latch

// What latch logs: no secret in full flows, and no forged records from
// hostile input, with both of slog's handlers.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/otp"
)

// countingHandler counts the records that reach a handler.
type countingHandler struct {
	slog.Handler
	n *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.n.Add(1)
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(attrs), h.n}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.n}
}

// logFormats are the two handlers of log/slog, by name.
var logFormats = map[string]func(*logBuffer) slog.Handler{
	"text": func(w *logBuffer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	},
	"json": func(w *logBuffer) slog.Handler {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	},
}

// collect is a set of secrets seen during a flow, by name.
type collect map[string]string

func (c collect) add(name, value string) {
	if value != "" {
		c[name+" "+value[:min(len(value), 6)]] = value
	}
}

func TestAttackLogsHoldNoSecrets(t *testing.T) {
	for format := range logFormats {
		t.Run(format, func(t *testing.T) {
			logs := &logBuffer{}
			records := &atomic.Int64{}
			ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
				c.Logger = slog.New(countingHandler{logFormats[format](logs), records})
				oc.Logger = c.Logger
				c.ClientSecret = "client-secret-Zq8Pw3"
			})
			idp := ps.idp
			idp.ClientSecret = "client-secret-Zq8Pw3"
			idp.AccessTokenTTL = time.Minute
			idp.Claims["phone_number"] = "+8613900139000"
			secrets := collect{}
			secrets.add("client secret", idp.ClientSecret)
			secrets.add("phone", "13900139000")

			// OpenID Connect: sign-in, refresh, sign-out.
			b := ps.browser()
			auth := ps.startSignIn(b, "return_to=/private")
			secrets.add("state", auth.Query().Get("state"))
			secrets.add("nonce", auth.Query().Get("nonce"))
			secrets.add("verifier", pendingVerifier(t, ps.site, b, auth.Query().Get("state")))
			secrets.add("session token", ps.sessionCookie(b))
			cb := ps.authorize(b, auth)
			secrets.add("code", cb.Query().Get("code"))
			b.get(cb.String()).expectStatus(t, http.StatusFound)
			secrets.add("session token", ps.sessionCookie(b))
			tokens := currentTokens(t, ps.site, b)
			secrets.add("access token", tokens.AccessToken)
			secrets.add("refresh token", tokens.refreshToken)
			secrets.add("ID token", tokens.IDToken)
			for i, part := range strings.Split(tokens.IDToken, ".") {
				secrets.add("ID token part "+string(rune('0'+i)), part)
			}
			ps.clock.Advance(2 * time.Minute)
			b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusOK)
			tokens = currentTokens(t, ps.site, b)
			secrets.add("refreshed access token", tokens.AccessToken)
			secrets.add("refreshed refresh token", tokens.refreshToken)
			secrets.add("refreshed ID token", tokens.IDToken)
			b.post(ps.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)

			// Failures: a forged token, a replayed callback, a provider
			// error, a refresh the provider rejects, a UserInfo error.
			attacker := oidctest.New(t).AddKey(jose.RS256)
			idp.Mu.Lock()
			idp.SignIDToken = func(h, c map[string]any) string { return oidctest.SignWith(attacker, h, c) }
			idp.Mu.Unlock()
			fb := ps.browser()
			fcb := ps.authorize(fb, ps.startSignIn(fb, ""))
			secrets.add("forged flow code", fcb.Query().Get("code"))
			secrets.add("forged flow state", fcb.Query().Get("state"))
			fb.get(fcb.String())
			fb.get(fcb.String())
			idp.Mu.Lock()
			idp.SignIDToken = nil
			idp.UserInfo = func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(r.Header.Get("Authorization")))
				return true
			}
			idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
				if r.FormValue("grant_type") == "refresh_token" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token ` + r.FormValue("refresh_token") + ` revoked"}`))
					return true
				}
				return false
			}
			idp.Mu.Unlock()
			rb := ps.browser()
			rcb := ps.authorize(rb, ps.startSignIn(rb, ""))
			secrets.add("second code", rcb.Query().Get("code"))
			rb.get(rcb.String()).expectStatus(t, http.StatusFound)
			rt := currentTokens(t, ps.site, rb)
			secrets.add("second access token", rt.AccessToken)
			secrets.add("second refresh token", rt.refreshToken)
			ps.clock.Advance(2 * time.Minute)
			rb.get(ps.srv.URL+"/private").expectStatus(t, http.StatusFound)

			// Phone: a wrong code, then sign-in and sign-out.
			pb := ps.browser()
			page := ps.sendCode(pb, "/sign-in/phone", "138 0013 8000")
			code := ps.sender.last(t).Code
			secrets.add("phone", "13800138000")
			secrets.add("phone flow", flowOf(t, page))
			wrong := "000000"
			if wrong == code {
				wrong = "111111"
			}
			ps.enterCode(pb, "/sign-in/phone", flowOf(t, page), wrong)
			ps.enterCode(pb, "/sign-in/phone", flowOf(t, page), code).expectStatus(t, http.StatusSeeOther)
			secrets.add("phone session token", ps.sessionCookie(pb))
			pb.post(ps.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)

			out := logs.String()
			if records.Load() < 10 {
				t.Fatalf("only %d log records for full flows; the test does not see the logs", records.Load())
			}
			for name, secret := range secrets {
				if i := strings.Index(out, secret); i >= 0 {
					line := out[strings.LastIndexByte(out[:i], '\n')+1:]
					line, _, _ = strings.Cut(line, "\n")
					t.Errorf("log contains the %s: %.300s", name, line)
				}
			}
			// A six-digit code could match inside another number, so it is
			// looked for as a whole word.
			for _, c := range []string{code, wrong} {
				if regexp.MustCompile(`\b` + c + `\b`).MatchString(out) {
					t.Errorf("log contains the phone code %s", c)
				}
			}
			mustContain(t, "log", out, "+86*******8000")
		})
	}
}

// hostile is input that would forge log records or colour a terminal if a
// handler wrote it as it is.
const hostile = "x\n" + `time=2020-01-01T00:00:00Z level=ERROR msg="forged record" admin=true` + "\r\n\x1b[2J\x1b[31m{\"level\":\"ERROR\",\"msg\":\"forged\"}"

func TestAttackLogInjection(t *testing.T) {
	for format := range logFormats {
		t.Run(format, func(t *testing.T) {
			logs := &logBuffer{}
			records := &atomic.Int64{}
			ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
				c.Logger = slog.New(countingHandler{logFormats[format](logs), records})
				oc.Logger = c.Logger
			})
			b := ps.browser()
			// error_description and error of a real attempt.
			cb := ps.authorize(b, ps.startSignIn(b, ""))
			q := cb.Query()
			q.Set("error", "access_denied")
			q.Set("error_description", hostile)
			cb.RawQuery = q.Encode()
			b.get(cb.String())
			// The same without state, and identifier, login_hint and the
			// request path of a cross-site post.
			b.get(ps.srv.URL + "/callback?" + url.Values{"error": {"x"}, "error_description": {hostile}}.Encode())
			b.get(ps.srv.URL + "/sign-in?" + url.Values{"identifier": {hostile}}.Encode())
			b.get(ps.srv.URL + "/sign-in?" + url.Values{"login_hint": {hostile}}.Encode())
			b.do(http.MethodPost, ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}},
				http.Header{"Origin": {`https://evil.example level=ERROR msg="forged"`}, "Sec-Fetch-Site": {"cross-site"}})
			// A phone number and a country.
			b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {hostile}, "country": {hostile}})
			b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"138 0013 8000" + hostile}, "country": {"CN"}})
			// A token endpoint error code.
			ps.idp.Mu.Lock()
			ps.idp.Token = tokenAnswer(400, "application/json", `{"error":`+jsonString(hostile)+`}`)
			ps.idp.Mu.Unlock()
			tb := ps.browser()
			tb.get(ps.authorize(tb, ps.startSignIn(tb, "")).String())

			out := logs.String()
			if strings.ContainsAny(out, "\x1b\r") {
				t.Errorf("log output contains a raw escape or carriage return")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if int64(len(lines)) != records.Load() {
				t.Errorf("%d log records wrote %d lines, want one line each:\n%s", records.Load(), len(lines), out)
			}
			for _, line := range lines {
				switch format {
				case "text":
					if !strings.HasPrefix(line, "time=") || strings.HasPrefix(line, "time=2020") {
						t.Errorf("text log line does not start a real record: %.200s", line)
					}
				case "json":
					var rec map[string]any
					if err := json.NewDecoder(bytes.NewReader([]byte(line))).Decode(&rec); err != nil {
						t.Errorf("JSON log line does not parse: %v: %.200s", err, line)
					}
					if rec["msg"] == "forged" || rec["admin"] != nil {
						t.Errorf("JSON log line is a forged record: %.200s", line)
					}
				}
			}
			mustContain(t, "log", out, "provider returned an error")
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAttackLogVolume sends requests with huge values where latch logs a
// rejection, and checks that each costs a bounded line of log.
func TestAttackLogVolume(t *testing.T) {
	s := newSite(t, nil)
	big := strings.Repeat("A", 64<<10)
	b := s.browser()
	requests := []func(){
		func() { b.get(s.srv.URL + "/sign-in?first_screen=" + big) },
		func() { b.get(s.srv.URL + "/sign-in?prompt=" + big) },
		func() { b.get(s.srv.URL + "/sign-in?identifier=" + big) },
		func() { b.get(s.srv.URL + "/callback?error=" + big) },
		func() {
			b.get(s.srv.URL + "/callback?state=" + big[:maxCallbackParam] + "&iss=" + big[:maxCallbackParam])
		},
		func() {
			b.do(http.MethodPost, s.srv.URL+"/sign-out/"+big, url.Values{}, http.Header{"Origin": {"https://" + big}, "Sec-Fetch-Site": {"cross-site"}})
		},
		func() {
			b.do(http.MethodPost, s.srv.URL+"/sign-out", url.Values{}, http.Header{"Origin": {"https://" + big}, "Sec-Fetch-Site": {"cross-site"}})
		},
	}
	for i, request := range requests {
		before := len(s.logs.String())
		request()
		if n := len(s.logs.String()) - before; n > 2048 {
			t.Errorf("request %d with a 64 KiB value wrote %d bytes of log, want at most 2048", i, n)
		}
	}
	cb := s.authorize(b, s.startSignIn(b, ""))
	q := cb.Query()
	q.Set("iss", big[:maxCallbackParam])
	cb.RawQuery = q.Encode()
	before := len(s.logs.String())
	b.get(cb.String())
	if n := len(s.logs.String()) - before; n > 2048 {
		t.Errorf("callback with a 4 KiB iss wrote %d bytes of log, want at most 2048", n)
	}
}
