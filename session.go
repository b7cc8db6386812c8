package latch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Session keys that latch uses. Applications sharing the session manager
// must leave keys with the "latch." prefix alone.
const (
	keyUser    = "latch.user"
	keyTokens  = "latch.tokens"
	keyPending = "latch.pending"
	keySeen    = "latch.seen"
	keyDone    = "latch.done"
)

// errSessionWrite is returned from Write after the session could not be
// saved and a 503 response was sent in place of the handler's.
var errSessionWrite = errors.New("latch: response replaced because the session could not be saved")

// stateKey is the context key of the per-request [requestState].
type stateKey struct{}

// requestState is what latch's session middleware keeps for one request:
// the Auth that loaded the session and the user decoded from it, so that
// [UserFrom] decodes the session record at most once per request.
type requestState struct {
	auth *Auth

	mu         sync.Mutex
	userLoaded bool
	u          *User
	t          *Tokens
	tokensRead bool
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
	b, _ := st.auth.sm.Get(ctx, keyUser).([]byte)
	if b == nil {
		return nil, nil
	}
	u, err := unmarshalUser(b)
	if err != nil {
		return nil, err
	}
	st.u = u
	return u, nil
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

// setSignedIn records a new user and tokens for the rest of the request.
func (st *requestState) setSignedIn(u *User, t *Tokens) {
	st.mu.Lock()
	st.u, st.userLoaded = u, true
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
// ends with 503 Service Unavailable and the error is logged; the store's
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

	var token string
	if c, err := r.Cookie(a.sm.Cookie.Name); err == nil {
		token = c.Value
	}
	loaded, err := a.sm.Load(ctx, token)
	if err != nil {
		a.storeFailed(w, r, "load", err)
		return
	}
	// scs returns the same context when an outer LoadAndSave of the same
	// manager has loaded the session already; that middleware saves it.
	owner := loaded != ctx

	r = r.WithContext(context.WithValue(loaded, stateKey{}, &requestState{auth: a}))
	if !owner {
		next.ServeHTTP(w, r)
		return
	}
	if err := a.checkIdle(r.Context(), token); err != nil {
		a.storeFailed(w, r, "delete", err)
		return
	}

	w.Header().Add("Vary", "Cookie")
	sw := &sessionWriter{ResponseWriter: w, auth: a, req: r}
	next.ServeHTTP(sw, r)
	if !sw.committed {
		sw.commit()
	}
}

// checkIdle ends a session idle for longer than the idle timeout, and
// records activity when enough of the timeout has passed since the last
// record. Recording only now and then keeps unchanged sessions out of the
// store's write path.
func (a *Auth) checkIdle(ctx context.Context, token string) error {
	if a.idle <= 0 || token == "" {
		return nil
	}
	seen, ok := a.sm.Get(ctx, keySeen).(int64)
	if !ok {
		return nil
	}
	now := a.cfg.Now()
	idleFor := now.Sub(time.Unix(seen, 0))
	switch {
	case idleFor > a.idle:
		a.log.InfoContext(ctx, "latch: session ended after idle timeout", "session", sessionID(token), "idle", idleFor.Truncate(time.Second).String())
		return a.sm.Destroy(ctx)
	case idleFor >= a.touchEvery:
		a.sm.Put(ctx, keySeen, now.Unix())
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
// cookie goes out with the first header or body byte, whoever writes it.
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
		if a.idle > 0 {
			a.sm.Put(ctx, keySeen, a.cfg.Now().Unix())
		}
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
	a.log.ErrorContext(r.Context(), "latch: session store failed", "op", op, "path", r.URL.Path, "error", err)
	w.Header().Set("Retry-After", "5")
	a.fail(w, r, http.StatusServiceUnavailable, pageUnavailable)
}

// idleStore caps the store expiry of each session at the idle timeout, so
// idle sessions leave the store on their own; the session data keeps its
// absolute deadline.
type idleStore struct {
	scs.Store
	idle time.Duration
	now  func() time.Time
}

func (s idleStore) cap(expiry time.Time) time.Time {
	if limit := s.now().Add(s.idle); limit.Before(expiry) {
		return limit
	}
	return expiry
}

func (s idleStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.Store.Commit(token, b, s.cap(expiry))
}

// FindCtx, CommitCtx and DeleteCtx pass the request context on to stores
// that take one.
func (s idleStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if c, ok := s.Store.(scs.CtxStore); ok {
		return c.FindCtx(ctx, token)
	}
	return s.Store.Find(token)
}

func (s idleStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if c, ok := s.Store.(scs.CtxStore); ok {
		return c.CommitCtx(ctx, token, b, s.cap(expiry))
	}
	return s.Commit(token, b, expiry)
}

func (s idleStore) DeleteCtx(ctx context.Context, token string) error {
	if c, ok := s.Store.(scs.CtxStore); ok {
		return c.DeleteCtx(ctx, token)
	}
	return s.Store.Delete(token)
}
