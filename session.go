package latch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Session keys that latch uses. Applications sharing the session manager
// must leave keys with the "latch." prefix alone.
const (
	keyUser    = "latch.user"
	keyTokens  = "latch.tokens"
	keyPending = "latch.pending"
	keyDone    = "latch.done"
)

// errSessionWrite is returned from Write after the session could not be
// saved and a 503 response was sent in place of the handler's.
var errSessionWrite = errors.New("latch: response replaced because the session could not be saved")

// stateKey is the context key of the per-request [requestState].
type stateKey struct{}

// requestState holds latch's state for one request: the Auth that loaded
// the session, and the user and token records as last decoded, so that
// [UserFrom] decodes each at most once while it does not change.
type requestState struct {
	auth *Auth

	mu sync.Mutex
	u  *User
	t  *Tokens
	// userFrom and tokensFrom are the encoded records that u and t were
	// decoded from. A record that scs now holds is decoded again unless it
	// is the same slice.
	userFrom, tokensFrom []byte

	// routeServed is set when one of latch's routes served the request.
	routeServed atomic.Bool

	// The fields below serve a session that scs loads on demand; see
	// sessionContext. They are set before the request's handler runs.
	lazy   bool
	parent context.Context // the request's context without latch's state
	token  string
	stored []byte // the session as the store returned it
	found  bool
	// peekedUser and peekedTokens are latch's records in stored. They are
	// current until scs loads the session.
	peekedUser, peekedTokens []byte

	loadOnce sync.Once
	loaded   atomic.Bool
	loadErr  error
	scsData  any // scs's context value, once loaded
}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// record returns latch's encoded record under key, or nil. It reads the
// stored bytes until scs loads the session, and scs after that, so that
// changes made through scs, by latch or the application, show.
func (st *requestState) record(ctx context.Context, key string) []byte {
	if st.lazy && !st.loaded.Load() {
		if key == keyUser {
			return st.peekedUser
		}
		return st.peekedTokens
	}
	b, _ := st.auth.sm.Get(ctx, key).([]byte)
	return b
}

// sameBytes reports whether a and b are the same slice of the same array.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// user returns the signed-in user, or nil for an anonymous session.
func (st *requestState) user(ctx context.Context) (*User, error) {
	b := st.record(ctx, keyUser)
	if b == nil {
		return nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.u != nil && sameBytes(st.userFrom, b) {
		return st.u, nil
	}
	u, err := unmarshalUser(b)
	if err != nil {
		return nil, err
	}
	st.u, st.userFrom = u, b
	return u, nil
}

// userRecord returns the encoded user record of the session, or nil when
// no one is signed in. It does not decode the record.
func (st *requestState) userRecord(ctx context.Context) []byte {
	return st.record(ctx, keyUser)
}

// tokenTimes reads the token record's times without decoding its strings;
// ok is false when there is no readable record.
func (st *requestState) tokenTimes(ctx context.Context) (expiry, obtained time.Time, refreshable, ok bool) {
	return tokenTimes(st.record(ctx, keyTokens))
}

// tokens returns the stored tokens, or nil when there are none.
func (st *requestState) tokens(ctx context.Context) (*Tokens, error) {
	b := st.record(ctx, keyTokens)
	if b == nil {
		return nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.t != nil && sameBytes(st.tokensFrom, b) {
		return st.t, nil
	}
	t, err := unmarshalTokens(b)
	if err != nil {
		return nil, err
	}
	st.t, st.tokensFrom = t, b
	return t, nil
}

// keepUser records u as the decoded form of record, which latch has just
// put in the session, so that it is not decoded again.
func (st *requestState) keepUser(u *User, record []byte) {
	st.mu.Lock()
	st.u, st.userFrom = u, record
	st.mu.Unlock()
}

// keepTokens records t as the decoded form of record, which latch has
// just put in the session.
func (st *requestState) keepTokens(t *Tokens, record []byte) {
	st.mu.Lock()
	st.t, st.tokensFrom = t, record
	st.mu.Unlock()
}

// Sessions returns middleware that loads the session of each request before
// calling next and saves it when the response starts. [Auth.Wrap], the route
// handlers and [Auth.RequireAuth] include it, and it does nothing when the
// request already carries the session, so nesting is harmless.
//
// With a caller-supplied scs manager whose LoadAndSave already wraps the
// request, Sessions uses that session and leaves saving to LoadAndSave.
//
// A session is saved only when it changed, so an authenticated request that
// changes nothing costs one store read. With latch's own session manager,
// scs decodes a session only when something calls scs on the request:
// RequireAuth and UserFrom read latch's records from the stored bytes. When the store
// fails, the request ends with 503 Service Unavailable and the error is
// logged. A store's failure is never taken for an empty session.
func (a *Auth) Sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serveWithSession(w, r, next)
	})
}

