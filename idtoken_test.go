package latch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkit/latch/internal/oidctest"
)

// signInWithToken runs a sign-in in which edit changes the ID token, and
// returns the callback's response.
func signInWithToken(t *testing.T, s *site, edit func(header, claims map[string]any)) *response {
	t.Helper()
	s.idp.Mu.Lock()
	s.idp.IDToken = edit
	s.idp.Mu.Unlock()
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	return b.get(cb.String())
}

func TestIDTokenClaims(t *testing.T) {
	now := func(s *site) int64 { return s.clock.Now().Unix() }
	tests := []struct {
		name   string
		edit   func(s *site, h, c map[string]any)
		accept bool
		reason string
	}{
		{"unchanged", func(s *site, h, c map[string]any) {}, true, ""},
		{"wrong issuer", func(s *site, h, c map[string]any) { c["iss"] = "https://evil.example" }, false, "issued by a different provider"},
		{"issuer missing", func(s *site, h, c map[string]any) { delete(c, "iss") }, false, "different provider"},
		{"issuer wrong type", func(s *site, h, c map[string]any) { c["iss"] = 7 }, false, "unmarshal"},
		{"wrong audience", func(s *site, h, c map[string]any) { c["aud"] = "other-client" }, false, "expected audience"},
		{"audience missing", func(s *site, h, c map[string]any) { delete(c, "aud") }, false, "expected audience"},
		{"audience wrong type", func(s *site, h, c map[string]any) { c["aud"] = 42 }, false, "unmarshal"},
		{"extra audience", func(s *site, h, c map[string]any) { c["aud"] = []string{"client", "other"} }, false, "audience"},
		{"extra audience with azp", func(s *site, h, c map[string]any) { c["aud"] = []string{"client", "other"}; c["azp"] = "client" }, false, "not trusted"},
		{"azp of another client", func(s *site, h, c map[string]any) { c["azp"] = "other" }, false, "is not this client"},
		{"azp of this client", func(s *site, h, c map[string]any) { c["azp"] = "client" }, true, ""},
		{"audience list of one", func(s *site, h, c map[string]any) { c["aud"] = []string{"client"} }, true, ""},
		{"expired beyond skew", func(s *site, h, c map[string]any) { c["exp"] = now(s) - 120 }, false, "expired"},
		{"expired within skew", func(s *site, h, c map[string]any) { c["exp"] = now(s) - 30 }, true, ""},
		{"exp missing", func(s *site, h, c map[string]any) { delete(c, "exp") }, false, "no exp"},
		{"exp wrong type", func(s *site, h, c map[string]any) { c["exp"] = "tomorrow" }, false, "unmarshal"},
		{"issued in the future", func(s *site, h, c map[string]any) { c["iat"] = now(s) + 300 }, false, "issued in the future"},
		{"issued slightly ahead", func(s *site, h, c map[string]any) { c["iat"] = now(s) + 30 }, true, ""},
		{"iat missing", func(s *site, h, c map[string]any) { delete(c, "iat") }, false, "no iat"},
		{"not yet valid", func(s *site, h, c map[string]any) { c["nbf"] = now(s) + 300 }, false, "not valid before"},
		{"nbf wrong type", func(s *site, h, c map[string]any) { c["nbf"] = "soon" }, false, "unmarshal"},
		{"nonce missing", func(s *site, h, c map[string]any) { delete(c, "nonce") }, false, "nonce does not match"},
		{"nonce wrong", func(s *site, h, c map[string]any) { c["nonce"] = "replayed" }, false, "nonce does not match"},
		{"nonce wrong type", func(s *site, h, c map[string]any) { c["nonce"] = 1 }, false, "unmarshal"},
		{"sub missing", func(s *site, h, c map[string]any) { delete(c, "sub") }, false, "sub claim"},
		{"sub wrong type", func(s *site, h, c map[string]any) { c["sub"] = 123 }, false, "unmarshal"},
		{"sub too long", func(s *site, h, c map[string]any) { c["sub"] = strings.Repeat("s", 256) }, false, "longer than 255"},
		{"at_hash mismatch", func(s *site, h, c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, false, "at_hash"},
		{"email_verified as string", func(s *site, h, c map[string]any) { c["email_verified"] = "true" }, true, ""},
		{"email_verified odd", func(s *site, h, c map[string]any) { c["email_verified"] = "yes" }, false, "not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			r := signInWithToken(t, s, func(h, c map[string]any) { tt.edit(s, h, c) })
			if tt.accept {
				r.expectStatus(t, http.StatusFound)
				return
			}
			r.expectStatus(t, http.StatusBadGateway)
			mustContain(t, "page", r.body, "could not be verified")
			mustContain(t, "log", s.logs.String(), "latch: sign-in failed", tt.reason)
			s.browser().get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
		})
	}
}

