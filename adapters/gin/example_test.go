package latchgin_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/latchkit/latch"
	latchgin "github.com/latchkit/latch/adapters/gin"
)

// A Gin site with sign-in, a protected page and a protected JSON API.
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

	r := gin.New()
	r.Use(gin.Recovery(), latchgin.Sessions(auth))
	latchgin.Mount(r, auth)

	r.GET("/", func(c *gin.Context) {
		if user, ok := latchgin.User(c); ok {
			c.String(http.StatusOK, "Hello, "+user.Name)
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(`<a href="/sign-in">Sign in</a>`))
	})
	api := r.Group("/api", latchgin.RequireAuth(auth))
	api.GET("/me", func(c *gin.Context) {
		user, _ := latchgin.User(c)
		c.JSON(http.StatusOK, gin.H{"subject": user.Subject, "email": user.Email})
	})
	log.Fatal(r.Run(":3000"))
}

func ExampleSessions() {
	var auth *latch.Auth // from latch.New
	r := gin.New()

	// Every handler can now ask who is signed in, and every change to the
	// session is saved with the response.
	r.Use(latchgin.Sessions(auth))
	r.GET("/", func(c *gin.Context) {
		user, ok := latchgin.User(c)
		if !ok {
			c.String(http.StatusOK, "Welcome, guest")
			return
		}
		c.String(http.StatusOK, "Welcome back, "+user.Name)
	})
}

func ExampleRequireAuth() {
	var auth *latch.Auth // from latch.New
	r := gin.New()
	r.Use(latchgin.Sessions(auth))

	r.GET("/dashboard", latchgin.RequireAuth(auth), func(c *gin.Context) {
		c.String(http.StatusOK, "dashboard")
	})

	// Routes for one role only: others get 403.
	admin := r.Group("/admin", latchgin.RequireAuth(auth, latch.RequireClaim("roles", "admin")))
	admin.GET("/users", func(c *gin.Context) { c.String(http.StatusOK, "users") })
}

func ExampleMount() {
	var auth *latch.Auth // from latch.New
	r := gin.New()
	r.Use(latchgin.Sessions(auth))

	// latch's routes with a route-level middleware of the application's.
	noIndex := func(c *gin.Context) {
		c.Header("X-Robots-Tag", "noindex")
		c.Next()
	}
	latchgin.Mount(r, auth, noIndex)
}

func ExampleUser() {
	r := gin.New()
	r.GET("/profile", func(c *gin.Context) {
		user, ok := latchgin.User(c)
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		var claims struct {
			Roles []string `json:"roles"`
		}
		if err := user.Claims(&claims); err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.JSON(http.StatusOK, gin.H{"name": user.Name, "roles": claims.Roles})
	})
}

func ExampleTokens() {
	r := gin.New()
	r.GET("/reports", func(c *gin.Context) {
		tokens, ok := latchgin.Tokens(c)
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, "https://api.example/reports", nil)
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		req.Header.Set("Authorization", tokens.TokenType+" "+tokens.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c.AbortWithStatus(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		c.DataFromReader(resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"), resp.Body, nil)
	})
}
