package adapters_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/adapters/internal/adaptertest"
)

// frameworks are the routers and frameworks that every row runs against.
// Each builds the application described in apps_test.go.
var frameworks = []struct {
	name  string
	build func(*latch.Auth, *app) http.Handler
}{
	{"servemux", serveMuxApp},
	{"chi", chiApp},
	{"gorilla", gorillaApp},
	{"echo", echoApp},
	{"gin", ginApp},
}

// Short names for the requests that rows send.
var (
	page           = adaptertest.Page
	api            = adaptertest.API
	sameOriginPost = adaptertest.SameOriginPost
	crossSitePost  = adaptertest.CrossSitePost
)

// A row is one behaviour that must not depend on the framework. Each row
// runs on a new site, with its own provider, for every framework. Write a
// row with expect for a single request, or with a function of its own for
// a flow.
type row struct {
	name string
	run  func(t *testing.T, s *site)
}

// conformance are the rows for latch's default configuration.
var conformance = []row{
	// Sign-in.
	{"sign-in redirects to provider", signInRedirectsToProvider},
	{"sign-in rejects POST", expect(anonymous, sameOriginPost("/sign-in"), status(http.StatusMethodNotAllowed), header("Allow", "GET"))},
	{"callback signs in", callbackSignsIn},
	{"callback without state", expect(anonymous, page("/callback?code=abc"), status(http.StatusBadRequest), contentType("text/html"))},

	// RequireAuth.
	{"browser redirected to sign-in", expect(anonymous, page("/private"), status(http.StatusFound), header("Location", "/sign-in?return_to=%2Fprivate"))},
	{"JSON client gets 401", expect(anonymous, api("/private"), status(http.StatusUnauthorized), contentType("application/json"), jsonField("error", "unauthenticated"), noHeader("Location"))},
	{"fetch gets 401", expect(anonymous, adaptertest.Request{Method: http.MethodGet, Path: "/api/me", Header: adaptertest.Fetch}, status(http.StatusUnauthorized), jsonField("error", "unauthenticated"))},
	{"anonymous POST gets 401", expect(anonymous, sameOriginPost("/private"), status(http.StatusUnauthorized), noHeader("Location"))},
	{"missing claim gets 403", expect(signedIn, page("/admin"), status(http.StatusForbidden), contentType("text/html"))},
	{"missing claim gets 403 JSON", expect(signedIn, api("/admin"), status(http.StatusForbidden), jsonField("error", "forbidden"))},
	{"present claim passes", expect(signedIn, page("/verified"), status(http.StatusOK), body("verified"))},
	{"expired access token refreshed", expiredTokenRefreshed},

	// Context in both directions.
	{"user in framework context", expect(signedIn, page("/private"), status(http.StatusOK), body("private for user-1;"))},
	{"user in request context", expect(signedIn, page("/private"), status(http.StatusOK), body("request context user-1;"))},
	{"user on unguarded route", expect(signedIn, page("/"), status(http.StatusOK), body("home of user-1"))},
	{"anonymous on unguarded route", expect(anonymous, page("/"), status(http.StatusOK), body("home, anonymous"))},
	{"app context value survives", expect(signedIn, page("/private"), status(http.StatusOK), body("app value "+appValue))},
	{"path parameter survives", expect(signedIn, page("/items/42"), status(http.StatusOK), body("item 42 for user-1"))},
	{"top-level parameter route guarded", expect(anonymous, page("/reports"), status(http.StatusFound), header("Location", "/sign-in?return_to=%2Freports"))},
	{"top-level parameter route passes", expect(signedIn, page("/reports"), status(http.StatusOK), body("item reports for user-1"))},
	// Routers that match the escaped path send these to the parameter
	// route, and others send them to latch's own page. Neither may serve
	// the application's page to an anonymous visitor.
	{"escaped sign-in path guarded", expect(anonymous, page("/sign%2Din"), status(http.StatusFound), notBody("item "))},
	{"escaped letter path guarded", expect(anonymous, page("/%73ign-in"), status(http.StatusFound), notBody("item "))},
	{"escaped sign-out path guarded", expect(anonymous, page("/sign%2Dout"), status(http.StatusFound), notBody("item "))},
	{"framework JSON for user", expect(signedIn, api("/api/me"), status(http.StatusOK), jsonField("subject", "user-1"), jsonField("email", "ada@example.com"))},

	// The response writer.
	{"cookie on framework JSON", cookieOnFrameworkJSON},
	{"flush behind middleware", flushBehindMiddleware},
	{"hijack behind middleware", expect(signedIn, page("/hijack"), status(http.StatusOK), body("hijacked by user-1"))},
	{"store failure on load", storeFailsOnLoad},
	{"store failure on save", storeFailsOnSave},

	// Sign-out.
	{"sign-out GET confirms", expect(signedIn, page("/sign-out"), status(http.StatusOK), contentType("text/html"), body(`action="/sign-out"`))},
	{"sign-out GET when anonymous", expect(anonymous, page("/sign-out"), status(http.StatusFound), header("Location", "/"))},
	{"cross-site sign-out rejected", crossSiteSignOutRejected},
	{"same-origin sign-out", sameOriginSignOut},
}