func (a *Auth) serveWithSession(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	if st := stateFrom(ctx); st != nil && st.auth == a {
		next.ServeHTTP(w, r)
		return
	}

	token := cookieValue(r.Header, a.sm.Cookie.Name)
	if store, ok := a.lazyStore(ctx); ok {
		a.serveLazily(w, r, next, store, token)
		return
	}
	loaded, err := a.sm.Load(ctx, token)
	if err != nil {
		a.storeFailed(w, r, "load", err)
		return
	}
	// scs returns the same context when an outer LoadAndSave of the same
	// manager has loaded the session already; that middleware saves it.
	owner := loaded != ctx

	rs := &requestSession{requestState: requestState{auth: a}}
	r = r.WithContext(context.WithValue(loaded, stateKey{}, &rs.requestState))
	if !owner {
		next.ServeHTTP(w, r)
		return
	}
	a.serveAndSave(w, r, next, rs, token)
}

// serveAndSave ends an idle session or records activity, serves the
// request and saves the session when the response starts.
func (a *Auth) serveAndSave(w http.ResponseWriter, r *http.Request, next http.Handler, rs *requestSession, token string) {
	st := &rs.requestState
	if err := a.checkIdle(r.Context(), st, token); err != nil {
		a.storeFailed(w, r, "delete", err)
		return
	}

	addVary(w.Header(), "Cookie")
	rs.writer = sessionWriter{ResponseWriter: w, auth: a, req: r, st: st}
	next.ServeHTTP(&rs.writer, r)
	if !rs.writer.committed {
		rs.writer.commit()
	}
}

// requestSession is the one allocation of the session middleware per
// request: the request's state, its context and its response writer.
type requestSession struct {
	requestState
	ctx    sessionContext
	writer sessionWriter
}

// lazyStore returns latch's session store when scs may load the session
// on demand: the session manager is latch's own, with latch's store and
// codec, and the request has no session loaded by an outer LoadAndSave.
// Settings that make scs write on load turn on-demand loading off.
func (a *Auth) lazyStore(ctx context.Context) (sessionStore, bool) {
	sm := a.sm
	if a.scsKey == nil || sm.IdleTimeout != 0 || sm.HashTokenInStore {
		return sessionStore{}, false
	}
	if _, ok := sm.Codec.(Codec); !ok {
		return sessionStore{}, false
	}
	store, ok := sm.Store.(sessionStore)
	if !ok || ctx.Value(a.scsKey) != nil {
		return sessionStore{}, false
	}
	return store, true
}

// serveLazily serves a request whose session scs loads only when something
// calls scs. latch reads latch's records from the stored bytes itself, and
// scs later decodes the same bytes, so the store is read once either way.
func (a *Auth) serveLazily(w http.ResponseWriter, r *http.Request, next http.Handler, store sessionStore, token string) {
	ctx := r.Context()
	rs := &requestSession{}
	st := &rs.requestState
	st.auth, st.lazy, st.parent, st.token = a, true, ctx, token
	if token != "" {
		b, found, err := store.find(ctx, token)
		if err != nil {
			a.storeFailed(w, r, "load", err)
			return
		}
		if found {
			user, tokens, native, err := peekSession(b)
			if err != nil {
				a.storeFailed(w, r, "load", err)
				return
			}
			st.stored, st.found = b, true
			st.peekedUser, st.peekedTokens = user, tokens
			// Only scs decodes the gob format, so it loads such a
			// session now, while a failure can still end the request.
			if !native {
				if err := st.loadScs(false); err != nil {
					a.storeFailed(w, r, "load", err)
					return
				}
			}
		}
	}
	rs.ctx = sessionContext{Context: ctx, st: st}
	a.serveAndSave(w, r.WithContext(&rs.ctx), next, rs, token)
}

// sessionContext is the context of a request whose session scs loads on
// demand: the first lookup of scs's context value loads it, so every scs
// call on the request works as under LoadAndSave.
type sessionContext struct {
	context.Context
	st *requestState
}

// Value implements [context.Context].
func (c *sessionContext) Value(key any) any {
	if key == (stateKey{}) {
		return c.st
	}
	if key == c.st.auth.scsKey {
		// Unreachable failure: serveLazily has scs load a gob session at
		// once, and peekSession accepts only native sessions that the
		// codec decodes, as FuzzPeekSession checks.
		_ = c.st.loadScs(true)
		return c.st.scsData
	}
	return c.Context.Value(key)
}

