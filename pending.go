package latch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Bounds on the sign-in attempts kept in one session: one per browser tab
// that started a sign-in, so several tabs can sign in at once.
const (
	maxPendingSignIns = 5
	pendingLifetime   = 10 * time.Minute
)

// pendingSignIn is one sign-in attempt between the redirect to the
// provider and the callback.
type pendingSignIn struct {
	State    string
	Nonce    string
	Verifier string // PKCE code verifier
	ReturnTo string
	Created  time.Time
}

// randomToken returns 32 random bytes in base64url form, for state and
// nonce values.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error; it crashes the program
	// rather than return predictable bytes.
	_, _ = rand.Read(b)
	return b
}

// keepShort limits the lifetime of a session that is about to hold a
// sign-in in progress and no signed-in user. Such a session holds nothing
// that outlives the attempt, so a flood of started sign-ins cannot fill
// the store for a day; signing in renews the session with the full
// lifetime. Sessions of a caller's manager are left alone, since they may
// hold the application's own values.
func (a *Auth) keepShort(ctx context.Context) {
	if !a.ownsSessions() || a.sm.Exists(ctx, keyUser) {
		return
	}
	a.sm.SetDeadline(ctx, a.cfg.Now().Add(pendingLifetime))
}

// loadPending returns the unexpired attempts of the session, oldest first.
// An unreadable record counts as no attempts: it only ever holds short-lived
// state that a new sign-in recreates.
func (a *Auth) loadPending(ctx context.Context) []pendingSignIn {
	b, _ := a.sm.Get(ctx, keyPending).([]byte)
	list, ok := unmarshalPending(b)
	if !ok {
		return nil
	}
	now := a.cfg.Now()
	live := list[:0]
	for _, p := range list {
		if now.Sub(p.Created) < pendingLifetime && !p.Created.After(now.Add(time.Minute)) {
			live = append(live, p)
		}
	}
	return live
}

func (a *Auth) savePending(ctx context.Context, list []pendingSignIn) {
	if len(list) == 0 {
		a.sm.Remove(ctx, keyPending)
		return
	}
	a.sm.Put(ctx, keyPending, marshalPending(list))
}

// addPending stores p, dropping the oldest attempts beyond the bound.
func (a *Auth) addPending(ctx context.Context, p pendingSignIn) {
	list := append(a.loadPending(ctx), p)
	if len(list) > maxPendingSignIns {
		list = list[len(list)-maxPendingSignIns:]
	}
	a.savePending(ctx, list)
}

// takePending removes and returns the attempt with the given state, so a
// state value works once.
func (a *Auth) takePending(ctx context.Context, state string) (pendingSignIn, bool) {
	list := a.loadPending(ctx)
	for i, p := range list {
		if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) == 1 {
			rest := append(list[:i:i], list[i+1:]...)
			a.savePending(ctx, rest)
			return p, true
		}
	}
	return pendingSignIn{}, false
}

func marshalPending(list []pendingSignIn) []byte {
	b := []byte{recordVersion}
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, p := range list {
		b = appendBytes(b, p.State)
		b = appendBytes(b, p.Nonce)
		b = appendBytes(b, p.Verifier)
		b = appendBytes(b, p.ReturnTo)
		b = binary.AppendVarint(b, p.Created.Unix())
	}
	return b
}

func unmarshalPending(b []byte) ([]pendingSignIn, bool) {
	if len(b) == 0 || b[0] != recordVersion {
		return nil, false
	}
	r := reader{b: b[1:]}
	n := r.uvarint()
	if n > maxPendingSignIns*2 {
		return nil, false
	}
	list := make([]pendingSignIn, 0, n)
	for range n {
		list = append(list, pendingSignIn{
			State:    string(r.bytes()),
			Nonce:    string(r.bytes()),
			Verifier: string(r.bytes()),
			ReturnTo: string(r.bytes()),
			Created:  time.Unix(r.varint(), 0),
		})
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, false
	}
	return list, true
}

// completedSignIn records the state of the last finished callback and where
// it led, so that reloading that callback page takes a still signed-in user
// to the same place instead of an error.
func (a *Auth) markCompleted(ctx context.Context, state, returnTo string) {
	sum := sha256.Sum256([]byte(state))
	b := appendBytes(sum[:16:16], returnTo)
	a.sm.Put(ctx, keyDone, b)
}

// completedReturnTo returns the return-to of the last finished callback if
// state is its state.
func (a *Auth) completedReturnTo(ctx context.Context, state string) (string, bool) {
	b, _ := a.sm.Get(ctx, keyDone).([]byte)
	if len(b) < 16 {
		return "", false
	}
	sum := sha256.Sum256([]byte(state))
	if subtle.ConstantTimeCompare(b[:16], sum[:16]) != 1 {
		return "", false
	}
	r := reader{b: b[16:]}
	returnTo := string(r.bytes())
	if r.err != nil {
		return "", false
	}
	return returnTo, true
}