// site is one framework's application under test, with the state that its
// handlers share.
type site struct {
	*adaptertest.Site
	app *app
}

func newSite(t *testing.T, build func(*latch.Auth, *app) http.Handler, edits ...func(*latch.Config)) *site {
	t.Helper()
	a := &app{release: make(chan struct{})}
	return &site{
		Site: adaptertest.NewSite(t, func(auth *latch.Auth) http.Handler {
			a.sessions = auth.SessionManager()
			return build(auth, a)
		}, edits...),
		app: a,
	}
}

// customPaths moves latch's routes away from their default paths.
func customPaths(c *latch.Config) {
	c.Paths = latch.Paths{SignIn: "/login", Callback: "/auth/callback", SignOut: "/logout", AfterSignIn: "/welcome"}
}

// customPathRows check that every framework serves latch's routes where
// Config.Paths puts them, and nothing at the default paths.
var customPathRows = []row{
	{"sign-in redirects to provider", signInRedirectsToProvider},
	{"callback signs in", callbackSignsIn},
	{"sign-in lands on AfterSignIn", func(t *testing.T, s *site) {
		header("Location", "/welcome")(t, s, s.Browser().SignIn(""))
	}},
	{"browser redirected to sign-in", expect(anonymous, page("/private"), status(http.StatusFound), header("Location", "/login?return_to=%2Fprivate"))},
	// The applications' own /{page} route serves the default paths.
	{"default sign-in path is the application's", expect(anonymous, page("/sign-in"), status(http.StatusFound), header("Location", "/login?return_to=%2Fsign-in"))},
	{"default sign-out path unused", func(t *testing.T, s *site) {
		b := signedIn(s)
		b.Send(sameOriginPost("/sign-out"))
		status(http.StatusOK)(t, s, b.Send(page("/private")))
	}},
	{"cross-site sign-out rejected", crossSiteSignOutRejected},
	{"same-origin sign-out", sameOriginSignOut},
}

func TestConformance(t *testing.T) {
	runConformance(t, conformance)
}

func TestConformanceCustomPaths(t *testing.T) {
	runConformance(t, customPathRows, customPaths)
}

// runConformance runs each row against every framework, on sites whose
// Config the edits change.
func runConformance(t *testing.T, rows []row, edits ...func(*latch.Config)) {
	for _, fw := range frameworks {
		t.Run(fw.name, func(t *testing.T) {
			t.Parallel()
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					row.run(t, newSite(t, fw.build, edits...))
				})
			}
		})
	}
}

// A visitor returns the browser that sends a row's request.
type visitor func(*site) *adaptertest.Browser

func anonymous(s *site) *adaptertest.Browser { return s.Browser() }
func signedIn(s *site) *adaptertest.Browser  { return s.SignedIn() }

// A check tests one property of a response.
type check func(t *testing.T, s *site, r *adaptertest.Response)

