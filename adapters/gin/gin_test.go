package latchgin_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkit/latch"
	latchgin "github.com/latchkit/latch/adapters/gin"
	"github.com/latchkit/latch/adapters/internal/adaptertest"
)

func init() {
	gin.SetMode(gin.TestMode)
}

func TestRequireAuthWithoutSessions(t *testing.T) {
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		latchgin.Mount(r, auth)
		r.GET("/note", latchgin.RequireAuth(auth), func(c *gin.Context) {
			auth.SessionManager().Put(c.Request.Context(), "app.note", "kept")
			u, _ := latchgin.User(c)
			c.JSON(http.StatusOK, gin.H{"subject": u.Subject})
		})
		r.GET("/read", latchgin.RequireAuth(auth), func(c *gin.Context) {
			c.String(http.StatusOK, auth.SessionManager().GetString(c.Request.Context(), "app.note"))
		})
		return r
	})

	anonymous := s.Browser().Send(adaptertest.API("/note"))
	adaptertest.ExpectStatus(t, anonymous, http.StatusUnauthorized)

	b := s.SignedIn()
	r := b.Send(adaptertest.API("/note"))
	adaptertest.ExpectStatus(t, r, http.StatusOK)
	if !strings.Contains(r.Body, `"subject":"user-1"`) {
		t.Errorf("%s: body %q, want the subject user-1", r, r.Body)
	}
	if s.SessionCookie(r.Response) == nil {
		t.Errorf("%s: changed session but no session cookie on c.JSON's response; Set-Cookie: %q", r, r.Header.Values("Set-Cookie"))
	}
	if got := b.Send(adaptertest.Page("/read")).Body; got != "kept" {
		t.Errorf("GET /read after /note: body %q, want the saved value %q", got, "kept")
	}
}

// TestResponsesWithoutBody covers the responses that Gin writes after the
// chain, or at WriteHeaderNow, rather than at the first body byte.
func TestResponsesWithoutBody(t *testing.T) {
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		r.Use(latchgin.Sessions(auth))
		put := func(c *gin.Context) { auth.SessionManager().Put(c.Request.Context(), "app.path", c.Request.URL.Path) }
		r.GET("/status-only", func(c *gin.Context) { put(c); c.Status(http.StatusAccepted) })
		r.GET("/nothing", func(c *gin.Context) { put(c) })
		r.GET("/abort", func(c *gin.Context) { put(c); c.AbortWithStatus(http.StatusTeapot) })
		r.GET("/no-content", func(c *gin.Context) { put(c); c.JSON(http.StatusNoContent, nil) })
		return r
	})

	for path, want := range map[string]int{
		"/status-only": http.StatusAccepted,
		"/nothing":     http.StatusOK,
		"/abort":       http.StatusTeapot,
		"/no-content":  http.StatusNoContent,
	} {
		r := s.Browser().Send(adaptertest.API(path))
		if r.StatusCode != want {
			t.Errorf("%s: status %d, want %d", r, r.StatusCode, want)
		}
		if s.SessionCookie(r.Response) == nil {
			t.Errorf("%s: changed session but no session cookie; Set-Cookie: %q", r, r.Header.Values("Set-Cookie"))
		}
	}
}

func TestOuterWriterRestored(t *testing.T) {
	type seen struct {
		same    bool
		status  int
		size    int
		written bool
	}
	results := make(chan seen, 1)
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		// A logger-like middleware outside latch's reads the writer
		// after the chain.
		r.Use(func(c *gin.Context) {
			before := c.Writer
			c.Next()
			after := c.Writer
			results <- seen{before == after, after.Status(), after.Size(), after.Written()}
		})
		r.Use(latchgin.Sessions(auth))
		r.GET("/created", func(c *gin.Context) { c.JSON(http.StatusCreated, gin.H{"id": 7}) })
		return r
	})

	r := s.Browser().Send(adaptertest.API("/created"))
	adaptertest.ExpectStatus(t, r, http.StatusCreated)
	got := <-results
	if !got.same {
		t.Errorf("GET /created: c.Writer after the chain is not the writer from before it")
	}
	if got.status != http.StatusCreated || got.size != len(r.Body) || !got.written {
		t.Errorf("GET /created: outer writer has status %d, size %d, written %v; want %d, %d, true",
			got.status, got.size, got.written, http.StatusCreated, len(r.Body))
	}
}