// storedKey is the context key of the session bytes that loadScs passes
// to sessionStore.FindCtx, so that scs does not read the store again.
type storedKey struct{}

// loadScs has scs load the session, once, from the bytes read at the start
// of the request. When that fails, scs gets an empty session, so that the
// caller's scs calls do not panic, and the error is returned. Only the
// first call's logFailure counts.
func (st *requestState) loadScs(logFailure bool) error {
	st.loadOnce.Do(func() {
		a := st.auth
		loaded, err := a.sm.Load(context.WithValue(st.parent, storedKey{}, st), st.token)
		if err != nil {
			st.loadErr = err
			if logFailure {
				a.log.ErrorContext(st.parent, "latch: the session that latch read could not be loaded into scs; starting an empty one", "error", err)
			}
			loaded, _ = a.sm.Load(st.parent, "")
		}
		st.scsData = loaded.Value(a.scsKey)
		st.loaded.Store(true)
	})
	return st.loadErr
}

// untouched reports whether scs never loaded the session of a request
// served lazily, in which case nothing can have changed it.
func (st *requestState) untouched() bool {
	return st != nil && st.lazy && !st.loaded.Load()
}

// keyProbe is a context that records the first key looked up in it.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}

// findScsKey returns the context key of sm's sessions, or nil, which turns
// on-demand loading off. scs does not export the key, so findScsKey
// records the key that Load looks up, then checks that Load accepts a
// context holding a value under it as already loaded.
func findScsKey(sm *scs.SessionManager) any {
	probe := &keyProbe{Context: context.Background()}
	loaded, err := sm.Load(probe, "")
	if err != nil || probe.key == nil {
		return nil
	}
	data := loaded.Value(probe.key)
	if data == nil {
		return nil
	}
	holder := context.WithValue(context.Background(), probe.key, data)
	if again, err := sm.Load(holder, ""); err != nil || again != holder {
		return nil
	}
	return probe.key
}

// checkIdle ends a session idle for longer than the idle timeout, and
// records activity when enough of the timeout has passed since the last
// record. Recording only now and then keeps unchanged sessions out of the
// store's write path.
func (a *Auth) checkIdle(ctx context.Context, st *requestState, token string) error {
	if a.idle <= 0 || token == "" {
		return nil
	}
	record := st.userRecord(ctx)
	seen, ok := recordSeen(record)
	if !ok {
		return nil
	}
	now := a.cfg.Now()
	idleFor := now.Sub(seen)
	switch {
	case idleFor > a.idle:
		a.log.InfoContext(ctx, "latch: session ended after idle timeout", "session", sessionID(token), "idle", idleFor.Truncate(time.Second).String())
		if err := a.sm.Destroy(ctx); err != nil {
			return err
		}
	case idleFor >= a.touchEvery:
		a.sm.Put(ctx, keyUser, withSeen(record, now))
	}
	return nil
}

