package latch

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/internal/teststores"
	"github.com/latchkit/latch/otp"
)

// The benchmarks of the request path. BenchmarkHandlerBare is the
// baseline: the same handler with nothing in front of it. Compare the
// others with it in the same run (BENCHMARKS.md explains how).

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
})

// benchAuth returns an Auth for benchmarks, phone-only so that no provider
// is needed: the request path is the same for every sign-in method.
func benchAuth(b *testing.B, edit func(*Config)) *Auth {
	b.Helper()
	cfg := Config{
		BaseURL: "https://app.example",
		Phone:   benchPhoneConfig(b),
		Logger:  slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// signedInCookie stores a signed-in session directly and returns its
// cookie.
func signedInCookie(tb testing.TB, a *Auth, u *User) *http.Cookie {
	tb.Helper()
	ctx, err := a.sm.Load(context.Background(), "")
	if err != nil {
		tb.Fatal(err)
	}
	a.sm.Put(ctx, keyUser, u.marshal(a.cfg.Now()))
	token, _, err := a.sm.Commit(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Cookie{Name: a.sm.Cookie.Name, Value: token}
}

var benchUser = &User{Subject: "+8613800138000", Method: MethodPhone, Phone: "+8613800138000", PhoneVerified: true,
	SignedInAt: time.Unix(1_800_000_000, 0), claims: []byte(`{"sub":"+8613800138000","phone_number":"+8613800138000","phone_number_verified":true}`)}

// serveBench runs h against req with a fresh recorder per request.
func serveBench(b *testing.B, h http.Handler, req *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
		}
	}
}

func benchRequest(cookie *http.Cookie, accept string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://app.example/dashboard", nil)
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "bench")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return req
}

func BenchmarkHandlerBare(b *testing.B) {
	serveBench(b, okHandler, benchRequest(nil, "text/html"), http.StatusOK)
}

func BenchmarkRequireAuthSignedIn(b *testing.B) {
	a := benchAuth(b, nil)
	h := a.Wrap(a.RequireAuth(okHandler))
	serveBench(b, h, benchRequest(signedInCookie(b, a, benchUser), "text/html"), http.StatusOK)
}

func BenchmarkRequireAuthAnonymousRedirect(b *testing.B) {
	a := benchAuth(b, nil)
	h := a.Wrap(a.RequireAuth(okHandler))
	serveBench(b, h, benchRequest(nil, "text/html,application/xhtml+xml"), http.StatusFound)
}

func BenchmarkRequireAuthAnonymousAPI(b *testing.B) {
	a := benchAuth(b, nil)
	h := a.Wrap(a.RequireAuth(okHandler))
	serveBench(b, h, benchRequest(nil, "application/json"), http.StatusUnauthorized)
}

// BenchmarkScsGobLoadAndSave is the comparison point from outside latch:
// scs's own middleware with its default gob codec, its default in-memory
// store and an idle timeout, in front of a check for a user in the session.
func BenchmarkScsGobLoadAndSave(b *testing.B) {
	sm := scs.New()
	sm.IdleTimeout = 2 * time.Hour
	ctx, _ := sm.Load(context.Background(), "")
	sm.Put(ctx, "user", "+8613800138000")
	token, _, _ := sm.Commit(ctx)
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user") == "" {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		okHandler.ServeHTTP(w, r)
	}))
	serveBench(b, h, benchRequest(&http.Cookie{Name: "session", Value: token}, "text/html"), http.StatusOK)
}

func benchPhoneConfig(tb testing.TB) *PhoneConfig {
	tb.Helper()
	codes, err := otp.New(otp.Config{
		Sender:        otp.NewConsoleSender(io.Discard),
		Key:           make([]byte, 32),
		DefaultRegion: "CN",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &PhoneConfig{Codes: codes}
}

// BenchmarkRequireAuthSignedInRedis is BenchmarkRequireAuthSignedIn with
// the Redis session store: one GET per request. It runs when
// LATCH_TEST_REDIS_URL is set.
func BenchmarkRequireAuthSignedInRedis(b *testing.B) {
	rs := teststores.Redis(b, "latch-bench")
	a := benchAuth(b, func(c *Config) { c.SessionStore = rs.Sessions() })
	h := a.Wrap(a.RequireAuth(okHandler))
	serveBench(b, h, benchRequest(signedInCookie(b, a, benchUser), "text/html"), http.StatusOK)
}
