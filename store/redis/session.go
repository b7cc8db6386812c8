package redis

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"
)

// SessionStore is an scs session store in Redis, for
// latch.Config.SessionStore, so that every instance of a site reads the
// same sign-ins. Get one from [Store.Sessions]. Each session is one string
// key under the store's prefix plus "session:", with a time to live that
// ends at the session's expiry, so expired sessions disappear on their
// own. Each method costs one command, bounded by the store's Timeout.
//
// A server error is returned as an error, never as a missing session, so
// latch answers 503 instead of treating the user as signed out.
type SessionStore struct {
	s *Store
}

var (
	_ scs.Store    = (*SessionStore)(nil)
	_ scs.CtxStore = (*SessionStore)(nil)
)

// Sessions returns the session store that shares s's client, prefix,
// timeout and clock.
func (s *Store) Sessions() *SessionStore { return &SessionStore{s: s} }

func (ss *SessionStore) key(token string) string { return ss.s.prefix + "session:" + token }

// FindCtx returns the data of the session with the given token. found is
// false when no such session exists or it has expired.
func (ss *SessionStore) FindCtx(ctx context.Context, token string) (b []byte, found bool, err error) {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	b, err = ss.s.client.Get(octx, ss.key(token)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, ss.s.wrap(ctx, octx, "find session", err)
	}
	return b, true, nil
}

// CommitCtx stores the session data under token until expiry, replacing
// any earlier data. An expiry that has already passed deletes the session.
func (ss *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	ttl := expiry.Sub(ss.s.now())
	if ttl < time.Millisecond {
		return ss.DeleteCtx(ctx, token)
	}
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	if err := ss.s.client.Set(octx, ss.key(token), b, ttl).Err(); err != nil {
		return ss.s.wrap(ctx, octx, "commit session", err)
	}
	return nil
}

// DeleteCtx deletes the session with the given token. Deleting a session
// that does not exist is not an error.
func (ss *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	if err := ss.s.client.Del(octx, ss.key(token)).Err(); err != nil {
		return ss.s.wrap(ctx, octx, "delete session", err)
	}
	return nil
}

// ClaimCtx claims key for ttl, and reports whether this call made the
// claim: false means another caller, on this or another instance, holds
// it. latch claims each refresh token before it sends it to the provider,
// so that two instances never both spend a token that the provider
// rotates. It costs one SET NX command.
func (ss *SessionStore) ClaimCtx(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	ok, err := ss.s.client.SetNX(octx, ss.s.prefix+"claim:"+key, 1, ttl).Result()
	if err != nil {
		return false, ss.s.wrap(ctx, octx, "claim", err)
	}
	return ok, nil
}

// Find is FindCtx with a background context, bounded by the store's
// Timeout.
func (ss *SessionStore) Find(token string) ([]byte, bool, error) {
	return ss.FindCtx(context.Background(), token)
}

// Commit is CommitCtx with a background context, bounded by the store's
// Timeout.
func (ss *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return ss.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx with a background context, bounded by the store's
// Timeout.
func (ss *SessionStore) Delete(token string) error {
	return ss.DeleteCtx(context.Background(), token)
}
