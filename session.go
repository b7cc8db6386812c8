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
// the session, and the user record once read and decoded, so that
// [UserFrom] decodes the record at most once per request.
type requestState struct {
	auth *Auth

	mu         sync.Mutex
	userLoaded bool
	u          *User
	t          *Tokens
	tokensRead bool
	// record is the encoded user record, when recordRead; the idle check
	// reads it first, so the rest of the request need not ask scs again.
	record     []byte
	recordRead bool

	// routeServed is set when one of latch's routes served the request.
	routeServed atomic.Bool
}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// user returns the signed-in user, or nil for an anonymous session.
func (st *requestState) user(ctx context.Context) (*User, error) {
	st.mu.Lock()
	defer st.mu.Unlock()

	if st.userLoaded {
		return st.u, nil
	}
	st.userLoaded = true
	if !st.recordRead {
		st.record, _ = st.auth.sm.Get(ctx, keyUser).([]byte)
		st.recordRead = true
	}
	if st.record == nil {
		return nil, nil
	}
	u, err := unmarshalUser(st.record)
	if err != nil {
		return nil, err
	}
	st.u = u
	return u, nil
}

// userRecord returns the encoded user record of the session, or nil when
// no one is signed in. It does not decode the record.
func (st *requestState) userRecord(ctx context.Context) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.recordRead {
		st.record, _ = st.auth.sm.Get(ctx, keyUser).([]byte)
		st.recordRead = true
	}
	return st.record
}

// tokens returns the stored tokens, or nil when there are none.
func (st *requestState) tokens(ctx context.Context) (*Tokens, error) {
	st.mu.Lock()
	defer st.mu.Unlock()

	if st.tokensRead {
		return st.t, nil
	}
	st.tokensRead = true
	b, _ := st.auth.sm.Get(ctx, keyTokens).([]byte)
	if b == nil {
		return nil, nil
	}
	t, err := unmarshalTokens(b)
	if err != nil {
		return nil, err
	}
	st.t = t
	return t, nil
}

// setSignedIn records a new user, its encoded record and tokens for the
// rest of the request.
func (st *requestState) setSignedIn(u *User, record []byte, t *Tokens) {
	st.mu.Lock()
	st.u, st.userLoaded = u, true
	st.record, st.recordRead = record, true
	st.t, st.tokensRead = t, true
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
// changes nothing costs one store read. When the store fails, the request
// ends with 503 Service Unavailable and the error is logged. A store's
// failure is never taken for an empty session.
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
	loaded, err := a.sm.Load(ctx, token)
	if err != nil {
		a.storeFailed(w, r, "load", err)
		return
	}
	// scs returns the same context when an outer LoadAndSave of the same
	// manager has loaded the session already; that middleware saves it.
	owner := loaded != ctx

	// One allocation holds the request's state and its response writer.
	rs := &requestSession{requestState: requestState{auth: a}}
	r = r.WithContext(context.WithValue(loaded, stateKey{}, &rs.requestState))
	if !owner {
		next.ServeHTTP(w, r)
		return
	}
	if err := a.checkIdle(r.Context(), &rs.requestState, token); err != nil {
		a.storeFailed(w, r, "delete", err)
		return
	}

	addVary(w.Header(), "Cookie")
	rs.writer = sessionWriter{ResponseWriter: w, auth: a, req: r}
	next.ServeHTTP(&rs.writer, r)
	if !rs.writer.committed {
		rs.writer.commit()
	}
}

// requestSession is the one allocation of the session middleware per
// request: the request's state and its response writer.
type requestSession struct {
	requestState
	writer sessionWriter
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
		st.setSignedIn(nil, nil, nil)
	case idleFor >= a.touchEvery:
		touched := withSeen(record, now)
		a.sm.Put(ctx, keyUser, touched)
		st.mu.Lock()
		st.record = touched
		st.mu.Unlock()
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
	committed bool
	failed    bool
}

// commit saves a modified session and writes its cookie, or writes a 503
// in place of the response when the store fails. It reports whether the
// handler's response may proceed.
func (sw *sessionWriter) commit() bool {
	sw.committed = true
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
		if sw.auth.sm.Status(sw.req.Context()) == scs.Modified {
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
// that take one.
func (s sessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
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

// cookieValue returns the value of the first cookie named name in the
// request header, as http.Request.Cookie does, without building the list
// of every cookie.
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			// textproto.TrimString trims ASCII white space only, as
			// net/http's cookie parser does, so that both read the same
			// value: strings.TrimSpace would also drop \f and \v.
			part = textproto.TrimString(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || textproto.TrimString(k) != name {
				continue
			}
			v = textproto.TrimString(v)
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
