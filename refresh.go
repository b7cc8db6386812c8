package latch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

const (
	// refreshMargin is how long before its expiry an access token is
	// refreshed, so that it does not expire on the way to an API. Tokens
	// that live less than twice the margin are refreshed at half-life.
	refreshMargin = 10 * time.Second
	// refreshResultTTL is how long the outcome of a refresh is reused for
	// other requests that still carry the old refresh token, because they
	// loaded the session before the refresh was saved. Providers that
	// rotate refresh tokens (Logto does) treat a second use of the old one
	// as theft and revoke the grant, so the old token must not be sent
	// twice.
	refreshResultTTL = time.Minute
	// refreshRetryAfter is how long a session waits after a refresh that
	// failed for a passing reason (network, provider error) before the
	// next attempt, so an unreachable provider is not called on every
	// request.
	refreshRetryAfter = 30 * time.Second
	// maxRefreshResults bounds the memory that remembered outcomes take.
	maxRefreshResults = 10000
	// refreshClaimTTL is how long one instance's claim to a refresh token
	// lasts in a shared store: longer than any refresh takes, which
	// providerTimeout bounds.
	refreshClaimTTL = time.Minute
	// refreshPollInterval is how often an instance that lost the claim
	// reads the session for the winner's tokens.
	refreshPollInterval = 50 * time.Millisecond
)

// errGrantRevoked means the provider refused the refresh token, or sent
// tokens that fail verification: the session must end.
var errGrantRevoked = errors.New("latch: the provider no longer honours this sign-in")

// refresher makes sure each refresh token is sent to the provider once,
// however many requests need it at the same time.
type refresher struct {
	group singleflight.Group

	mu        sync.Mutex
	results   map[string]refreshResult
	lastSweep time.Time
}

type refreshResult struct {
	tokens  *Tokens
	err     error
	expires time.Time
}

func (f *refresher) lookup(key string, now time.Time) (refreshResult, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[key]
	if !ok || now.After(r.expires) {
		return refreshResult{}, false
	}
	return r, true
}

func (f *refresher) remember(key string, r refreshResult, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.results == nil {
		f.results = map[string]refreshResult{}
	}
	// Outcomes hold tokens, so expired ones are dropped at least once per
	// refreshResultTTL rather than left until the map is full.
	if len(f.results) >= maxRefreshResults || now.Sub(f.lastSweep) >= refreshResultTTL {
		f.lastSweep = now
		for k, old := range f.results {
			if now.After(old.expires) {
				delete(f.results, k)
			}
		}
		if len(f.results) >= maxRefreshResults {
			clear(f.results)
		}
	}
	f.results[key] = r
}

// needsRefresh reports whether t should be refreshed now.
func (a *Auth) needsRefresh(t *Tokens) bool {
	return t != nil && a.dueForRefresh(t.Expiry, t.obtained, t.refreshToken != "")
}

// dueForRefresh reports whether tokens with this expiry, issued at
// obtained, should be refreshed now.
func (a *Auth) dueForRefresh(expiry, obtained time.Time, refreshable bool) bool {
	if !refreshable || expiry.IsZero() {
		return false
	}
	margin := refreshMargin
	if life := expiry.Sub(obtained); life > 0 && life < 2*margin {
		margin = life / 2
	}
	return !a.cfg.Now().Before(expiry.Add(-margin))
}

// refreshIfNeeded refreshes the request's tokens when they are about to
// expire. It returns [ErrNotSignedIn] after ending a session whose grant
// the provider revoked. A passing failure is logged and the request goes
// on with the old tokens: the session, not the access token, is what
// signs the user in.
func (a *Auth) refreshIfNeeded(r *http.Request) error {
	ctx := r.Context()
	st := stateFrom(ctx)
	// Most requests need no refresh: read the times without decoding.
	if expiry, obtained, refreshable, ok := st.tokenTimes(ctx); ok && !a.dueForRefresh(expiry, obtained, refreshable) {
		return nil
	}
	t, err := st.tokens(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "latch: unreadable token record", "error", err)
		return nil
	}
	if !a.needsRefresh(t) {
		return nil
	}
	u, err := st.user(ctx)
	if err != nil || u == nil {
		return ErrNotSignedIn
	}

	nt, err := a.refreshShared(ctx, u, t)
	switch {
	case err == nil:
		record := nt.marshal()
		a.sm.Put(ctx, keyTokens, record)
		st.keepTokens(nt, record)
		return nil
	case errors.Is(err, errGrantRevoked):
		a.log.InfoContext(ctx, "latch: session ended: the provider rejected the refresh token", "subject", logSubject(u), "reason", err.Error())
		if err := a.sm.Destroy(ctx); err != nil {
			return err
		}
		return ErrNotSignedIn
	default:
		a.log.WarnContext(ctx, "latch: token refresh failed; keeping the current tokens", "subject", logSubject(u), "error", err.Error())
		return nil
	}
}

