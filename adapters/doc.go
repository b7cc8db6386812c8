// Package adapters is the home of latch's adapters for web frameworks
// whose handlers are not net/http handlers:
//
//   - [github.com/latchkit/latch/adapters/echo] (package latchecho) for
//     Echo v4;
//   - [github.com/latchkit/latch/adapters/gin] (package latchgin) for Gin.
//
// Routers that route net/http handlers need no adapter. With
// [net/http.ServeMux], wrap the mux with latch's Auth.Wrap. With chi or
// gorilla/mux, add Auth.Sessions with the router's Use and register each
// of Auth.Routes at its path (or wrap the router with Auth.Wrap). Protect
// routes with Auth.RequireAuth in every case.
//
// Each adapter offers the same four parts: session middleware for the
// whole application, a RequireAuth middleware, Mount for latch's routes,
// and accessors that read the signed-in user from the framework's context.
// The adapters only translate between the framework and net/http; every
// decision and every response comes from [latch.Auth]. The tests of this
// package run one table of behaviour against http.ServeMux, chi,
// gorilla/mux, Echo and Gin alike.
package adapters
