package latch

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// countingStore wraps a session store, counting calls and failing on
// demand.
type countingStore struct {
	scs.Store
	finds, commits, deletes atomic.Int32
	fail                    atomic.Bool
}

var errStoreDown = errors.New("store down")

func (c *countingStore) Find(token string) ([]byte, bool, error) {
	c.finds.Add(1)
	if c.fail.Load() {
		return nil, false, errStoreDown
	}
	return c.Store.Find(token)
}

func (c *countingStore) Commit(token string, b []byte, expiry time.Time) error {
	c.commits.Add(1)
	if c.fail.Load() {
		return errStoreDown
	}
	return c.Store.Commit(token, b, expiry)
}

func (c *countingStore) Delete(token string) error {
	c.deletes.Add(1)
	if c.fail.Load() {
		return errStoreDown
	}
	return c.Store.Delete(token)
}

func newCountingSite(t *testing.T, edit func(*Config)) (*site, *countingStore) {
	t.Helper()
	store := &countingStore{}
	s := newSite(t, func(c *Config) {
		store.Store = newMemorySessions(1000, c.Now)
		c.SessionStore = store
		if edit != nil {
			edit(c)
		}
	})
	return s, store
}

func TestSessionUnchangedIsNotWritten(t *testing.T) {
	s, store := newCountingSite(t, nil)
	b := s.browser()
	s.signIn(b)

	commits := store.commits.Load()
	for range 10 {
		b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	}
	if got := store.commits.Load() - commits; got != 0 {
		t.Errorf("10 unchanged authenticated requests wrote the session %d times, want 0", got)
	}

	s.clock.Advance(s.auth.touchEvery)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if got := store.commits.Load() - commits; got != 1 {
		t.Errorf("after a tenth of the idle timeout, writes = %d, want 1 (activity recorded)", got)
	}
}

func TestSessionIdleTimeout(t *testing.T) {
	s := newSite(t, func(c *Config) { c.IdleTimeout = 30 * time.Minute })
	b := s.browser()
	s.signIn(b)

	// Activity keeps the session alive well past one idle period.
	for range 6 {
		s.clock.Advance(10 * time.Minute)
		b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	}
	s.clock.Advance(31 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
	if r := b.get(s.srv.URL + "/"); r.body != "home, anonymous" {
		t.Errorf("home after the idle timeout = %q, want anonymous", r.body)
	}
}

func TestSessionIdleTimeoutOff(t *testing.T) {
	s := newSite(t, func(c *Config) { c.IdleTimeout = -1 })
	b := s.browser()
	s.signIn(b)
	s.clock.Advance(23 * time.Hour)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	s := newSite(t, func(c *Config) { c.SessionLifetime = time.Hour; c.IdleTimeout = -1 })
	b := s.browser()
	s.signIn(b)
	s.clock.Advance(59 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	// scs sets the deadline from the real clock, and the store judges
	// expiry by the test clock. Moving two minutes covers the real time
	// that passed since sign-in.
	s.clock.Advance(2 * time.Minute)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

func TestSessionCookieAttributes(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	r := b.get(s.srv.URL + "/sign-in")
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{"latch_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on an http site, where browsers would drop it", cookie)
	}
	if len(cookie) > 200 {
		t.Errorf("Set-Cookie is %d bytes, want only a session token", len(cookie))
	}

	https := s.auth.cfg
	https.BaseURL = "https://app.example"
	https.Sessions = nil
	a := &Auth{cfg: https, log: s.auth.log}
	a.setUpSessions()
	c := a.sm.Cookie
	if c.Name != "__Host-latch" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie settings for an https site = %+v, want __Host-latch, Secure, HttpOnly, Lax, Path / and no Domain", c)
	}
}

func TestSessionStoreFailure(t *testing.T) {
	s, store := newCountingSite(t, nil)
	b := s.browser()
	s.signIn(b)
	store.fail.Store(true)

	r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusServiceUnavailable)
	mustContain(t, "page", r.body, "Temporarily unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	api := b.do("GET", s.srv.URL+"/private", nil, http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": {"cors"}})
	api.expectStatus(t, http.StatusServiceUnavailable)
	mustContain(t, "JSON body", api.body, `"error":"temporarily_unavailable"`)
	mustContain(t, "log", s.logs.String(), "session store failed", "store down")
	if strings.Contains(r.body, "store down") || strings.Contains(api.body, "store down") {
		t.Error("the store's error text reached the client")
	}

	// A failed save replaces the response instead of losing the session.
	store.fail.Store(false)
	commit := s.auth.Sessions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auth.sm.Put(r.Context(), "app.key", "v")
		store.fail.Store(true)
		w.WriteHeader(http.StatusCreated)
		if _, err := io.WriteString(w, "created"); err == nil {
			t.Error("Write after a failed save returned no error")
		}
	}))
	s.srv.Config.Handler = commit
	r = b.get(s.srv.URL + "/x")
	if r.StatusCode != http.StatusServiceUnavailable || strings.Contains(r.body, "created") {
		t.Errorf("failed save: status %d body %q, want 503 without the handler's body", r.StatusCode, r.body)
	}

	store.fail.Store(false)
	s.srv.Config.Handler = s.auth.Wrap(http.NotFoundHandler())
	b.get(s.srv.URL+"/sign-out").expectStatus(t, http.StatusOK)
}