// expect returns a row that sends one request as a browser of the given
// kind and applies the checks to the response.
func expect(as visitor, req adaptertest.Request, checks ...check) func(*testing.T, *site) {
	return func(t *testing.T, s *site) {
		r := as(s).Send(req)
		for _, c := range checks {
			c(t, s, r)
		}
	}
}

func status(want int) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if r.StatusCode != want {
			t.Errorf("%s: status %d, want %d; body: %.300s", r, r.StatusCode, want, r.Body)
		}
	}
}

func header(name, want string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s: %s header %q, want %q", r, name, got, want)
		}
	}
}

func noHeader(name string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if got := r.Header.Get(name); got != "" {
			t.Errorf("%s: %s header %q, want none", r, name, got)
		}
	}
}

func contentType(prefix string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, prefix) {
			t.Errorf("%s: Content-Type %q, want %s", r, got, prefix)
		}
	}
}

func body(sub string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if !strings.Contains(r.Body, sub) {
			t.Errorf("%s: body does not contain %q; body: %.300s", r, sub, r.Body)
		}
	}
}

func notBody(sub string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		if strings.Contains(r.Body, sub) {
			t.Errorf("%s: body contains %q; body: %.300s", r, sub, r.Body)
		}
	}
}

// jsonField checks a string field of a JSON object body.
func jsonField(key, want string) check {
	return func(t *testing.T, _ *site, r *adaptertest.Response) {
		t.Helper()
		var fields map[string]any
		if err := json.Unmarshal([]byte(r.Body), &fields); err != nil {
			t.Errorf("%s: body is not a JSON object: %v; body: %.300s", r, err, r.Body)
			return
		}
		if got, _ := fields[key].(string); got != want {
			t.Errorf("%s: JSON %q is %v, want %q", r, key, fields[key], want)
		}
	}
}

func sessionCookieSet() check {
	return func(t *testing.T, s *site, r *adaptertest.Response) {
		t.Helper()
		if c := s.SessionCookie(r.Response); c == nil || c.Value == "" {
			t.Errorf("%s: no session cookie set; Set-Cookie: %q", r, r.Header.Values("Set-Cookie"))
		}
	}
}

func signInRedirectsToProvider(t *testing.T, s *site) {
	r := anonymous(s).Send(page(s.Paths.SignIn))
	status(http.StatusFound)(t, s, r)
	sessionCookieSet()(t, s, r)
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), s.IdP.Issuer+"/authorize?") {
		t.Fatalf("%s: Location %q, want the provider's authorization endpoint %s/authorize", r, r.Header.Get("Location"), s.IdP.Issuer)
	}
	q := loc.Query()
	for key, want := range map[string]string{
		"client_id":             s.IdP.ClientID,
		"redirect_uri":          s.Server.URL + s.Paths.Callback,
		"response_type":         "code",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(key); got != want {
			t.Errorf("%s: authorization request %s = %q, want %q", r, key, got, want)
		}
	}
	for _, key := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(key) == "" {
			t.Errorf("%s: authorization request has no %s", r, key)
		}
	}
}

func callbackSignsIn(t *testing.T, s *site) {
	b := s.Browser()
	r := b.SignIn("/private")
	status(http.StatusFound)(t, s, r)
	header("Location", "/private")(t, s, r)
	sessionCookieSet()(t, s, r)
	after := b.Send(page("/private"))
	status(http.StatusOK)(t, s, after)
	body("private for user-1")(t, s, after)
}

// expiredTokenRefreshed checks that a token refreshed behind RequireAuth
// is saved through the framework's writer: the next request must not
// refresh again.
func expiredTokenRefreshed(t *testing.T, s *site) {
	b := s.SignedIn()
	s.Clock.Advance(61 * time.Minute) // past the provider's 1 hour access token
	// x/oauth2 computes a token's expiry from the real clock, which the
	// test does not move, so the refreshed token must outlive the advance.
	s.IdP.Mu.Lock()
	s.IdP.AccessTokenTTL = 3 * time.Hour
	s.IdP.Mu.Unlock()
	for i := range 2 {
		r := b.Send(api("/api/me"))
		status(http.StatusOK)(t, s, r)
		jsonField("subject", "user-1")(t, s, r)
		s.IdP.Mu.Lock()
		refreshes := s.IdP.RefreshRequests
		s.IdP.Mu.Unlock()
		if refreshes != 1 {
			t.Errorf("after request %d to /api/me: %d refresh requests at the provider, want 1", i+1, refreshes)
		}
	}
}

