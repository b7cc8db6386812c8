package latch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/templates"
)

// Auth adds sign-in to a site. Make one with [New] at start-up and share it;
// it is safe for concurrent use.
type Auth struct {
	cfg   Config
	log   *slog.Logger
	oidc  *oidcClient // nil when OpenID Connect sign-in is off
	phone *PhoneConfig
	pages *templates.Set
	cop   *http.CrossOriginProtection

	providerName string
	countryLists sync.Map // locale -> []country, for the phone pages

	sm         *scs.SessionManager
	idle       time.Duration // latch's own idle timeout; 0 for a caller's manager
	touchEvery time.Duration
	// scsKey is the context key of the sessions of latch's own manager,
	// or nil; with it, scs loads a session only when it is needed.
	scsKey any

	// formActions are the origins, besides this site, that a form's
	// response may redirect to: the provider's end-session endpoint.
	formActions []string
	csp         string                  // Content-Security-Policy of latch's pages
	routes      map[string]http.Handler // by path, without the session middleware
	routeList   []Route

	refresher refresher
	claimer   claimer  // the shared session store's claims, if it offers them
	inflight  sync.Map // state -> chan struct{}, callbacks in progress

	unmountedLogged atomic.Bool // see RequireAuth
}

// New checks cfg, discovers the OpenID provider and returns a ready Auth.
// The context bounds discovery only.
//
// New returns an error wrapping [ErrInvalidConfig] for a setting it cannot
// use, naming the field and the fix, and one wrapping [ErrProvider] when
// the provider cannot be reached or its discovery document or key set
// cannot be used.
func New(ctx context.Context, cfg Config) (*Auth, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pages, err := templates.New(c.Pages)
	if err != nil {
		return nil, fmt.Errorf("%w: Pages: %v", ErrInvalidConfig, err)
	}
	a := &Auth{cfg: c, log: c.Logger, pages: pages, phone: c.Phone, providerName: c.ProviderName}

	if c.Issuer != "" {
		if a.oidc, err = discover(ctx, &a.cfg); err != nil {
			return nil, err
		}
		if a.providerName == "" {
			a.providerName = hostOf(c.Issuer)
		}
	}
	a.setUpSessions()
	a.setUpForms()
	a.setUpRoutes()

	if !c.isHTTPS() && !isLoopbackURL(c.BaseURL) {
		a.log.Warn("latch: BaseURL uses http, so session cookies are not Secure: serve the site over https", "base_url", c.BaseURL)
	}
	attrs := []any{"base_url", c.BaseURL, "phone", a.phone != nil}
	if a.oidc != nil {
		attrs = append(attrs, "issuer", c.Issuer, "redirect_uri", a.oidc.oauth.RedirectURL)
	}
	a.log.Info("latch: ready", attrs...)
	return a, nil
}

func (a *Auth) setUpRoutes() {
	p := a.cfg.Paths
	a.addRoute(p.SignIn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.signIn(w, r, signInOptions{}) }), http.MethodGet)
	if a.oidc != nil {
		a.addRoute(p.Callback, http.HandlerFunc(a.callback), http.MethodGet)
	}
	a.addRoute(p.SignOut, a.cop.Handler(http.HandlerFunc(a.signOut)), http.MethodGet, http.MethodHead, http.MethodPost)
	if a.phone != nil {
		methods := []string{http.MethodGet, http.MethodHead, http.MethodPost}
		a.addRoute(p.PhoneSignIn, a.cop.Handler(a.phonePages(otp.SignIn, nil)), methods...)
		if !a.phone.DisableSignUp {
			a.addRoute(p.PhoneSignUp, a.cop.Handler(a.phonePages(otp.Register, nil)), methods...)
		}
	}
}

// signInPage returns the page to which anonymous users are sent to sign
// in: the phone page when phone sign-in is on, since it also offers the
// provider's button.
func (a *Auth) signInPage() string {
	if a.phone != nil {
		return a.cfg.Paths.PhoneSignIn
	}
	return a.cfg.Paths.SignIn
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Hostname()
}

