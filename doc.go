// Package latch adds sign-in to a net/http site: OpenID Connect sign-in
// against any certified provider (Logto first among them), server-side
// sessions, and a middleware that keeps anonymous users out.
//
// Make an [Auth] with [New], mount its routes with [Auth.Wrap], and protect
// handlers with [Auth.RequireAuth]:
//
//	auth, err := latch.New(ctx, latch.Config{
//		Issuer:       "https://tenant.logto.app/oidc",
//		ClientID:     os.Getenv("OIDC_CLIENT_ID"),
//		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
//		BaseURL:      "https://app.example",
//	})
//	mux := http.NewServeMux()
//	mux.Handle("/dashboard", auth.RequireAuth(dashboard))
//	http.ListenAndServe(":3000", auth.Wrap(mux))
//
// Inside a handler, [UserFrom] returns the signed-in user and [TokensFrom]
// the access token.
//
// # Sign-in
//
// GET /sign-in starts the authorization code flow with state, nonce and a
// PKCE S256 verifier for each attempt, kept in the server-side session so
// several tabs can sign in at once. GET /callback finds the attempt by
// state, removes it and checks the RFC 9207 iss parameter. It then
// exchanges the code and verifies the ID token: signature, issuer,
// audience, expiry and nonce, with a bounded clock skew. Finally it renews
// the session token and redirects to the attempt's return_to, which must
// be a path on this site (see [SafeReturnTo]). /sign-out confirms on GET
// and signs out on a same-site POST, then redirects to the provider's
// end-session endpoint.
//
// # Sessions
//
// Sessions are kept by github.com/alexedwards/scs/v2, in memory by default
// or in any scs store ([Config.SessionStore]); only an opaque token travels
// in the cookie, which is HttpOnly, SameSite=Lax and, on https sites,
// Secure with the __Host- prefix. A request that changes nothing writes
// nothing to the store. When the store fails, requests end with 503; a
// store error is never taken for a signed-out user.
//
// # Responses
//
// Browsers get short HTML pages (see package templates) with a strict
// Content-Security-Policy; API clients (fetch, XMLHttpRequest, JSON) get
// small JSON bodies and 401 rather than a redirect. No path of latch
// answers with an internal error text, and no token, code, secret or
// session token is ever logged.
package latch
