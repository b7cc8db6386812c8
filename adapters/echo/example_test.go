package latchecho_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	"github.com/latchkit/latch"
	latchecho "github.com/latchkit/latch/adapters/echo"
)

// An Echo site with sign-in, a protected page and a protected JSON API.
func Example() {
	auth, err := latch.New(context.Background(), latch.Config{
		Issuer:       "https://tenant.logto.app/oidc",
		ClientID:     os.Getenv("OIDC_CLIENT_ID"),
		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
		BaseURL:      "https://app.example",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	e := echo.New()
	e.Use(latchecho.Sessions(auth))
	latchecho.Mount(e, auth)

	e.GET("/", func(c echo.Context) error {
		if user, ok := latchecho.User(c); ok {
			return c.String(http.StatusOK, "Hello, "+user.Name)
		}
		return c.HTML(http.StatusOK, `<a href="/sign-in">Sign in</a>`)
	})
	api := e.Group("/api", latchecho.RequireAuth(auth))
	api.GET("/me", func(c echo.Context) error {
		user, _ := latchecho.User(c)
		return c.JSON(http.StatusOK, map[string]string{"subject": user.Subject, "email": user.Email})
	})
	log.Fatal(e.Start(":3000"))
}

func ExampleSessions() {
	var auth *latch.Auth // from latch.New
	e := echo.New()

	// Every handler can now ask who is signed in, and every change to the
	// session is saved with the response.
	e.Use(latchecho.Sessions(auth))
	e.GET("/", func(c echo.Context) error {
		user, ok := latchecho.User(c)
		if !ok {
			return c.String(http.StatusOK, "Welcome, guest")
		}
		return c.String(http.StatusOK, "Welcome back, "+user.Name)
	})
}

func ExampleRequireAuth() {
	var auth *latch.Auth // from latch.New
	e := echo.New()
	e.Use(latchecho.Sessions(auth))

	dashboard := func(c echo.Context) error { return c.String(http.StatusOK, "dashboard") }
	e.GET("/dashboard", dashboard, latchecho.RequireAuth(auth))

	// Routes for one role only: others get 403.
	admin := e.Group("/admin", latchecho.RequireAuth(auth, latch.RequireClaim("roles", "admin")))
	admin.GET("/users", func(c echo.Context) error { return c.String(http.StatusOK, "users") })
}

func ExampleMount() {
	var auth *latch.Auth // from latch.New
	e := echo.New()
	e.Use(latchecho.Sessions(auth))

	// latch's routes with a route-level middleware of the application's.
	noIndex := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Robots-Tag", "noindex")
			return next(c)
		}
	}
	latchecho.Mount(e, auth, noIndex)
}

func ExampleUser() {
	e := echo.New()
	e.GET("/profile", func(c echo.Context) error {
		user, ok := latchecho.User(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		var claims struct {
			Roles []string `json:"roles"`
		}
		if err := user.Claims(&claims); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"name": user.Name, "roles": claims.Roles})
	})
}

func ExampleTokens() {
	e := echo.New()
	e.GET("/reports", func(c echo.Context) error {
		tokens, ok := latchecho.Tokens(c)
		if !ok {
			return echo.ErrUnauthorized
		}
		req, err := http.NewRequestWithContext(c.Request().Context(), http.MethodGet, "https://api.example/reports", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", tokens.TokenType+" "+tokens.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return c.Stream(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body)
	})
}