func TestSessionWrittenBeforeBody(t *testing.T) {
	s := newSite(t, nil)
	var flushed, hijacked bool
	s.srv.Config.Handler = s.auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.auth.sm.Put(r.Context(), "app.visits", 1)
		switch r.URL.Path {
		case "/stream":
			io.WriteString(w, "part 1\n")
			w.(http.Flusher).Flush()
			flushed = true
			io.WriteString(w, "part 2\n")
		case "/ws":
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack through the session middleware: %v", err)
				return
			}
			hijacked = true
			rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhijack")
			rw.Flush()
			conn.Close()
		}
	}))
	b := s.browser()
	r := b.get(s.srv.URL + "/stream")
	if !flushed || r.body != "part 1\npart 2\n" || !strings.Contains(r.Header.Get("Set-Cookie"), "latch_session=") {
		t.Errorf("streaming: flushed %v, body %q, Set-Cookie %q; want the cookie with the first byte", flushed, r.body, r.Header.Get("Set-Cookie"))
	}
	r = b.get(s.srv.URL + "/ws")
	if !hijacked || r.body != "hijack" {
		t.Errorf("hijack: %v, body %q", hijacked, r.body)
	}
}

func TestSessionCallerManager(t *testing.T) {
	sm := scs.New()
	sm.Cookie.Name = "app_session"
	s := newSite(t, func(c *Config) { c.Sessions = sm })
	app := http.NewServeMux()
	app.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "count") + 1
		sm.Put(r.Context(), "count", n)
		io.WriteString(w, strings.Repeat("x", n))
	})
	app.Handle("/private", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		io.WriteString(w, u.Subject+" "+strings.Repeat("x", sm.GetInt(r.Context(), "count")))
	})))
	// The application's own LoadAndSave wraps latch.
	s.srv.Config.Handler = sm.LoadAndSave(s.auth.Wrap(app))

	b := s.browser()
	b.get(s.srv.URL + "/count")
	b.get(s.srv.URL + "/count")
	s.signIn(b)
	if r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK); r.body != "user-1 xx" {
		t.Errorf("GET /private = %q, want the user and the application's own session value", r.body)
	}
}

func TestSessionConcurrentUserFrom(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	s.srv.Config.Handler = s.auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if u, ok := UserFrom(r.Context()); !ok || u.Subject != "user-1" {
					t.Errorf("UserFrom from a goroutine = %v, %v", u, ok)
				}
			})
		}
		wg.Wait()
	}))
	b.get(s.srv.URL+"/").expectStatus(t, http.StatusOK)
}

