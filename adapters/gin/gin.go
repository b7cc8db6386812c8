package latchgin

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkit/latch"
)

// Sessions returns middleware that runs each request through
// [latch.Auth.Sessions], so that [User], [Tokens] and [latch.UserFrom]
// work in every handler and the session is saved with the response. Add it
// with r.Use, so that it also covers the routes that [Mount] adds.
//
// When the session store fails to load the session, latch writes a 503
// response and the middleware aborts the chain.
func Sessions(auth *latch.Auth) gin.HandlerFunc {
	return bridge(auth.Sessions)
}

// RequireAuth returns middleware that does what [latch.Auth.RequireAuth]
// does: signed-in users who meet every option reach the handler, after an
// expired access token has been refreshed where a refresh token allows it.
// Anonymous browser navigations are redirected to sign in, API requests
// get 401 with a JSON body, and users who fail an option get 403. latch
// writes these responses itself, and the middleware then aborts the chain.
//
// RequireAuth loads the session itself when [Sessions] has not, and lets
// latch's own routes through, so it may also be added with r.Use.
func RequireAuth(auth *latch.Auth, opts ...latch.RequireOption) gin.HandlerFunc {
	return bridge(func(next http.Handler) http.Handler {
		return auth.RequireAuth(next, opts...)
	})
}

// Mount adds latch's routes ([latch.Auth.Routes]) to r, for every method
// that Gin's Any registers. The routes respond to the methods they do not
// serve with their own 405 response, as they do behind [latch.Auth.Wrap].
// The handlers given run before each route, for route-level middleware
// such as a rate limiter.
//
// The routes are added at their exact paths on the engine itself and not
// on a group, because their paths are fixed by [latch.Config.Paths] and
// the callback path is registered with the OpenID provider.
func Mount(r *gin.Engine, auth *latch.Auth, middleware ...gin.HandlerFunc) {
	for _, route := range auth.Routes() {
		handlers := append(append([]gin.HandlerFunc(nil), middleware...), gin.WrapH(route.Handler))
		r.Any(route.Path, handlers...)
	}
}

// User returns the signed-in user of the request, or false when it is
// anonymous or did not pass through [Sessions], [RequireAuth] or a route
// that [Mount] added. It is [latch.UserFrom] of c.Request.Context().
func User(c *gin.Context) (*latch.User, bool) {
	return latch.UserFrom(c.Request.Context())
}

// Tokens returns the OAuth 2.0 tokens of the signed-in user, or false for
// an anonymous request or a phone sign-in. It is [latch.TokensFrom] of
// c.Request.Context().
func Tokens(c *gin.Context) (*latch.Tokens, bool) {
	return latch.TokensFrom(c.Request.Context())
}

// bridge turns latch middleware into Gin middleware. The request that
// latch passes on, whose context holds the session, replaces c.Request,
// and a [responseWriter] around the writer that latch passes on replaces
// c.Writer until the chain returns. When latch responds itself and does
// not call the rest of the chain, the chain is aborted.
func bridge(middleware func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		outer := c.Writer
		called := false
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			c.Request = r
			// The writer is replaced even when latch passes on the one
			// it was given: comparing the two could panic on a writer
			// type that is not comparable.
			c.Writer = &responseWriter{ResponseWriter: outer, session: w}
			defer func() { c.Writer = outer }()
			c.Next()
		})
		middleware(handler).ServeHTTP(outer, c.Request)
		if !called {
			c.Abort()
		}
	}
}

// responseWriter is the gin.ResponseWriter that handlers see behind the
// middleware. Writes, flushes and hijacks go to session, latch's writer
// around the embedded gin.ResponseWriter, so that latch saves the session
// first. Status, Size, Written, WriteHeader (which only records the
// status in Gin), CloseNotify and Pusher are those of the embedded writer.
type responseWriter struct {
	gin.ResponseWriter
	session http.ResponseWriter
}

func (w *responseWriter) Write(b []byte) (int, error) {
	return w.session.Write(b)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return io.WriteString(w.session, s)
}

// WriteHeaderNow sends the recorded status and the header, after latch has
// saved the session and added its cookie.
func (w *responseWriter) WriteHeaderNow() {
	if !w.Written() {
		w.session.WriteHeader(w.Status())
	}
	w.ResponseWriter.WriteHeaderNow()
}

// Flush sends the header, with the session cookie, and any buffered body.
func (w *responseWriter) Flush() {
	_ = http.NewResponseController(w.session).Flush()
}

// Hijack hands the connection to the handler after latch has saved the
// session. No cookie can follow a hijacked connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.session).Hijack()
}

// Unwrap returns latch's session writer, so that [http.ResponseController]
// reaches the connection through it.
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.session
}
