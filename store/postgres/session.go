package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
)

// SessionStore is an scs session store in PostgreSQL, for
// latch.Config.SessionStore, so that every instance of a site reads the
// same sign-ins. Get one from [Store.Sessions]. Sessions are rows of the
// sessions table that [Store.Migrate] creates; a session whose expiry has
// passed, by Options.Now, is not found, and the cleaner deletes it later.
// Each method is one statement, bounded by the store's Timeout.
//
// A database error is returned as an error, never as a missing session,
// so latch answers 503 instead of treating the user as signed out.
type SessionStore struct {
	s *Store
}

var (
	_ scs.Store    = (*SessionStore)(nil)
	_ scs.CtxStore = (*SessionStore)(nil)
)

// Sessions returns the session store that shares s's pool, tables,
// timeout and clock.
func (s *Store) Sessions() *SessionStore { return &SessionStore{s: s} }

// FindCtx returns the data of the session with the given token. found is
// false when no such session exists or it has expired.
func (ss *SessionStore) FindCtx(ctx context.Context, token string) (b []byte, found bool, err error) {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	err = ss.s.pool.QueryRow(octx, ss.s.sql.findSession, token, ss.s.now()).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, ss.s.wrap(ctx, octx, "find session", err)
	}
	return b, true, nil
}

// CommitCtx stores the session data under token until expiry, replacing
// any earlier data.
func (ss *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	if _, err := ss.s.pool.Exec(octx, ss.s.sql.commitSession, token, b, expiry); err != nil {
		return ss.s.wrap(ctx, octx, "commit session", err)
	}
	return nil
}

// DeleteCtx deletes the session with the given token. Deleting a session
// that does not exist is not an error.
func (ss *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	if _, err := ss.s.pool.Exec(octx, ss.s.sql.deleteSession, token); err != nil {
		return ss.s.wrap(ctx, octx, "delete session", err)
	}
	return nil
}

// ClaimCtx claims key for ttl, and reports whether this call made the
// claim: false means another caller, on this or another instance, holds
// it. latch claims each refresh token before it sends it to the provider,
// so that two instances never both spend a token that the provider
// rotates. The claim is a row of the sessions table under "claim:" and
// key, which the cleanup removes once it expires; it costs one statement.
func (ss *SessionStore) ClaimCtx(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	octx, cancel := ss.s.op(ctx)
	defer cancel()
	now := ss.s.now()
	var one int
	err := ss.s.pool.QueryRow(octx, ss.s.sql.claim, "claim:"+key, now.Add(ttl), now).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, ss.s.wrap(ctx, octx, "claim", err)
	}
	return true, nil
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