func TestUserFromOutsideLatch(t *testing.T) {
	if u, ok := UserFrom(context.Background()); ok || u != nil {
		t.Errorf("UserFrom(background) = %v, %v; want nil, false", u, ok)
	}
	if tok, ok := TokensFrom(context.Background()); ok || tok != nil {
		t.Errorf("TokensFrom(background) = %v, %v; want nil, false", tok, ok)
	}
}

func TestPreSignInSessionIsShortLived(t *testing.T) {
	s, store := newCountingSite(t, nil)
	b := s.browser()
	s.startSignIn(b, "")
	ms := store.Store.(*memorySessions)
	if ms.len() != 1 {
		t.Fatalf("sessions after a started sign-in = %d, want 1", ms.len())
	}
	s.clock.Advance(pendingLifetime + time.Second)
	ctx, err := s.auth.sm.Load(context.Background(), s.sessionCookie(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.auth.sm.Keys(ctx)) != 0 {
		t.Errorf("a session holding only sign-in attempts outlived them: keys %v", s.auth.sm.Keys(ctx))
	}
}

func TestMemorySessionsBounded(t *testing.T) {
	c := newClock()
	m := newMemorySessions(3, c.Now)
	exp := c.Now().Add(time.Minute)
	for _, tok := range []string{"a", "b", "c"} {
		if err := m.Commit(tok, []byte(tok), exp); err != nil {
			t.Fatalf("Commit(%s): %v", tok, err)
		}
	}
	if err := m.Commit("d", []byte("d"), exp); !errors.Is(err, errSessionStoreFull) {
		t.Errorf("Commit beyond the bound = %v, want errSessionStoreFull", err)
	}
	if err := m.Commit("a", []byte("a2"), exp); err != nil {
		t.Errorf("Commit to an existing session of a full store = %v, want nil", err)
	}
	c.Advance(2 * time.Minute)
	if err := m.Commit("d", []byte("d"), c.Now().Add(time.Minute)); err != nil {
		t.Errorf("Commit after the others expired = %v, want nil", err)
	}
	if m.len() != 1 {
		t.Errorf("sessions after the sweep = %d, want 1", m.len())
	}
	if _, found, _ := m.Find("a"); found {
		t.Error("Find of an expired session found it")
	}
}

func TestHijackWithoutSupport(t *testing.T) {
	s := newSite(t, nil)
	sw := &sessionWriter{ResponseWriter: &plainWriter{header: http.Header{}}, auth: s.auth, req: httptestRequest(s)}
	if _, _, err := sw.Hijack(); err == nil {
		t.Error("Hijack on a writer that cannot hijack returned no error")
	}
}

type plainWriter struct{ header http.Header }

func (p *plainWriter) Header() http.Header         { return p.header }
func (p *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *plainWriter) WriteHeader(int)             {}

func httptestRequest(s *site) *http.Request {
	req, _ := http.NewRequest("GET", s.srv.URL, nil)
	ctx, _ := s.auth.sm.Load(req.Context(), "")
	return req.WithContext(ctx)
}

func TestPhoneSendSessionIsShortLived(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	ps.sendCode(b, "/sign-in/phone", "13800138000")
	ps.clock.Advance(pendingLifetime + time.Second)
	ctx, err := ps.auth.sm.Load(context.Background(), ps.sessionCookie(b))
	if err != nil {
		t.Fatal(err)
	}
	if keys := ps.auth.sm.Keys(ctx); len(keys) != 0 {
		t.Errorf("a session holding only a phone sign-in in progress outlived it: keys %v", keys)
	}

	// A signed-in user's session keeps its lifetime when they start
	// another sign-in.
	signed := ps.browser()
	ps.phoneSignIn(signed, "13800138001").expectStatus(t, http.StatusSeeOther)
	ps.sendCode(signed, "/sign-up/phone", "13800138002")
	ps.clock.Advance(pendingLifetime + time.Second)
	signed.get(ps.srv.URL+"/private").expectStatus(t, http.StatusOK)
}

// gobValue is a type latch's codec does not encode natively, so a session
// holding one is stored in the gob format.
type gobValue struct{ N int }

func init() { gob.Register(gobValue{}) }

// TestSessionLoadedOnDemand checks that an unchanged authenticated request
// never has scs decode the session, that the application's own scs calls
// work on the same requests, and that the store is read once a request
// either way.
func TestSessionLoadedOnDemand(t *testing.T) {
	s, store := newCountingSite(t, nil)
	if s.auth.scsKey == nil {
		t.Fatal("latch found no scs context key, so every request loads its session eagerly: check findScsKey against this version of scs")
	}
	sm := s.auth.SessionManager()
	var loaded atomic.Bool
	app := http.NewServeMux()
	app.Handle("/private", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loaded.Store(stateFrom(r.Context()).loaded.Load())
		u, _ := UserFrom(r.Context())
		io.WriteString(w, "private for "+u.Subject)
	})))
	app.Handle("/count", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "count") + 1
		sm.Put(r.Context(), "count", n)
		fmt.Fprint(w, n)
	})))
	app.HandleFunc("/gob", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "gob", gobValue{N: 7})
	})
	app.HandleFunc("/anonymous", func(w http.ResponseWriter, r *http.Request) {
		_, ok := UserFrom(r.Context())
		fmt.Fprint(w, ok, stateFrom(r.Context()).loaded.Load())
	})
	s.srv.Config.Handler = s.auth.Wrap(app)

	if r := s.browser().get(s.srv.URL + "/anonymous"); r.body != "false false" {
		t.Errorf("anonymous request: signed in, scs loaded = %q, want false false", r.body)
	}

	b := s.browser()
	s.signIn(b)
	finds, commits := store.finds.Load(), store.commits.Load()
	get := func(path, want string) {
		t.Helper()
		if r := b.get(s.srv.URL+path).expectStatus(t, http.StatusOK); r.body != want {
			t.Errorf("GET %s = %q, want %q", path, r.body, want)
		}
		if got := store.finds.Load() - finds; got != 1 {
			t.Errorf("GET %s read the store %d times, want once", path, got)
		}
		finds = store.finds.Load()
	}

	get("/private", "private for user-1")
	if loaded.Load() {
		t.Error("an unchanged authenticated request had scs load the session")
	}
	get("/count", "1")
	get("/count", "2")
	if got := store.commits.Load() - commits; got != 2 {
		t.Errorf("two requests that changed the session saved it %d times, want 2", got)
	}
	get("/private", "private for user-1")
	if loaded.Load() {
		t.Error("scs loaded the session of an unchanged request after the application used the session")
	}

	// A value outside latch's codec turns the session to gob, which latch
	// reads through scs.
	get("/gob", "")
	get("/private", "private for user-1")
	if !loaded.Load() {
		t.Error("a gob session was read without scs")
	}
	get("/count", "3")
}