// sessionID returns a short, non-reversible label for a session token, for
// correlating log lines without logging the token.
func sessionID(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// sessionWriter saves the session just before the response starts, so the
// cookie goes out with the first header or body byte, whichever code
// writes it.
type sessionWriter struct {
	http.ResponseWriter
	auth      *Auth
	req       *http.Request
	st        *requestState
	committed bool
	failed    bool
}

// commit saves a modified session and writes its cookie, or writes a 503
// in place of the response when the store fails. It reports whether the
// handler's response may proceed.
func (sw *sessionWriter) commit() bool {
	sw.committed = true
	if sw.st.untouched() {
		return true
	}
	a, ctx := sw.auth, sw.req.Context()

	switch a.sm.Status(ctx) {
	case scs.Modified:
		token, expiry, err := a.sm.Commit(ctx)
		if err != nil {
			sw.failed = true
			a.storeFailed(sw.ResponseWriter, sw.req, "save", err)
			return false
		}
		a.sm.WriteSessionCookie(ctx, sw.ResponseWriter, token, expiry)
	case scs.Destroyed:
		a.sm.WriteSessionCookie(ctx, sw.ResponseWriter, "", time.Time{})
	}
	return true
}

func (sw *sessionWriter) WriteHeader(code int) {
	if sw.failed {
		return
	}
	// Informational responses (1xx) come before the real header.
	if code >= 200 && !sw.committed && !sw.commit() {
		return
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *sessionWriter) Write(b []byte) (int, error) {
	if !sw.committed && !sw.commit() || sw.failed {
		return 0, errSessionWrite
	}
	return sw.ResponseWriter.Write(b)
}

// Flush sends the session cookie, if any, and then flushes the response.
func (sw *sessionWriter) Flush() {
	if !sw.committed && !sw.commit() || sw.failed {
		return
	}
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

// Hijack hands the connection to the handler. The session is saved first;
// no cookie can follow a hijacked connection.
func (sw *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !sw.committed {
		sw.committed = true
		if !sw.st.untouched() && sw.auth.sm.Status(sw.req.Context()) == scs.Modified {
			if _, _, err := sw.auth.sm.Commit(sw.req.Context()); err != nil {
				return nil, nil, err
			}
		}
	}
	return http.NewResponseController(sw.ResponseWriter).Hijack()
}

// Unwrap returns the underlying ResponseWriter for [http.ResponseController].
func (sw *sessionWriter) Unwrap() http.ResponseWriter {
	return sw.ResponseWriter
}

// storeFailed ends the request with 503 Service Unavailable after a session
// store error, and logs it.
func (a *Auth) storeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	a.log.ErrorContext(r.Context(), "latch: session store failed", "op", op, "path", truncate(r.URL.Path, maxLoggedInput), "error", err)
	w.Header().Set("Retry-After", "5")
	a.fail(w, r, http.StatusServiceUnavailable, pageUnavailable)
}

// sessionStore adapts the store of the session manager that latch makes.
// It caps each session's expiry at the idle timeout, so idle sessions leave
// the store on their own while the session data keeps its absolute
// deadline. For a store outside the process it also replaces each token by
// its SHA-256, so that a leaked copy of the store holds no usable token.
// The in-memory store keeps tokens as they are, because anyone who can
// read the process's memory can read the sessions too.
type sessionStore struct {
	inner scs.Store
	idle  time.Duration // zero: no cap
	now   func() time.Time
	hash  bool
}

func (s sessionStore) key(token string) string {
	if !s.hash {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s sessionStore) cap(expiry time.Time) time.Time {
	if s.idle <= 0 {
		return expiry
	}
	if limit := s.now().Add(s.idle); limit.Before(expiry) {
		return limit
	}
	return expiry
}

func (s sessionStore) Find(token string) ([]byte, bool, error) {
	return s.inner.Find(s.key(token))
}

func (s sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.inner.Commit(s.key(token), b, s.cap(expiry))
}

func (s sessionStore) Delete(token string) error {
	return s.inner.Delete(s.key(token))
}

// FindCtx, CommitCtx and DeleteCtx pass the request context on to stores
// that take one. When scs loads a session on demand, FindCtx returns the
// bytes read at the start of the request.
func (s sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if st, ok := ctx.Value(storedKey{}).(*requestState); ok && st.token == token {
		return st.stored, st.found, nil
	}
	return s.find(ctx, token)
}

func (s sessionStore) find(ctx context.Context, token string) ([]byte, bool, error) {
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.FindCtx(ctx, s.key(token))
	}
	return s.Find(token)
}

func (s sessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.CommitCtx(ctx, s.key(token), b, s.cap(expiry))
	}
	return s.Commit(token, b, expiry)
}

func (s sessionStore) DeleteCtx(ctx context.Context, token string) error {
	if c, ok := s.inner.(scs.CtxStore); ok {
		return c.DeleteCtx(ctx, s.key(token))
	}
	return s.Delete(token)
}

// maxCookies is the number of cookies beyond which net/http (Go 1.26)
// reads none from a request, unless GODEBUG httpcookiemaxnum changes it.
const maxCookies = 3000

// cookieValue returns the value of the first cookie named name in the
// request header, as http.Request.Cookie does, without building the list
// of every cookie.
func cookieValue(h http.Header, name string) string {
	lines := h["Cookie"]
	// net/http reads no cookie at all from a request that has more than
	// maxCookies of them.
	count := 0
	for _, line := range lines {
		count += strings.Count(line, ";") + 1
	}
	if count > maxCookies {
		return ""
	}
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			// textproto.TrimString trims ASCII white space only, as
			// net/http's cookie parser does, so that both read the same
			// value: strings.TrimSpace would also drop \f and \v. Like
			// net/http, it trims the name and not the value.
			part = textproto.TrimString(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || textproto.TrimString(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if validCookieValue(v) {
				return v
			}
		}
	}
	return ""
}

// validCookieValue applies RFC 6265's cookie-octet rule, as net/http does.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' || b == ',' || b == ' ' {
			return false
		}
	}
	return true
}
