package adapters_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/labstack/echo/v4"

	"github.com/latchkit/latch"
	latchecho "github.com/latchkit/latch/adapters/echo"
	latchgin "github.com/latchkit/latch/adapters/gin"
)

// The application that every framework builds, in that framework's own
// style, around latch:
//
//	route            guard                               responds with
//	GET  /           none                                text: "home of SUB" or "home, anonymous"
//	GET  /private    RequireAuth                         text: see privateText
//	POST /private    RequireAuth                         text: see privateText
//	GET  /api/me     RequireAuth                         the framework's JSON: subject and email
//	GET  /admin      RequireAuth, claim roles = admin    text: "admin"
//	GET  /verified   RequireAuth, claim email_verified   text: "verified"
//	GET  /items/ID   RequireAuth                         text: "item ID for SUB", ID from the router
//	GET  /visits     none                                the framework's JSON {"visits": N}, N counted in the session
//	GET  /stream     none                                "first\n", a flush, a wait for app.release, "second\n"
//	GET  /hijack     none                                a raw response on the hijacked connection
//
// An application middleware in front of latch's puts appValue in the
// request context. latch's routes are mounted the way the framework's
// recipe in README.md mounts them.

// app is the state shared by one site's handlers.
type app struct {
	sessions *scs.SessionManager
	// release lets a /stream handler finish its response.
	release chan struct{}
}

type appKey struct{}

// appValue is what the application middleware puts in the request context.
const appValue = "from-app"

func withAppValue(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), appKey{}, appValue))
}

func appValueMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, withAppValue(r))
	})
}

func subject(u *latch.User, ok bool) string {
	if !ok {
		return "anonymous"
	}
	return u.Subject
}

func homeText(ctx context.Context) string {
	if u, ok := latch.UserFrom(ctx); ok {
		return "home of " + u.Subject
	}
	return "home, anonymous"
}

// privateText reports the user as the framework's accessor and the request
// context see it, and the application's context value.
func privateText(ctx context.Context, framework string) string {
	value, _ := ctx.Value(appKey{}).(string)
	return fmt.Sprintf("private for %s; request context %s; app value %s", framework, subject(latch.UserFrom(ctx)), value)
}

// me is the JSON body of /api/me.
type me struct {
	Subject string `json:"subject"`
	Email   string `json:"email"`
}

func meOf(u *latch.User) me { return me{Subject: u.Subject, Email: u.Email} }

// visit counts a visit in the session, which makes latch save it and set
// the cookie on the JSON response that follows.
func (a *app) visit(ctx context.Context) map[string]int {
	n := a.sessions.GetInt(ctx, "app.visits") + 1
	a.sessions.Put(ctx, "app.visits", n)
	return map[string]int{"visits": n}
}

// startStream changes the session, so that the flushed header must carry
// the cookie, and returns the first chunk.
func (a *app) startStream(ctx context.Context) string {
	a.sessions.Put(ctx, "app.streamed", true)
	return "first\n"
}

// awaitRelease waits until the test has read the first chunk.
func (a *app) awaitRelease() string {
	select {
	case <-a.release:
		return "second\n"
	case <-time.After(5 * time.Second):
		return "timed out\n"
	}
}

// hijacked writes a whole response on a hijacked connection.
func hijacked(ctx context.Context, conn io.WriteCloser) {
	body := "hijacked by " + subject(latch.UserFrom(ctx))
	fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	_ = conn.Close()
}

func writeText(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, text)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// netHTTPHandlers are the application's handlers as plain net/http
// handlers, for ServeMux, chi and gorilla/mux, which differ only in how
// they route and read path parameters.
type netHTTPHandlers struct {
	home, private, me, admin, verified, visits, stream, hijack http.Handler
	item                                                       func(param func(*http.Request) string) http.Handler
}

