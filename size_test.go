package latch

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// storedSize returns the encoded size of the session behind b's cookie.
func storedSize(t *testing.T, s *site, b *browser) int {
	t.Helper()
	ctx, err := s.auth.sm.Load(context.Background(), s.sessionCookie(b))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	for _, k := range s.auth.sm.Keys(ctx) {
		values[k] = s.auth.sm.Get(ctx, k)
	}
	enc, err := Codec{}.Encode(s.auth.sm.Deadline(ctx), values)
	if err != nil {
		t.Fatal(err)
	}
	return len(enc)
}

// TestSessionSizes checks the bound on a phone session and reports the
// size of OpenID Connect sessions, which depends on the provider's tokens.
func TestSessionSizes(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	ps.phoneSignIn(b, "13800138000").expectStatus(t, http.StatusSeeOther)
	phone := storedSize(t, ps.site, b)
	if phone > 1024 {
		t.Errorf("a phone-signed-in session takes %d bytes in the store, want at most 1024", phone)
	}
	t.Logf("phone session: %d bytes", phone)

	s := newSite(t, nil)
	// A Logto-like ID token carries the profile claims, and an access
	// token for an API resource is a JWT of similar size.
	s.idp.Claims["roles"] = []string{"admin", "editor"}
	ob := s.browser()
	s.signIn(ob)
	withTokens := storedSize(t, s, ob)
	ctx, _ := s.auth.sm.Load(context.Background(), s.sessionCookie(ob))
	tokens, _ := s.auth.sm.Get(ctx, keyTokens).([]byte)
	t.Logf("OpenID Connect session: %d bytes with tokens, %d bytes without (the token record is %d bytes)",
		withTokens, withTokens-len(tokens), len(tokens))
	if withTokens-len(tokens) > 2048 {
		t.Errorf("OpenID Connect session without tokens is %d bytes, want at most 2048", withTokens-len(tokens))
	}
}

// TestCookieStaysSmall checks that no cookie grows with the ID token:
// only the session token travels in the cookie.
func TestCookieStaysSmall(t *testing.T) {
	s := newSite(t, nil)
	s.idp.Claims["huge"] = strings.Repeat("x", 16<<10)
	b := s.browser()
	callback := s.authorize(b, s.startSignIn(b, ""))
	r := b.get(callback.String()).expectStatus(t, http.StatusFound)
	for _, c := range r.Header.Values("Set-Cookie") {
		if len(c) > 4096/16 {
			t.Errorf("Set-Cookie is %d bytes with a 16 KiB ID token: %.80s", len(c), c)
		}
	}
}