// TestSessionInsideOwnLoadAndSave checks that latch's routes and
// RequireAuth work when the application wraps them in LoadAndSave of
// latch's own session manager, which then saves the session.
func TestSessionInsideOwnLoadAndSave(t *testing.T) {
	s := newSite(t, nil)
	sm := s.auth.SessionManager()
	app := http.NewServeMux()
	app.Handle("/private", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		n := sm.GetInt(r.Context(), "n") + 1
		sm.Put(r.Context(), "n", n)
		fmt.Fprint(w, u.Subject, " ", n)
	})))
	s.srv.Config.Handler = sm.LoadAndSave(s.auth.Wrap(app))

	b := s.browser()
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
	s.signIn(b)
	for _, want := range []string{"user-1 1", "user-1 2"} {
		if r := b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK); r.body != want {
			t.Errorf("GET /private = %q, want %q", r.body, want)
		}
	}
}

// renamedValue is stored in sessions under a gob name that a test then
// changes, as when an application renames a type it kept in sessions.
type renamedValue struct{ N int }

func init() { gob.RegisterName("latchtest.Old", renamedValue{}) }

// TestSessionUndecodableGob checks that a stored gob session that no
// longer decodes ends requests with 503, on routes that use scs and on
// routes that do not, and is not replaced by an empty session.
func TestSessionUndecodableGob(t *testing.T) {
	s := newSite(t, nil)
	sm := s.auth.SessionManager()
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "g", renamedValue{1}) })
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/private", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	s.srv.Config.Handler = s.auth.Wrap(mux)
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/put").expectStatus(t, http.StatusOK)

	store := s.auth.sm.Store.(sessionStore).inner.(*memorySessions)
	token := s.sessionCookie(b)
	data, found, _ := store.Find(token)
	if !found || data[0] != codecGob {
		t.Fatalf("stored session found = %v, format %q; want a gob session", found, data[:1])
	}
	changed := bytes.Replace(data, []byte("latchtest.Old"), []byte("latchtest.New"), 1)
	if err := store.Commit(token, changed, s.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/plain", "/private"} {
		b.get(s.srv.URL+path).expectStatus(t, http.StatusServiceUnavailable)
	}
	if got, _, _ := store.Find(token); !bytes.Equal(got, changed) {
		t.Error("the undecodable session was replaced")
	}
}