func newNetHTTPHandlers(auth *latch.Auth, a *app) netHTTPHandlers {
	text := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeText(w, s) })
	}
	return netHTTPHandlers{
		home: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeText(w, homeText(r.Context())) }),
		private: auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeText(w, privateText(r.Context(), subject(latch.UserFrom(r.Context()))))
		})),
		me: auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := latch.UserFrom(r.Context())
			writeJSON(w, meOf(u))
		})),
		admin:    auth.RequireAuth(text("admin"), latch.RequireClaim("roles", "admin")),
		verified: auth.RequireAuth(text("verified"), latch.RequireClaim("email_verified")),
		visits: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, a.visit(r.Context()))
		}),
		stream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeText(w, a.startStream(r.Context()))
			if err := http.NewResponseController(w).Flush(); err != nil {
				writeText(w, "flush failed: "+err.Error())
				return
			}
			writeText(w, a.awaitRelease())
		}),
		hijack: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, "hijack failed: "+err.Error(), http.StatusInternalServerError)
				return
			}
			hijacked(r.Context(), conn)
		}),
		item: func(param func(*http.Request) string) http.Handler {
			return auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeText(w, "item "+param(r)+" for "+subject(latch.UserFrom(r.Context())))
			}))
		},
	}
}

// serveMuxApp follows the ServeMux recipe: Go 1.22 patterns, with Wrap
// around the mux.
func serveMuxApp(auth *latch.Auth, a *app) http.Handler {
	h := newNetHTTPHandlers(auth, a)
	m := http.NewServeMux()
	m.Handle("GET /{$}", h.home)
	m.Handle("GET /private", h.private)
	m.Handle("POST /private", h.private)
	m.Handle("GET /api/me", h.me)
	m.Handle("GET /admin", h.admin)
	m.Handle("GET /verified", h.verified)
	m.Handle("GET /items/{id}", h.item(func(r *http.Request) string { return r.PathValue("id") }))
	m.Handle("GET /{page}", h.item(func(r *http.Request) string { return r.PathValue("page") }))
	m.Handle("GET /visits", h.visits)
	m.Handle("GET /stream", h.stream)
	m.Handle("GET /hijack", h.hijack)
	return appValueMiddleware(auth.Wrap(m))
}

// chiApp follows the chi recipe: Sessions with Use, latch's routes
// registered one by one.
func chiApp(auth *latch.Auth, a *app) http.Handler {
	h := newNetHTTPHandlers(auth, a)
	r := chi.NewRouter()
	r.Use(appValueMiddleware, auth.Sessions)
	for _, route := range auth.Routes() {
		r.Handle(route.Path, route.Handler)
	}
	r.Get("/", h.home.ServeHTTP)
	r.Method(http.MethodGet, "/private", h.private)
	r.Method(http.MethodPost, "/private", h.private)
	r.Method(http.MethodGet, "/api/me", h.me)
	r.Method(http.MethodGet, "/admin", h.admin)
	r.Method(http.MethodGet, "/verified", h.verified)
	r.Method(http.MethodGet, "/items/{id}", h.item(func(r *http.Request) string { return chi.URLParam(r, "id") }))
	r.Method(http.MethodGet, "/{page}", h.item(func(r *http.Request) string { return chi.URLParam(r, "page") }))
	r.Method(http.MethodGet, "/visits", h.visits)
	r.Method(http.MethodGet, "/stream", h.stream)
	r.Method(http.MethodGet, "/hijack", h.hijack)
	return r
}

// gorillaApp follows the gorilla/mux recipe: Sessions with Use, latch's
// routes registered one by one.
func gorillaApp(auth *latch.Auth, a *app) http.Handler {
	h := newNetHTTPHandlers(auth, a)
	r := mux.NewRouter()
	r.Use(appValueMiddleware, auth.Sessions)
	for _, route := range auth.Routes() {
		r.Handle(route.Path, route.Handler)
	}
	r.Handle("/", h.home).Methods(http.MethodGet)
	r.Handle("/private", h.private).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/api/me", h.me).Methods(http.MethodGet)
	r.Handle("/admin", h.admin).Methods(http.MethodGet)
	r.Handle("/verified", h.verified).Methods(http.MethodGet)
	r.Handle("/items/{id}", h.item(func(r *http.Request) string { return mux.Vars(r)["id"] })).Methods(http.MethodGet)
	r.Handle("/visits", h.visits).Methods(http.MethodGet)
	r.Handle("/stream", h.stream).Methods(http.MethodGet)
	r.Handle("/hijack", h.hijack).Methods(http.MethodGet)
	// gorilla/mux tries routes in order, so the catch-all goes last.
	r.Handle("/{page}", h.item(func(r *http.Request) string { return mux.Vars(r)["page"] })).Methods(http.MethodGet)
	return r
}

