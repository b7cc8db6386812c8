package latchecho_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/latchkit/latch"
	latchecho "github.com/latchkit/latch/adapters/echo"
	"github.com/latchkit/latch/adapters/internal/adaptertest"
)

// newEcho returns an Echo with its log kept in buf.
func newEcho(buf *bytes.Buffer) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.Logger.SetOutput(buf)
	return e
}

func TestRequireAuthWithoutSessions(t *testing.T) {
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		latchecho.Mount(e, auth)
		e.GET("/note", func(c echo.Context) error {
			auth.SessionManager().Put(c.Request().Context(), "app.note", "kept")
			u, _ := latchecho.User(c)
			return c.JSON(http.StatusOK, map[string]string{"subject": u.Subject})
		}, latchecho.RequireAuth(auth))
		e.GET("/read", func(c echo.Context) error {
			return c.String(http.StatusOK, auth.SessionManager().GetString(c.Request().Context(), "app.note"))
		}, latchecho.RequireAuth(auth))
		return e
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

func TestErrorHandlerPageCarriesCookie(t *testing.T) {
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		e.Use(latchecho.Sessions(auth))
		e.GET("/fail", func(c echo.Context) error {
			auth.SessionManager().Put(c.Request().Context(), "app.failed", true)
			return echo.NewHTTPError(http.StatusTeapot, "short and stout")
		})
		e.GET("/read", func(c echo.Context) error {
			if auth.SessionManager().GetBool(c.Request().Context(), "app.failed") {
				return c.String(http.StatusOK, "saved")
			}
			return c.String(http.StatusOK, "lost")
		})
		return e
	})

	b := s.Browser()
	r := b.Send(adaptertest.API("/fail"))
	adaptertest.ExpectStatus(t, r, http.StatusTeapot)
	if !strings.Contains(r.Body, "short and stout") {
		t.Errorf("%s: body %q, want Echo's error handler's message", r, r.Body)
	}
	if s.SessionCookie(r.Response) == nil {
		t.Errorf("%s: no session cookie on the error handler's response; Set-Cookie: %q", r, r.Header.Values("Set-Cookie"))
	}
	if got := b.Send(adaptertest.Page("/read")).Body; got != "saved" {
		t.Errorf("GET /read after /fail: body %q, want %q", got, "saved")
	}
}

func TestOuterResponseRestored(t *testing.T) {
	type seen struct {
		same      bool
		status    int
		size      int64
		committed bool
	}
	results := make(chan seen, 1)
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		// A logger-like middleware outside latch's reads the Response
		// after the chain.
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				before := c.Response()
				err := next(c)
				after := c.Response()
				results <- seen{before == after, after.Status, after.Size, after.Committed}
				return err
			}
		})
		e.Use(latchecho.Sessions(auth))
		e.GET("/created", func(c echo.Context) error {
			return c.JSON(http.StatusCreated, map[string]int{"id": 7})
		})
		return e
	})

	r := s.Browser().Send(adaptertest.API("/created"))
	adaptertest.ExpectStatus(t, r, http.StatusCreated)
	got := <-results
	if !got.same {
		t.Errorf("GET /created: c.Response() after the chain is not the Response from before it")
	}
	if got.status != http.StatusCreated || got.size != int64(len(r.Body)) || !got.committed {
		t.Errorf("GET /created: outer Response has status %d, size %d, committed %v; want %d, %d, true",
			got.status, got.size, got.committed, http.StatusCreated, len(r.Body))
	}
}

func TestStoreFailureSkipsHandler(t *testing.T) {
	var called atomic.Int32
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		e.Use(latchecho.Sessions(auth))
		latchecho.Mount(e, auth)
		e.GET("/", func(c echo.Context) error {
			called.Add(1)
			return c.String(http.StatusOK, "home")
		})
		return e
	})

	b := s.SignedIn()
	s.Store.FailFind.Store(true)
	r := b.Send(adaptertest.API("/"))
	adaptertest.ExpectStatus(t, r, http.StatusServiceUnavailable)
	if n := called.Load(); n != 0 {
		t.Errorf("GET / with the store down: handler called %d times, want 0", n)
	}
	if strings.Contains(log.String(), "already committed") {
		t.Errorf("GET / with the store down: Echo wrote a second response: %s", log.String())
	}
}

func TestMountRouteMiddleware(t *testing.T) {
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		latchecho.Mount(e, auth, func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.Response().Header().Set("X-Route", "latch")
				return next(c)
			}
		})
		return e
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
	var log bytes.Buffer
	s := adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
		e := newEcho(&log)
		e.Use(latchecho.Sessions(auth))
		latchecho.Mount(e, auth)
		e.GET("/who", func(c echo.Context) error {
			u, userOK := latchecho.User(c)
			t, tokensOK := latchecho.Tokens(c)
			if !userOK || !tokensOK {
				return c.String(http.StatusOK, "anonymous")
			}
			if t.AccessToken == "" {
				return c.String(http.StatusOK, "no access token")
			}
			return c.String(http.StatusOK, u.Subject+" "+t.TokenType)
		})
		return e
	})

	if got := s.Browser().Send(adaptertest.Page("/who")).Body; got != "anonymous" {
		t.Errorf("GET /who anonymous: body %q, want %q", got, "anonymous")
	}
	if got := s.SignedIn().Send(adaptertest.Page("/who")).Body; got != "user-1 Bearer" {
		t.Errorf("GET /who signed in: body %q, want %q", got, "user-1 Bearer")
	}
}

func TestUserWithoutMiddleware(t *testing.T) {
	e := echo.New()
	c := e.NewContext(httpRequest(t), nil)
	if u, ok := latchecho.User(c); ok || u != nil {
		t.Errorf("User without latch's middleware = %v, %v; want nil, false", u, ok)
	}
	if tok, ok := latchecho.Tokens(c); ok || tok != nil {
		t.Errorf("Tokens without latch's middleware = %v, %v; want nil, false", tok, ok)
	}
}

func httpRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, "http://app.example/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