// rawSign signs an arbitrary header and payload with key, as a hostile
// provider or a man in the middle could.
func rawSign(t *testing.T, alg jose.SignatureAlgorithm, key any, header map[string]any, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		if k != "alg" {
			opts = opts.WithHeader(jose.HeaderKey(k), v)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("NewSigner(%s): %v", alg, err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestIDTokenSignatures(t *testing.T) {
	attackerKey := oidctest.New(t).AddKey(jose.RS256) // a fresh key pair, unlike the first key of every test provider
	var attackerHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{attackerKey.Public()}})
	}))
	defer evil.Close()

	tests := []struct {
		name string
		sign func(t *testing.T, own *oidctest.Key, h, c map[string]any) string
	}{
		{"payload tampered", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			good := oidctest.SignWith(own, h, c)
			parts := strings.Split(good, ".")
			c["sub"] = "admin"
			p, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}},
		{"signature stripped", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			good := oidctest.SignWith(own, h, c)
			return good[:strings.LastIndex(good, ".")+1]
		}},
		{"alg none", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string { return oidctest.Unsigned(c) }},
		{"HS256 with the client secret", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			hd, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": own.ID})
			p, _ := json.Marshal(c)
			in := base64.RawURLEncoding.EncodeToString(hd) + "." + base64.RawURLEncoding.EncodeToString(p)
			mac := hmac.New(sha256.New, []byte("secret"))
			mac.Write([]byte(in))
			return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}},
		{"HS256 with the public key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			pub, _ := own.Public().MarshalJSON()
			return rawSign(t, jose.HS256, pub, map[string]any{"kid": own.ID}, c)
		}},
		{"unknown key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attackerKey, map[string]any{"kid": attackerKey.ID}, c)
		}},
		{"known kid, other key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attackerKey, map[string]any{"kid": own.ID}, c)
		}},
		{"embedded jwk", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			k := attackerKey
			return rawSign(t, jose.RS256, k.Private, map[string]any{"jwk": k.Public(), "kid": k.ID}, c)
		}},
		{"jku elsewhere", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			k := attackerKey
			return rawSign(t, jose.RS256, k.Private, map[string]any{"jku": evil.URL, "kid": k.ID}, c)
		}},
		{"x5u elsewhere", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			k := attackerKey
			return rawSign(t, jose.RS256, k.Private, map[string]any{"x5u": evil.URL, "kid": k.ID}, c)
		}},
		{"no kid, other key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return rawSign(t, jose.RS256, attackerKey.Private, nil, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			own := s.idp.SigningKey()
			s.idp.SignIDToken = func(h, c map[string]any) string { return tt.sign(t, own, h, c) }
			b := s.browser()
			r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
			r.expectStatus(t, http.StatusBadGateway)
			mustContain(t, "log", s.logs.String(), "id token rejected")
			b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the key URL named in token headers was fetched %d times, want never", n)
	}
}

func TestIDTokenOtherAlgorithms(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			idp := oidctest.New(t)
			k := idp.AddKey(alg)
			s := newSiteFor(t, idp, nil)
			idp.SignIDToken = func(h, c map[string]any) string {
				h["kid"] = k.ID
				return rawSign(t, alg, k.Private, h, c)
			}
			b := s.browser()
			s.signIn(b)
			b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
		})
	}
}

func TestIDTokenAlgorithmNotAdvertised(t *testing.T) {
	idp := oidctest.New(t)
	idp.Discovery = func(doc map[string]any) { doc["id_token_signing_alg_values_supported"] = []string{"ES256"} }
	k := idp.AddKey(jose.ES256)
	s := newSiteFor(t, idp, nil)
	_ = k
	// RS256 tokens from this provider are refused: it promised ES256 only.
	b := s.browser()
	b.get(s.authorize(b, s.startSignIn(b, "")).String()).expectStatus(t, http.StatusBadGateway)
}

func TestKeyRotation(t *testing.T) {
	s := newSite(t, nil)
	if s.idp.JWKSRequests != 1 {
		t.Fatalf("key set fetched %d times by New, want 1", s.idp.JWKSRequests)
	}
	s.idp.Rotate(true)

	// Within the refetch interval of the fetch at start-up, a new key ID
	// fails, and tokens naming it do not make latch fetch again.
	for range 5 {
		b := s.browser()
		b.get(s.authorize(b, s.startSignIn(b, "")).String()).expectStatus(t, http.StatusBadGateway)
	}
	if s.idp.JWKSRequests != 1 {
		t.Errorf("key set fetched %d times during the refetch interval, want 1", s.idp.JWKSRequests)
	}

	s.clock.Advance(keyRefetchInterval + time.Second)
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
	if s.idp.JWKSRequests != 2 {
		t.Errorf("key set fetched %d times after rotation, want 2", s.idp.JWKSRequests)
	}

	// A forged token naming the new, known key ID does not cause a fetch.
	attackerKey := oidctest.New(t).AddKey(jose.RS256) // a fresh key pair, unlike the first key of every test provider
	s.clock.Advance(keyRefetchInterval + time.Second)
	s.idp.SignIDToken = func(h, c map[string]any) string { return oidctest.SignWith(attackerKey, h, c) }
	b = s.browser()
	b.get(s.authorize(b, s.startSignIn(b, "")).String()).expectStatus(t, http.StatusBadGateway)
	if s.idp.JWKSRequests != 2 {
		t.Errorf("key set fetched %d times after a bad signature with a known kid, want still 2", s.idp.JWKSRequests)
	}
}

func TestKeyRefetchConcurrent(t *testing.T) {
	s := newSite(t, nil)
	s.idp.Rotate(true)
	s.clock.Advance(keyRefetchInterval + time.Second)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			b := s.browser()
			s.signIn(b)
		}()
	}
	for range 8 {
		<-done
	}
	if s.idp.JWKSRequests != 2 {
		t.Errorf("key set fetched %d times for 8 concurrent sign-ins after rotation, want 2", s.idp.JWKSRequests)
	}
}