// echoApp follows the Echo recipe, writing with Echo's own methods.
func echoApp(auth *latch.Auth, a *app) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(withAppValue(c.Request()))
			return next(c)
		}
	})
	e.Use(latchecho.Sessions(auth))
	latchecho.Mount(e, auth)

	requireAuth := latchecho.RequireAuth(auth)
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, homeText(c.Request().Context())) })
	private := func(c echo.Context) error {
		return c.String(http.StatusOK, privateText(c.Request().Context(), subject(latchecho.User(c))))
	}
	e.GET("/private", private, requireAuth)
	e.POST("/private", private, requireAuth)
	e.GET("/api/me", func(c echo.Context) error {
		u, _ := latchecho.User(c)
		return c.JSON(http.StatusOK, meOf(u))
	}, requireAuth)
	e.GET("/admin", func(c echo.Context) error { return c.String(http.StatusOK, "admin") },
		latchecho.RequireAuth(auth, latch.RequireClaim("roles", "admin")))
	e.GET("/verified", func(c echo.Context) error { return c.String(http.StatusOK, "verified") },
		latchecho.RequireAuth(auth, latch.RequireClaim("email_verified")))
	e.GET("/items/:id", func(c echo.Context) error {
		return c.String(http.StatusOK, "item "+c.Param("id")+" for "+subject(latchecho.User(c)))
	}, requireAuth)
	e.GET("/:page", func(c echo.Context) error {
		return c.String(http.StatusOK, "item "+c.Param("page")+" for "+subject(latchecho.User(c)))
	}, requireAuth)
	e.GET("/visits", func(c echo.Context) error {
		return c.JSON(http.StatusOK, a.visit(c.Request().Context()))
	})
	e.GET("/stream", func(c echo.Context) error {
		res := c.Response()
		res.Header().Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
		_, _ = io.WriteString(res, a.startStream(c.Request().Context()))
		res.Flush()
		_, err := io.WriteString(res, a.awaitRelease())
		return err
	})
	e.GET("/hijack", func(c echo.Context) error {
		conn, _, err := c.Response().Hijack()
		if err != nil {
			return c.String(http.StatusInternalServerError, "hijack failed: "+err.Error())
		}
		hijacked(c.Request().Context(), conn)
		return nil
	})
	return e
}

// ginApp follows the Gin recipe, writing with Gin's own methods.
func ginApp(auth *latch.Auth, a *app) http.Handler {
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Request = withAppValue(c.Request)
		c.Next()
	})
	r.Use(latchgin.Sessions(auth))
	latchgin.Mount(r, auth)

	requireAuth := latchgin.RequireAuth(auth)
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, homeText(c.Request.Context())) })
	private := func(c *gin.Context) {
		c.String(http.StatusOK, privateText(c.Request.Context(), subject(latchgin.User(c))))
	}
	r.GET("/private", requireAuth, private)
	r.POST("/private", requireAuth, private)
	r.GET("/api/me", requireAuth, func(c *gin.Context) {
		u, _ := latchgin.User(c)
		c.JSON(http.StatusOK, meOf(u))
	})
	r.GET("/admin", latchgin.RequireAuth(auth, latch.RequireClaim("roles", "admin")), func(c *gin.Context) { c.String(http.StatusOK, "admin") })
	r.GET("/verified", latchgin.RequireAuth(auth, latch.RequireClaim("email_verified")), func(c *gin.Context) { c.String(http.StatusOK, "verified") })
	r.GET("/items/:id", requireAuth, func(c *gin.Context) {
		c.String(http.StatusOK, "item "+c.Param("id")+" for "+subject(latchgin.User(c)))
	})
	r.GET("/:page", requireAuth, func(c *gin.Context) {
		c.String(http.StatusOK, "item "+c.Param("page")+" for "+subject(latchgin.User(c)))
	})
	r.GET("/visits", func(c *gin.Context) { c.JSON(http.StatusOK, a.visit(c.Request.Context())) })
	r.GET("/stream", func(c *gin.Context) {
		c.Header("Content-Type", "text/plain; charset=utf-8")
		_, _ = c.Writer.WriteString(a.startStream(c.Request.Context()))
		c.Writer.Flush()
		_, _ = c.Writer.WriteString(a.awaitRelease())
	})
	r.GET("/hijack", func(c *gin.Context) {
		conn, _, err := c.Writer.Hijack()
		if err != nil {
			c.String(http.StatusInternalServerError, "hijack failed: "+err.Error())
			return
		}
		hijacked(c.Request.Context(), conn)
	})
	return r
}

func init() {
	gin.SetMode(gin.TestMode)
}