// cookieOnFrameworkJSON checks that a session changed by a handler that
// responds with the framework's JSON method is saved and its cookie set.
func cookieOnFrameworkJSON(t *testing.T, s *site) {
	b := s.Browser()
	first := b.Send(api("/visits"))
	status(http.StatusOK)(t, s, first)
	sessionCookieSet()(t, s, first)
	jsonVisits(t, first, 1)
	jsonVisits(t, b.Send(api("/visits")), 2)
}

func jsonVisits(t *testing.T, r *adaptertest.Response, want int) {
	t.Helper()
	var got struct{ Visits int }
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil || got.Visits != want {
		t.Errorf("%s: body %q, want visits %d", r, r.Body, want)
	}
}

// flushBehindMiddleware checks that a flush sends the header, with the
// session cookie, and the first chunk while the handler is still running.
func flushBehindMiddleware(t *testing.T, s *site) {
	b := s.Browser()
	req, err := http.NewRequest(http.MethodGet, s.Server.URL+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := b.Client.Do(req)
		done <- result{resp, err}
	}()

	var resp *http.Response
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("GET /stream: %v", res.err)
		}
		resp = res.resp
	case <-time.After(3 * time.Second):
		close(s.app.release)
		t.Fatal("GET /stream: no response header within 3s of the handler's flush")
	}
	defer resp.Body.Close()
	if c := s.SessionCookie(resp); c == nil {
		t.Errorf("GET /stream: the flushed header has no session cookie; Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	lines := bufio.NewReader(resp.Body)
	first, err := lines.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Errorf("GET /stream: first chunk %q (%v), want %q", first, err, "first\n")
	}
	close(s.app.release)
	rest, err := io.ReadAll(lines)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("GET /stream: rest of body %q (%v), want %q", rest, err, "second\n")
	}
}

// storeFailsOnLoad checks that a session store that cannot be read ends
// the request with latch's 503 on every route.
func storeFailsOnLoad(t *testing.T, s *site) {
	b := s.SignedIn()
	s.Store.FailFind.Store(true)
	for _, path := range []string{"/", "/private", "/visits"} {
		r := b.Send(page(path))
		status(http.StatusServiceUnavailable)(t, s, r)
		header("Retry-After", "5")(t, s, r)
		contentType("text/html")(t, s, r)
	}
}

// storeFailsOnSave checks that when the session cannot be saved, latch's
// 503 replaces the JSON response that the framework was about to write.
func storeFailsOnSave(t *testing.T, s *site) {
	s.Store.FailCommit.Store(true)
	r := anonymous(s).Send(api("/visits"))
	status(http.StatusServiceUnavailable)(t, s, r)
	jsonField("error", "temporarily_unavailable")(t, s, r)
	if strings.Contains(r.Body, "visits") {
		t.Errorf("GET /visits: body %q contains the handler's JSON after the session failed to save", r.Body)
	}
}

func crossSiteSignOutRejected(t *testing.T, s *site) {
	b := s.SignedIn()
	r := b.Send(crossSitePost(s.Paths.SignOut))
	status(http.StatusForbidden)(t, s, r)
	after := b.Send(page("/private"))
	status(http.StatusOK)(t, s, after)
}

func sameOriginSignOut(t *testing.T, s *site) {
	b := s.SignedIn()
	r := b.Send(sameOriginPost(s.Paths.SignOut))
	status(http.StatusSeeOther)(t, s, r)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, s.IdP.Issuer+"/end_session?") {
		t.Errorf("%s: Location %q, want the provider's end-session endpoint", r, loc)
	}
	after := b.Send(page("/private"))
	status(http.StatusFound)(t, s, after)
	header("Location", s.Paths.SignIn+"?return_to=%2Fprivate")(t, s, after)
}
