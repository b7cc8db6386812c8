// Package latchecho adds latch sign-in to an Echo application
// (github.com/labstack/echo/v4).
//
// It only translates: sessions, redirects, status codes and pages all come
// from the [latch.Auth] it is given, so an Echo site behaves exactly as a
// net/http site wrapped with [latch.Auth.Wrap].
//
//	e := echo.New()
//	e.Use(latchecho.Sessions(auth))  // UserFrom works on every route
//	latchecho.Mount(e, auth)         // /sign-in, /callback, /sign-out, ...
//	e.GET("/dashboard", dashboard, latchecho.RequireAuth(auth))
//
// Inside a handler, [User] and [Tokens] read the signed-in user from the
// echo.Context, and [latch.UserFrom] reads it from c.Request().Context().
//
// # How the response reaches the session
//
// latch saves the session, and sets its cookie, just before the first
// header or body byte of the response. Echo writes through the
// *echo.Response of the context, so [Sessions] and [RequireAuth] hand latch
// that Response and, while the rest of the chain runs, give the context a
// new *echo.Response around latch's session writer. c.JSON, c.String,
// c.Response().Flush() and c.Response().Hijack() therefore all pass through
// latch, and the outer Response still records the status, size and
// Committed flag that Echo's logger and error handler read. The outer
// Response is put back when the chain returns.
//
// When a handler returns an error without writing, latch saves the session
// as the chain returns, so the cookie goes out with the page that Echo's
// HTTPErrorHandler writes.
package latchecho
