// Package latchgin adds latch sign-in to a Gin application
// (github.com/gin-gonic/gin).
//
// It only translates: sessions, redirects, status codes and pages all come
// from the [latch.Auth] it is given, so a Gin site behaves exactly as a
// net/http site wrapped with [latch.Auth.Wrap].
//
//	r := gin.New()
//	r.Use(latchgin.Sessions(auth))  // UserFrom works on every route
//	latchgin.Mount(r, auth)         // /sign-in, /callback, /sign-out, ...
//	r.GET("/dashboard", latchgin.RequireAuth(auth), dashboard)
//
// Inside a handler, [User] and [Tokens] read the signed-in user from the
// *gin.Context, and [latch.UserFrom] reads it from c.Request.Context(). A
// *gin.Context is itself a context.Context, but it consults the request's
// context only when the engine's ContextWithFallback is set; with it set,
// latch.UserFrom(c) works too.
//
// # How the response reaches the session
//
// latch saves the session, and sets its cookie, just before the first
// header or body byte of the response. Gin writes through c.Writer, so
// [Sessions] and [RequireAuth] hand latch the current c.Writer and, while
// the rest of the chain runs, replace c.Writer with a gin.ResponseWriter
// whose writes, flushes and hijacks go through latch's session writer. The
// status, size and Written state stay those of the writer underneath,
// which Gin's logger and its final WriteHeaderNow read. The previous writer
// is put back when the chain returns.
//
// Gin's WriteHeader only records the status until the first byte is
// written, and the replacement keeps that: the session is saved at the
// first byte, at WriteHeaderNow, at Flush or at Hijack. A handler that
// writes nothing has its session saved when the chain returns, before Gin
// sends the header.
package latchgin