// setUpSessions adopts the caller's session manager or makes latch's own.
func (a *Auth) setUpSessions() {
	c := &a.cfg
	if c.Sessions != nil {
		a.sm = c.Sessions
		if cl, ok := a.sm.Store.(claimer); ok {
			a.claimer = cl
		}
		if !a.sm.Cookie.HttpOnly || (c.isHTTPS() && !a.sm.Cookie.Secure) {
			a.log.Warn("latch: the session cookie lacks HttpOnly or Secure: set both on Config.Sessions.Cookie")
		}
		return
	}

	if cl, ok := c.SessionStore.(claimer); ok {
		a.claimer = cl
	}
	sm := scs.New()
	sm.Lifetime = c.SessionLifetime
	sm.Codec = Codec{}
	store := sessionStore{inner: c.SessionStore, now: c.Now, hash: true}
	if store.inner == nil {
		store.inner, store.hash = newMemorySessions(c.MaxSessions, c.Now), false
	}
	if c.IdleTimeout > 0 {
		a.idle = c.IdleTimeout
		a.touchEvery = max(c.IdleTimeout/10, time.Second)
		store.idle = c.IdleTimeout
	}
	sm.Store = store
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	if c.isHTTPS() {
		// The __Host- prefix makes browsers refuse the cookie unless it
		// is Secure, host-only and for path "/", so a sibling subdomain
		// cannot plant a session cookie for this site.
		sm.Cookie.Name = "__Host-latch"
		sm.Cookie.Secure = true
	} else {
		sm.Cookie.Name = "latch_session"
	}
	a.sm = sm
	a.scsKey = findScsKey(sm)
}

// setUpForms prepares the cross-origin protection of latch's forms.
func (a *Auth) setUpForms() {
	a.cop = http.NewCrossOriginProtection()
	// Requests whose Host a proxy rewrote still come from the site's own
	// origin; BaseURL is a bare origin, so this cannot fail.
	_ = a.cop.AddTrustedOrigin(a.cfg.BaseURL)
	a.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.log.WarnContext(r.Context(), "latch: cross-site form post blocked", "path", truncate(r.URL.Path, maxLoggedInput),
			"origin", truncate(r.Header.Get("Origin"), maxLoggedInput), "sec_fetch_site", truncate(r.Header.Get("Sec-Fetch-Site"), maxLoggedInput))
		a.fail(w, r, http.StatusForbidden, pageCrossSite)
	}))

	targets := []string{a.cfg.PostSignOutURL}
	if a.oidc != nil {
		targets = append(targets, a.oidc.meta.EndSessionEndpoint)
	}
	for _, target := range targets {
		if origin := originOf(target); origin != "" && origin != a.cfg.BaseURL {
			a.formActions = append(a.formActions, origin)
		}
	}
	a.csp = a.pages.ContentSecurityPolicy(a.formActions...)
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Route is one of latch's routes, for routers that need each path
// registered on its own, such as Echo's and Gin's.
type Route struct {
	// Path is the exact request path, such as "/sign-in".
	Path string
	// Methods are the methods the route serves. The handler responds to
	// other methods with 405 itself, so a router may send it every method.
	Methods []string
	// Handler serves the route, session middleware included.
	Handler http.Handler
}

func (a *Auth) addRoute(path string, h http.Handler, methods ...string) {
	if a.routes == nil {
		a.routes = map[string]http.Handler{}
	}
	h = markServed(h)
	a.routes[path] = h
	a.routeList = append(a.routeList, Route{Path: path, Methods: methods, Handler: a.Sessions(h)})
}

// markServed records on the request's state that one of latch's routes
// served the request; see [Auth.RequireAuth].
func markServed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.routeServed.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}

// Routes returns latch's routes. [Auth.Wrap] serves them all; use Routes
// to mount them on a router instead.
func (a *Auth) Routes() []Route {
	return slices.Clone(a.routeList)
}

// Wrap returns a handler that serves latch's routes (see [Auth.Routes]:
// sign-in, callback, sign-out and the phone pages) and passes every other
// request to next, all inside the session middleware of [Auth.Sessions].
// next may be any handler or router; protect its routes with
// [Auth.RequireAuth].
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return a.Sessions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := a.routes[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// SessionManager returns the scs session manager that latch uses, so an
// application can keep its own values in the same session. Keys that start
// with "latch." belong to latch.
func (a *Auth) SessionManager() *scs.SessionManager {
	return a.sm
}

// Close closes the idle connections that latch holds to the provider. An
// Auth must not be used after Close. latch starts no goroutine that
// outlives a request, so an Auth that is simply dropped leaks nothing.
func (a *Auth) Close() error {
	if a.oidc != nil {
		a.oidc.client.CloseIdleConnections()
	}
	return nil
}

// ownsSessions reports whether latch made the session manager.
func (a *Auth) ownsSessions() bool {
	return a.cfg.Sessions == nil
}