func TestStoreFailureAbortsChain(t *testing.T) {
	var called atomic.Int32
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		r.Use(latchgin.Sessions(auth))
		latchgin.Mount(r, auth)
		r.GET("/", func(c *gin.Context) {
			called.Add(1)
			c.String(http.StatusOK, "home")
		})
		return r
	})

	b := s.SignedIn()
	s.Store.FailFind.Store(true)
	r := b.Send(adaptertest.API("/"))
	adaptertest.ExpectStatus(t, r, http.StatusServiceUnavailable)
	if n := called.Load(); n != 0 {
		t.Errorf("GET / with the store down: handler called %d times, want 0", n)
	}
	if !strings.HasPrefix(r.Body, `{"error":"temporarily_unavailable"`) {
		t.Errorf("GET / with the store down: body %q, want latch's JSON error alone", r.Body)
	}
}

func TestMountRouteMiddleware(t *testing.T) {
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		latchgin.Mount(r, auth, func(c *gin.Context) {
			c.Header("X-Route", "latch")
			c.Next()
		})
		return r
	})

	for _, route := range s.Auth.Routes() {
		r := s.Browser().Send(adaptertest.Page(route.Path))
		if got := r.Header.Get("X-Route"); got != "latch" {
			t.Errorf("%s: X-Route %q, want the route middleware's %q", r, got, "latch")
		}
		if r.StatusCode == http.StatusNotFound {
			t.Errorf("%s: 404, want latch's route", r)
		}
	}
	r := s.Browser().Send(adaptertest.Request{Method: http.MethodPut, Path: "/sign-out", Header: adaptertest.JSONClient})
	adaptertest.ExpectStatus(t, r, http.StatusMethodNotAllowed)
	if got := r.Header.Get("Allow"); got != "GET, POST" {
		t.Errorf("%s: Allow %q, want latch's %q", r, got, "GET, POST")
	}
}

func TestUserAndTokens(t *testing.T) {
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		r := gin.New()
		r.Use(latchgin.Sessions(auth))
		latchgin.Mount(r, auth)
		r.GET("/who", func(c *gin.Context) {
			u, userOK := latchgin.User(c)
			tok, tokensOK := latchgin.Tokens(c)
			switch {
			case !userOK || !tokensOK:
				c.String(http.StatusOK, "anonymous")
			case tok.AccessToken == "":
				c.String(http.StatusOK, "no access token")
			default:
				c.String(http.StatusOK, u.Subject+" "+tok.TokenType)
			}
		})
		return r
	})

	if got := s.Browser().Send(adaptertest.Page("/who")).Body; got != "anonymous" {
		t.Errorf("GET /who anonymous: body %q, want %q", got, "anonymous")
	}
	if got := s.SignedIn().Send(adaptertest.Page("/who")).Body; got != "user-1 Bearer" {
		t.Errorf("GET /who signed in: body %q, want %q", got, "user-1 Bearer")
	}
}

// TestContextWithFallback checks what the package documents: a
// *gin.Context passed as a context.Context finds latch's user only when
// the engine's ContextWithFallback is set.
func TestContextWithFallback(t *testing.T) {
	for _, fallback := range []bool{true, false} {
		s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
			r := gin.New()
			r.ContextWithFallback = fallback
			r.Use(latchgin.Sessions(auth))
			latchgin.Mount(r, auth)
			r.GET("/who", func(c *gin.Context) {
				_, ok := latch.UserFrom(c)
				if ok {
					c.String(http.StatusOK, "found")
					return
				}
				c.String(http.StatusOK, "not found")
			})
			return r
		})
		want := "not found"
		if fallback {
			want = "found"
		}
		if got := s.SignedIn().Send(adaptertest.Page("/who")).Body; got != want {
			t.Errorf("latch.UserFrom(*gin.Context) with ContextWithFallback %v: %q, want %q", fallback, got, want)
		}
	}
}

func TestUserWithoutMiddleware(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	if u, ok := latchgin.User(c); ok || u != nil {
		t.Errorf("User without latch's middleware = %v, %v; want nil, false", u, ok)
	}
	if tok, ok := latchgin.Tokens(c); ok || tok != nil {
		t.Errorf("Tokens without latch's middleware = %v, %v; want nil, false", tok, ok)
	}
}
