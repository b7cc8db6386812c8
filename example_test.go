package latch_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/latchkit/latch"
)

// A site that signs users in with Logto and protects one page.
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

	mux := http.NewServeMux()
	mux.Handle("/dashboard", auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := latch.UserFrom(r.Context())
		fmt.Fprintf(w, "Hello, %s", user.Name)
	})))
	log.Fatal(http.ListenAndServe(":3000", auth.Wrap(mux)))
}

func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	auth, err := latch.New(ctx, latch.Config{
		Issuer:          "https://tenant.logto.app/oidc",
		ClientID:        "app-id",
		ClientSecret:    os.Getenv("OIDC_CLIENT_SECRET"),
		BaseURL:         "https://app.example",
		Scopes:          []string{"openid", "profile", "email", "offline_access"},
		Prompt:          "consent", // Logto issues refresh tokens only with consent
		SessionLifetime: 8 * time.Hour,
	})
	if err != nil {
		log.Fatal(err) // names the setting to fix, or why the provider failed
	}
	defer auth.Close()
}

func ExampleAuth_Wrap() {
	var auth *latch.Auth // from latch.New

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if user, ok := latch.UserFrom(r.Context()); ok {
			fmt.Fprintf(w, "Signed in as %s. <form method=post action=/sign-out><button>Sign out</button></form>", user.Subject)
			return
		}
		fmt.Fprint(w, `<a href="/sign-in">Sign in</a>`)
	})
	// Wrap serves /sign-in, /callback and /sign-out and loads the session
	// of every request.
	log.Fatal(http.ListenAndServe(":3000", auth.Wrap(mux)))
}

func ExampleAuth_RequireAuth() {
	var auth *latch.Auth // from latch.New

	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens, _ := latch.TokensFrom(r.Context())
		_ = tokens.AccessToken // call an API on the user's behalf
	})
	mux := http.NewServeMux()
	mux.Handle("/reports", auth.RequireAuth(reports))
	mux.Handle("/admin/", auth.RequireAuth(reports, latch.RequireClaim("roles", "admin")))
	mux.Handle("/api/reports", auth.RequireAuth(reports, latch.RequireScopes("read:reports")))
}

func ExampleAuth_SignInHandler() {
	var auth *latch.Auth // from latch.New

	mux := http.NewServeMux()
	// A link to /sign-up opens Logto on its sign-up form.
	mux.Handle("/sign-up", auth.SignInHandler(latch.WithFirstScreen("register")))
	// Ask for API access only where it is needed.
	mux.Handle("/connect-calendar", auth.SignInHandler(
		latch.WithScopes("calendar:read"),
		latch.WithResources("https://calendar.example/api"),
		latch.WithPrompt("consent"),
	))
}

func ExampleAuth_Authorize() {
	var auth *latch.Auth // from latch.New

	// A framework that wants the decision apart from the response.
	handler := auth.Sessions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := auth.Authorize(r, latch.RequireClaim("roles", "editor"))
		if err != nil {
			auth.Deny(w, r, err) // 302 to sign in, 401, 403 or 503
			return
		}
		fmt.Fprintf(w, "editing as %s", user.Subject)
	}))
	_ = handler
}

func ExampleUserFrom() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := latch.UserFrom(r.Context())
		if !ok {
			fmt.Fprint(w, "Hello, stranger")
			return
		}
		var claims struct {
			Roles []string `json:"roles"`
		}
		_ = user.Claims(&claims)
		fmt.Fprintf(w, "Hello, %s (%s, roles %v)", user.Name, user.Method, claims.Roles)
	})
	_ = handler
}

func ExampleTokensFrom() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens, ok := latch.TokensFrom(r.Context())
		if !ok {
			http.Error(w, "no tokens: signed in by phone or not at all", http.StatusForbidden)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://api.example/me", nil)
		req.Header.Set("Authorization", tokens.TokenType+" "+tokens.AccessToken)
		_ = req
	})
	_ = handler
}

func ExampleSafeReturnTo() {
	for _, target := range []string{"/orders?page=2", "//evil.example", "/%2F%2Fevil.example", "https://evil.example"} {
		fmt.Println(latch.SafeReturnTo(target, "/"))
	}
	// Output:
	// /orders?page=2
	// /
	// /
	// /
}

func ExampleCodec() {
	enc, _ := latch.Codec{}.Encode(time.Unix(0, 0), map[string]any{"cart": "3 items"})
	_, values, _ := latch.Codec{}.Decode(enc)
	fmt.Println(values["cart"])
	// Output: 3 items
}
