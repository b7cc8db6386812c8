package latchecho

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkit/latch"
)

// Sessions returns middleware that runs each request through
// [latch.Auth.Sessions], so that [User], [Tokens] and [latch.UserFrom]
// work in every handler and the session is saved with the response. Add it
// with e.Use, so that it also covers the routes that [Mount] adds.
//
// When the session store fails to load the session, latch writes a 503
// response and the rest of the chain does not run.
func Sessions(auth *latch.Auth) echo.MiddlewareFunc {
	return bridge(auth.Sessions)
}

// RequireAuth returns middleware that does what [latch.Auth.RequireAuth]
// does: signed-in users who meet every option reach the handler, after an
// expired access token has been refreshed where a refresh token allows it.
// Anonymous browser navigations are redirected to sign in, API requests
// get 401 with a JSON body, and users who fail an option get 403. latch
// writes these responses itself, and the middleware then returns nil
// without calling the handler.
//
// RequireAuth loads the session itself when [Sessions] has not, and lets
// latch's own routes through, so it may also be added with e.Use.
func RequireAuth(auth *latch.Auth, opts ...latch.RequireOption) echo.MiddlewareFunc {
	return bridge(func(next http.Handler) http.Handler {
		return auth.RequireAuth(next, opts...)
	})
}

// Mount adds latch's routes ([latch.Auth.Routes]) to e, for every method.
// The routes respond to the methods they do not serve with their own 405
// response, as they do behind [latch.Auth.Wrap]. Each route carries the
// given route-level middleware, such as a rate limiter.
//
// The routes are added at their exact paths on e itself and not on a
// group, because their paths are fixed by [latch.Config.Paths] and the
// callback path is registered with the OpenID provider.
func Mount(e *echo.Echo, auth *latch.Auth, middleware ...echo.MiddlewareFunc) {
	for _, route := range auth.Routes() {
		e.Any(route.Path, echo.WrapHandler(route.Handler), middleware...)
	}
}

// User returns the signed-in user of the request, or false when it is
// anonymous or did not pass through [Sessions], [RequireAuth] or a route
// that [Mount] added. It is [latch.UserFrom] of c.Request().Context().
func User(c echo.Context) (*latch.User, bool) {
	return latch.UserFrom(c.Request().Context())
}

// Tokens returns the OAuth 2.0 tokens of the signed-in user, or false for
// an anonymous request or a phone sign-in. It is [latch.TokensFrom] of
// c.Request().Context().
func Tokens(c echo.Context) (*latch.Tokens, bool) {
	return latch.TokensFrom(c.Request().Context())
}

// bridge turns latch middleware into Echo middleware. The request that
// latch passes on, whose context holds the session, replaces the
// context's request. latch may also pass on a writer of its own: its
// session writer, around the Response it was given. Then a new
// *echo.Response around that writer replaces the context's Response until
// the chain returns, so that everything the handlers write goes through
// latch.
func bridge(middleware func(http.Handler) http.Handler) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			outer := c.Response()
			var err error
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				// The right side holds a pointer. Interface values of
				// different dynamic types are unequal without a value
				// comparison (Go spec, Comparison operators), so this
				// cannot panic whatever the type of w.
				if w != http.ResponseWriter(outer) {
					inner := echo.NewResponse(w, c.Echo())
					inner.Status = outer.Status
					inner.Committed = outer.Committed
					c.SetResponse(inner)
					// Echo reuses its contexts, and its error handler
					// and logger read c.Response() after the chain:
					// both must find the outer Response again.
					defer c.SetResponse(outer)
				}
				err = next(c)
			})
			middleware(handler).ServeHTTP(outer, c.Request())
			return err
		}
	}
}