// TestSessionChangesThroughScs checks that UserFrom, TokensFrom and
// Authorize see what the application does to the session through scs
// earlier in the same request, with and without idle timeout, and with a
// session manager that the application passes in.
func TestSessionChangesThroughScs(t *testing.T) {
	setups := map[string]func(*Config){
		"default":      nil,
		"no idle":      func(c *Config) { c.IdleTimeout = -1 },
		"app manager":  func(c *Config) { sm := scs.New(); sm.Codec = Codec{}; c.Sessions = sm },
		"gob sessions": nil,
	}
	changes := map[string]func(*scs.SessionManager, context.Context){
		"Destroy":     func(sm *scs.SessionManager, ctx context.Context) { _ = sm.Destroy(ctx) },
		"Clear":       func(sm *scs.SessionManager, ctx context.Context) { _ = sm.Clear(ctx) },
		"Remove user": func(sm *scs.SessionManager, ctx context.Context) { sm.Remove(ctx, keyUser); sm.Remove(ctx, keyTokens) },
	}
	for setup, edit := range setups {
		for change, apply := range changes {
			t.Run(setup+"/"+change, func(t *testing.T) {
				s := newSite(t, edit)
				sm := s.auth.SessionManager()
				mux := http.NewServeMux()
				mux.HandleFunc("/gob", func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "g", gobValue{1}) })
				mux.Handle("/leave", s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if _, ok := TokensFrom(r.Context()); !ok {
						t.Error("TokensFrom before the change: no tokens")
					}
					apply(sm, r.Context())
					_, user := UserFrom(r.Context())
					_, tokens := TokensFrom(r.Context())
					_, err := s.auth.Authorize(r)
					fmt.Fprint(w, user, " ", tokens, " ", err)
				})))
				h := s.auth.Wrap(mux)
				if s.auth.cfg.Sessions != nil {
					h = sm.LoadAndSave(h)
				}
				s.srv.Config.Handler = h
				b := s.browser()
				s.signIn(b)
				if setup == "gob sessions" {
					b.get(s.srv.URL+"/gob").expectStatus(t, http.StatusOK)
				}
				if got, want := b.get(s.srv.URL+"/leave").body, "false false "+ErrNotSignedIn.Error(); got != want {
					t.Errorf("after %s: user, tokens, Authorize = %q, want %q", change, got, want)
				}
			})
		}
	}
}