// refreshShared refreshes t once for all concurrent callers holding the
// same refresh token, and lets later callers with the old token reuse the
// outcome for a while.
func (a *Auth) refreshShared(ctx context.Context, u *User, t *Tokens) (*Tokens, error) {
	sum := sha256.Sum256([]byte(t.refreshToken))
	key := string(sum[:])
	if r, ok := a.refresher.lookup(key, a.cfg.Now()); ok {
		return r.tokens, r.err
	}
	v, err, _ := a.refresher.group.Do(key, func() (any, error) {
		if r, ok := a.refresher.lookup(key, a.cfg.Now()); ok {
			return r.tokens, r.err
		}
		// The refresh outlives a cancelled caller, since others may share
		// it. providerTimeout bounds it, even for a client without a
		// timeout, because every request of the session waits for it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout(a.oidc.client))
		nt, err := a.refreshOnce(rctx, key, a.sm.Token(ctx), u, t)
		cancel()
		ttl := refreshResultTTL
		if err != nil && !errors.Is(err, errGrantRevoked) {
			ttl = refreshRetryAfter
		}
		a.refresher.remember(key, refreshResult{tokens: nt, err: err, expires: a.cfg.Now().Add(ttl)}, a.cfg.Now())
		return nt, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Tokens), nil
}

// refreshOnce refreshes t unless another instance that shares the
// session store is refreshing the same token: then it waits for that
// instance's tokens to reach the store. Providers that rotate refresh
// tokens revoke the whole grant when one is used twice, so two instances
// must never both send it. Stores that several instances share
// (store/redis, store/postgres) offer the claim that decides; with any
// other store the process-wide singleflight is the only guard.
func (a *Auth) refreshOnce(ctx context.Context, key, session string, u *User, t *Tokens) (*Tokens, error) {
	if a.claimer == nil {
		return a.refresh(ctx, u, t)
	}
	claimed, err := a.claimer.ClaimCtx(ctx, "refresh:"+hex.EncodeToString([]byte(key)), refreshClaimTTL)
	if err != nil {
		return nil, fmt.Errorf("latch: claiming the refresh in the session store failed: %w", err)
	}
	if claimed {
		return a.refresh(ctx, u, t)
	}
	return a.awaitRefresh(ctx, session, t)
}

// awaitRefresh waits for another instance to save the tokens that replace
// t in the session, reading the session from the store every
// refreshPollInterval until ctx ends.
func (a *Auth) awaitRefresh(ctx context.Context, session string, t *Tokens) (*Tokens, error) {
	tick := time.NewTicker(refreshPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("latch: another instance is refreshing these tokens and has not saved new ones: %w", ctx.Err())
		case <-tick.C:
		}
		// A context without the request's values, so that scs reads the
		// store again rather than returning the request's own copy of the
		// session. It keeps ctx's deadline.
		fresh, cancel := context.WithDeadline(context.Background(), deadlineOf(ctx))
		sctx, err := a.sm.Load(fresh, session)
		cancel()
		if err != nil {
			return nil, err
		}
		if !a.sm.Exists(sctx, keyUser) {
			return nil, fmt.Errorf("%w: the session ended on another instance", errGrantRevoked)
		}
		raw, _ := a.sm.Get(sctx, keyTokens).([]byte)
		if nt, err := unmarshalTokens(raw); err == nil && nt.refreshToken != t.refreshToken {
			return nt, nil
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(defaultProviderTimeout)
}

// claimer is implemented by session stores that several instances share;
// see refreshOnce.
type claimer interface {
	ClaimCtx(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// refresh exchanges the refresh token at the provider's token endpoint and
// verifies any new ID token: OpenID Connect Core 1.0 section 12.2 requires
// it to name the same issuer and subject as the one from sign-in.
func (a *Auth) refresh(ctx context.Context, u *User, t *Tokens) (*Tokens, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.oidc.client)
	// An empty access token makes the source go to the provider at once.
	src := a.oidc.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: t.refreshToken})
	tok, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
			return nil, fmt.Errorf("%w: %s", errGrantRevoked, safeError(err))
		}
		return nil, errors.New(safeError(err))
	}

	rawID, _ := tok.Extra("id_token").(string)
	if rawID != "" {
		if _, _, err := a.verifyIDToken(ctx, rawID, idTokenCheck{subject: u.Subject}); err != nil {
			a.log.WarnContext(ctx, "latch: refreshed ID token rejected", "subject", logSubject(u), "error", err.Error())
			return nil, fmt.Errorf("%w: refreshed id token rejected: %v", errGrantRevoked, err)
		}
	} else {
		rawID = t.IDToken
	}
	return a.tokensFrom(tok, rawID, t.Scope), nil
}
