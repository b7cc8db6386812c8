package latch

// Hostile OpenID providers and forged authorization responses, modelled on
// the OpenID Foundation's relying-party certification tests for the code
// flow (rp-id_token-*, rp-nonce-*, rp-key-rotation-*), RFC 9700 and
// RFC 9207. Cases already covered by idtoken_test.go and handlers_test.go
// are not repeated here.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkit/latch/internal/oidctest"
)

// wantRejected checks that a callback response refused the sign-in and
// that the browser is not signed in afterwards.
func wantRejected(t *testing.T, s *site, b *browser, r *response, status int, page, log string) {
	t.Helper()
	if r.StatusCode != status {
		t.Errorf("callback: status %d, want %d; body %.300s", r.StatusCode, status, r.body)
	}
	if page != "" {
		mustContain(t, "page", r.body, page)
	}
	if log != "" {
		mustContain(t, "log", s.logs.String(), log)
	}
	if got := b.get(s.srv.URL + "/private"); got.StatusCode != http.StatusFound {
		t.Errorf("GET /private after a rejected sign-in: status %d, want 302 to sign in", got.StatusCode)
	}
}

func TestAttackIDTokenClaims(t *testing.T) {
	now := func(s *site) int64 { return s.clock.Now().Unix() }
	tests := []struct {
		name   string
		edit   func(s *site, h, c map[string]any)
		accept bool
		reason string
	}{
		{"iss with a trailing slash", func(s *site, h, c map[string]any) { c["iss"] = s.idp.Issuer + "/" }, false, "different provider"},
		{"iss of another scheme", func(s *site, h, c map[string]any) { c["iss"] = strings.Replace(s.idp.Issuer, "http:", "https:", 1) }, false, "different provider"},
		{"iss as a list", func(s *site, h, c map[string]any) { c["iss"] = []string{s.idp.Issuer} }, false, "unmarshal"},
		{"iss null", func(s *site, h, c map[string]any) { c["iss"] = nil }, false, "different provider"},
		{"sub empty", func(s *site, h, c map[string]any) { c["sub"] = "" }, false, "sub claim"},
		{"sub null", func(s *site, h, c map[string]any) { c["sub"] = nil }, false, "sub claim"},
		{"sub as an object", func(s *site, h, c map[string]any) { c["sub"] = map[string]any{"id": "admin"} }, false, "unmarshal"},
		{"aud empty list", func(s *site, h, c map[string]any) { c["aud"] = []string{} }, false, "expected audience"},
		{"aud null", func(s *site, h, c map[string]any) { c["aud"] = nil }, false, "expected audience"},
		{"aud of the client in another case", func(s *site, h, c map[string]any) { c["aud"] = "CLIENT" }, false, "expected audience"},
		{"aud with the client and an untrusted party, azp this client", func(s *site, h, c map[string]any) {
			c["aud"] = []string{"other", "client"}
			c["azp"] = "client"
		}, false, "not trusted"},
		{"aud of another client with azp this client", func(s *site, h, c map[string]any) { c["aud"] = "other"; c["azp"] = "client" }, false, "expected audience"},
		{"azp as a number", func(s *site, h, c map[string]any) { c["azp"] = 7 }, false, "unmarshal"},
		{"azp empty", func(s *site, h, c map[string]any) { c["azp"] = "" }, false, "is not this client"},
		{"exp null", func(s *site, h, c map[string]any) { c["exp"] = nil }, false, "unmarshal"},
		{"exp zero", func(s *site, h, c map[string]any) { c["exp"] = 0 }, false, "expired"},
		{"exp negative", func(s *site, h, c map[string]any) { c["exp"] = -1 }, false, "expired"},
		{"exp as a fraction", func(s *site, h, c map[string]any) { c["exp"] = float64(now(s)) + 600.5 }, true, ""},
		{"exp as a boolean", func(s *site, h, c map[string]any) { c["exp"] = true }, false, "unmarshal"},
		{"exp one day ago", func(s *site, h, c map[string]any) { c["exp"] = now(s) - 86400 }, false, "expired"},
		{"iat null", func(s *site, h, c map[string]any) { c["iat"] = nil }, false, "unmarshal"},
		{"iat as a string", func(s *site, h, c map[string]any) { c["iat"] = "now" }, false, "unmarshal"},
		{"iat far in the future", func(s *site, h, c map[string]any) { c["iat"] = now(s) + 86400 }, false, "issued in the future"},
		{"nbf within the skew", func(s *site, h, c map[string]any) { c["nbf"] = now(s) + 30 }, true, ""},
		{"nbf in the past", func(s *site, h, c map[string]any) { c["nbf"] = now(s) - 60 }, true, ""},
		{"nbf far in the future", func(s *site, h, c map[string]any) { c["nbf"] = now(s) + 86400 }, false, "not valid before"},
		{"nonce empty", func(s *site, h, c map[string]any) { c["nonce"] = "" }, false, "nonce does not match"},
		{"nonce null", func(s *site, h, c map[string]any) { c["nonce"] = nil }, false, "nonce does not match"},
		{"nonce as a list", func(s *site, h, c map[string]any) { c["nonce"] = []string{c["nonce"].(string)} }, false, "unmarshal"},
		{"nonce with a suffix", func(s *site, h, c map[string]any) { c["nonce"] = c["nonce"].(string) + "x" }, false, "nonce does not match"},
		{"nonce truncated", func(s *site, h, c map[string]any) { n := c["nonce"].(string); c["nonce"] = n[:len(n)-1] }, false, "nonce does not match"},
		{"at_hash of another access token", func(s *site, h, c map[string]any) {
			sum := sha256.Sum256([]byte("other access token"))
			c["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
		}, false, "at_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			b := s.browser()
			s.idp.IDToken = func(h, c map[string]any) { tt.edit(s, h, c) }
			r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
			if tt.accept {
				r.expectStatus(t, http.StatusFound)
				b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)
				return
			}
			wantRejected(t, s, b, r, http.StatusBadGateway, "could not be verified", tt.reason)
		})
	}
}

func TestAttackIDTokenAdditionalAudience(t *testing.T) {
	s := newSite(t, func(c *Config) { c.AdditionalAudiences = []string{"api"} })
	tests := []struct {
		name   string
		aud    any
		azp    any
		accept bool
	}{
		{"trusted extra audience with azp", []string{"client", "api"}, "client", true},
		{"trusted extra audience without azp", []string{"client", "api"}, nil, false},
		{"trusted extra audience, azp of it", []string{"client", "api"}, "api", false},
		{"only the extra audience", "api", "client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser()
			s.idp.Mu.Lock()
			s.idp.IDToken = func(h, c map[string]any) {
				c["aud"] = tt.aud
				if tt.azp != nil {
					c["azp"] = tt.azp
				}
			}
			s.idp.Mu.Unlock()
			r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
			if tt.accept {
				r.expectStatus(t, http.StatusFound)
				return
			}
			wantRejected(t, s, b, r, http.StatusBadGateway, "could not be verified", "id token rejected")
		})
	}
}

// nonceOfOtherAttempt checks that the nonce is bound to the attempt that
// state names, not to any attempt of the browser: an ID token minted for
// one tab's sign-in is no good for another tab's.
func TestAttackNonceOfOtherAttempt(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	first := s.startSignIn(b, "")
	second := s.startSignIn(b, "")
	s.idp.IDToken = func(h, c map[string]any) { c["nonce"] = first.Query().Get("nonce") }
	r := b.get(s.authorize(b, second).String())
	wantRejected(t, s, b, r, http.StatusBadGateway, "", "nonce does not match")
}

// macToken signs header and claims with an HMAC key, as an attacker who
// has the client secret or the public key would.
func macToken(header, claims map[string]any, h func() hash.Hash, key []byte) string {
	hd, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(hd) + "." + base64.RawURLEncoding.EncodeToString(p)
	mac := hmac.New(h, key)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// reheader replaces the protected header of a compact token, keeping its
// payload and signature.
func reheader(token string, header map[string]any) string {
	hd, _ := json.Marshal(header)
	parts := strings.SplitN(token, ".", 2)
	return base64.RawURLEncoding.EncodeToString(hd) + "." + parts[1]
}

func TestAttackIDTokenSignatures(t *testing.T) {
	attacker := oidctest.New(t).AddKey(jose.RS256) // a fresh key pair, unlike the first key of every test provider
	tests := []struct {
		name string
		sign func(t *testing.T, own *oidctest.Key, h, c map[string]any) string
	}{
		{"alg None", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.Unsigned(c), map[string]any{"alg": "None", "kid": own.ID})
		}},
		{"alg nOnE", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.Unsigned(c), map[string]any{"alg": "nOnE"})
		}},
		{"alg none with the real signature", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"alg": "none", "kid": own.ID})
		}},
		{"alg empty", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"alg": "", "kid": own.ID})
		}},
		{"alg missing", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"kid": own.ID})
		}},
		{"HS384 with the client secret", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return macToken(map[string]any{"alg": "HS384", "kid": own.ID}, c, sha512.New384, []byte("secret"))
		}},
		{"HS512 with the client secret", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return macToken(map[string]any{"alg": "HS512"}, c, sha512.New, []byte("secret"))
		}},
		{"HS256 with the public key in PEM", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			der, err := x509.MarshalPKIXPublicKey(own.Private.Public())
			if err != nil {
				t.Fatal(err)
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return macToken(map[string]any{"alg": "HS256", "kid": own.ID}, c, sha256.New, pemKey)
		}},
		{"RS256 signature under a PS256 header", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"alg": "PS256", "kid": own.ID})
		}},
		{"RS256 signature under an ES256 header", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"alg": "ES256", "kid": own.ID})
		}},
		{"PS256 with an RS256 key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			// The key is published with "alg": "RS256", so a PS256
			// signature by it must not be accepted, valid as it is.
			return rawSign(t, jose.PS256, own.Private, map[string]any{"kid": own.ID}, c)
		}},
		{"kid path traversal", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attacker, map[string]any{"kid": "../../../../../../dev/null"}, c)
		}},
		{"kid SQL", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attacker, map[string]any{"kid": "x' UNION SELECT 'secret' --"}, c)
		}},
		{"kid with a NUL", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attacker, map[string]any{"kid": own.ID + "\x00"}, c)
		}},
		{"kid of 64 KiB", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attacker, map[string]any{"kid": strings.Repeat("k", 64<<10)}, c)
		}},
		{"kid as a number", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return reheader(oidctest.SignWith(own, h, c), map[string]any{"alg": "RS256", "kid": 1})
		}},
		{"kid empty, attacker key", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(attacker, map[string]any{"kid": ""}, c)
		}},
		{"crit with an unknown extension", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(own, map[string]any{"kid": own.ID, "crit": []string{"urn:example:must-understand"}, "urn:example:must-understand": true}, c)
		}},
		{"four parts", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			return oidctest.SignWith(own, h, c) + ".x"
		}},
		{"JSON serialization", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			parts := strings.Split(oidctest.SignWith(own, h, c), ".")
			j, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
			return string(j)
		}},
		{"signature of another token", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			other := map[string]any{"sub": "nobody"}
			sig := strings.Split(oidctest.SignWith(own, h, other), ".")[2]
			good := strings.Split(oidctest.SignWith(own, h, c), ".")
			return good[0] + "." + good[1] + "." + sig
		}},
		{"padded base64", func(t *testing.T, own *oidctest.Key, h, c map[string]any) string {
			// A decoder that ignored padding would let two encodings of
			// one token both pass; go-jose rejects the padded one.
			parts := strings.Split(oidctest.SignWith(own, h, c), ".")
			return parts[0] + "=." + parts[1] + "." + parts[2]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			own := s.idp.SigningKey()
			s.idp.SignIDToken = func(h, c map[string]any) string { return tt.sign(t, own, h, c) }
			b := s.browser()
			r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
			wantRejected(t, s, b, r, http.StatusBadGateway, "could not be verified", "id token rejected")
			if n := s.idp.JWKSRequests; n > 2 {
				t.Errorf("key set fetched %d times for one forged token, want at most 2", n)
			}
		})
	}
}

// TestAttackKeyWithoutAlg checks that a key published without "alg" verifies
// any algorithm of its type that the provider advertises, as RFC 7517
// allows, and no other type.
func TestAttackKeyWithoutAlg(t *testing.T) {
	idp := oidctest.New(t)
	s := newSiteFor(t, idp, nil)
	own := idp.SigningKey()
	idp.JWKS = func(w http.ResponseWriter, r *http.Request) bool {
		k := own.Public()
		k.Algorithm = ""
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
		return true
	}
	s.auth.oidc.keys.mu.Lock()
	s.auth.oidc.keys.fetchedAt = time.Time{} // fetch the edited set at the next unknown kid
	s.auth.oidc.keys.keys = nil
	s.auth.oidc.keys.mu.Unlock()

	idp.SignIDToken = func(h, c map[string]any) string {
		return rawSign(t, jose.PS256, own.Private, map[string]any{"kid": own.ID}, c)
	}
	b := s.browser()
	s.signIn(b)
	b.get(s.srv.URL+"/private").expectStatus(t, http.StatusOK)

	idp.SignIDToken = func(h, c map[string]any) string {
		return macToken(map[string]any{"alg": "HS256", "kid": own.ID}, c, sha256.New, []byte("secret"))
	}
	b = s.browser()
	r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
	wantRejected(t, s, b, r, http.StatusBadGateway, "", "id token rejected")
}

// newKeySetFor returns a key set reading idp's jwks_uri with a clock of its
// own, as discover builds it.
func newKeySetFor(t *testing.T, idp *oidctest.Provider, client *http.Client, c *clock) *keySet {
	t.Helper()
	k := &keySet{url: idp.Issuer + "/jwks", client: limitedClient(client), algs: signingAlgs, now: c.Now}
	if err := k.load(context.Background()); err != nil {
		t.Fatalf("loading the key set: %v", err)
	}
	return k
}

func jwksRequests(idp *oidctest.Provider) int {
	idp.Mu.Lock()
	defer idp.Mu.Unlock()
	return idp.JWKSRequests
}

func TestAttackKeyRefetchStorm(t *testing.T) {
	idp := oidctest.New(t)
	c := newClock()
	k := newKeySetFor(t, idp, idp.Client(), c)
	attacker := oidctest.New(t).AddKey(jose.RS256)
	claims := map[string]any{"sub": "x"}

	// 200 tokens with 200 different unknown key IDs, at once and after
	// the refetch interval: one fetch serves them all.
	c.Advance(keyRefetchInterval + time.Second)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			tok := oidctest.SignWith(attacker, map[string]any{"kid": fmt.Sprintf("forged-%d", i)}, claims)
			if _, err := k.VerifySignature(context.Background(), tok); err == nil {
				t.Errorf("token with unknown kid forged-%d verified", i)
			}
		})
	}
	wg.Wait()
	if n := jwksRequests(idp); n != 2 {
		t.Errorf("key set fetched %d times for 200 concurrent unknown key IDs, want 2 (start-up and one refetch)", n)
	}

	// Within the interval, more unknown key IDs fetch nothing.
	for i := range 50 {
		tok := oidctest.SignWith(attacker, map[string]any{"kid": fmt.Sprintf("later-%d", i)}, claims)
		if _, err := k.VerifySignature(context.Background(), tok); !errors.Is(err, errUnknownKey) {
			t.Errorf("VerifySignature with unknown kid later-%d = %v, want errUnknownKey", i, err)
		}
	}
	if n := jwksRequests(idp); n != 2 {
		t.Errorf("key set fetched %d times within the refetch interval, want still 2", n)
	}
}

func TestAttackKeySetFailures(t *testing.T) {
	huge := `{"keys":[],"pad":"` + strings.Repeat("x", maxProviderBody) + `"}`
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, own jose.JSONWebKey)
	}{
		{"server error", func(w http.ResponseWriter, own jose.JSONWebKey) {
			http.Error(w, "down", http.StatusInternalServerError)
		}},
		{"HTML", func(w http.ResponseWriter, own jose.JSONWebKey) { w.Write([]byte("<html>maintenance</html>")) }},
		{"huge", func(w http.ResponseWriter, own jose.JSONWebKey) { w.Write([]byte(huge)) }},
		{"empty set", func(w http.ResponseWriter, own jose.JSONWebKey) { w.Write([]byte(`{"keys":[]}`)) }},
		{"encryption keys only", func(w http.ResponseWriter, own jose.JSONWebKey) {
			own.Use = "enc"
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{own}})
		}},
		{"symmetric key", func(w http.ResponseWriter, own jose.JSONWebKey) {
			w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"` + own.KeyID + `","alg":"HS256"}]}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := oidctest.New(t)
			c := newClock()
			k := newKeySetFor(t, idp, idp.Client(), c)
			old := idp.SigningKey()
			next := idp.Rotate(false)
			idp.JWKS = func(w http.ResponseWriter, r *http.Request) bool {
				tt.answer(w, next.Public())
				return true
			}
			c.Advance(keyRefetchInterval + time.Second)
			tok := oidctest.SignWith(next, map[string]any{"kid": next.ID}, map[string]any{"sub": "x"})
			if _, err := k.VerifySignature(context.Background(), tok); err == nil {
				t.Errorf("token of a key the provider failed to publish verified")
			}
			// The keys from before the failure still work.
			tok = oidctest.SignWith(old, map[string]any{"kid": old.ID}, map[string]any{"sub": "x"})
			if _, err := k.VerifySignature(context.Background(), tok); err != nil {
				t.Errorf("token of the cached key after a failed refetch: %v", err)
			}
		})
	}
}

func TestAttackKeySetHangs(t *testing.T) {
	idp := oidctest.New(t)
	c := newClock()
	client := &http.Client{Timeout: 300 * time.Millisecond}
	k := newKeySetFor(t, idp, client, c)
	idp.JWKS = func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	}
	attacker := oidctest.New(t).AddKey(jose.RS256)
	c.Advance(keyRefetchInterval + time.Second)
	start := time.Now()
	_, err := k.VerifySignature(context.Background(), oidctest.SignWith(attacker, map[string]any{"kid": "new"}, map[string]any{"sub": "x"}))
	if err == nil {
		t.Fatal("VerifySignature against a hanging key set verified")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("VerifySignature against a hanging key set took %v, want it bounded by the 300ms client timeout", d)
	}
}

// TestAttackDiscovery runs New against providers served over https, so that
// no exception for plain http hides a downgrade.
func TestAttackDiscovery(t *testing.T) {
	tests := []struct {
		name string
		edit func(p *oidctest.Provider, doc map[string]any)
		want string // "" means New succeeds
	}{
		{"unchanged", func(p *oidctest.Provider, doc map[string]any) {}, ""},
		// Providers may serve endpoints from other hosts, as Google does;
		// the discovery document, fetched over https from the issuer, is
		// trusted to name them.
		{"token and UserInfo endpoints on another host", func(p *oidctest.Provider, doc map[string]any) {
			doc["token_endpoint"] = "https://tokens.example/token"
			doc["userinfo_endpoint"] = "https://userinfo.example/me"
		}, ""},
		{"issuer with a trailing slash", func(p *oidctest.Provider, doc map[string]any) { doc["issuer"] = p.Issuer + "/" }, "reports its issuer"},
		{"issuer over http", func(p *oidctest.Provider, doc map[string]any) {
			doc["issuer"] = strings.Replace(p.Issuer, "https:", "http:", 1)
		}, "reports its issuer"},
		{"issuer missing", func(p *oidctest.Provider, doc map[string]any) { delete(doc, "issuer") }, "reports its issuer"},
		{"token endpoint over http", func(p *oidctest.Provider, doc map[string]any) {
			doc["token_endpoint"] = strings.Replace(p.Issuer, "https:", "http:", 1) + "/token"
		}, "token_endpoint"},
		{"authorization endpoint over http", func(p *oidctest.Provider, doc map[string]any) {
			doc["authorization_endpoint"] = "http://evil.example/authorize"
		}, "authorization_endpoint"},
		{"jwks_uri over http", func(p *oidctest.Provider, doc map[string]any) { doc["jwks_uri"] = "http://evil.example/jwks" }, "jwks_uri"},
		{"userinfo over http", func(p *oidctest.Provider, doc map[string]any) {
			doc["userinfo_endpoint"] = "http://evil.example/userinfo"
		}, "userinfo_endpoint"},
		{"end session over http", func(p *oidctest.Provider, doc map[string]any) {
			doc["end_session_endpoint"] = "http://evil.example/logout"
		}, "end_session_endpoint"},
		{"end session as script", func(p *oidctest.Provider, doc map[string]any) { doc["end_session_endpoint"] = "javascript:alert(1)" }, "end_session_endpoint"},
		{"token endpoint without host", func(p *oidctest.Provider, doc map[string]any) { doc["token_endpoint"] = "https:///token" }, "token_endpoint"},
		{"token endpoint relative", func(p *oidctest.Provider, doc map[string]any) { doc["token_endpoint"] = "/token" }, "token_endpoint"},
		{"token endpoint missing", func(p *oidctest.Provider, doc map[string]any) { delete(doc, "token_endpoint") }, "token_endpoint"},
		{"token endpoint as a number", func(p *oidctest.Provider, doc map[string]any) { doc["token_endpoint"] = 1 }, "discovery"},
		{"none only", func(p *oidctest.Provider, doc map[string]any) {
			doc["id_token_signing_alg_values_supported"] = []string{"none"}
		}, "asymmetric"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := oidctest.NewTLS(t)
			idp.Discovery = func(doc map[string]any) { tt.edit(idp, doc) }
			a, err := New(context.Background(), Config{
				Issuer: idp.Issuer, ClientID: "client", BaseURL: "https://app.example",
				HTTPClient: idp.Client(), Logger: discardLogger(),
			})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New = %v, want success", err)
				}
				a.Close()
				return
			}
			if !errors.Is(err, ErrProvider) {
				t.Fatalf("New = %v, want an ErrProvider", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// tokenAnswer makes the provider's token endpoint respond with status and
// body instead of issuing tokens.
func tokenAnswer(status int, contentType, body string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write([]byte(body))
		return true
	}
}

func TestAttackTokenEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		token  func(w http.ResponseWriter, r *http.Request) bool
		status int
		log    string
	}{
		{"200 with an error", tokenAnswer(200, "application/json", `{"error":"invalid_grant"}`), http.StatusBadGateway, "code exchange failed"},
		{"200 empty", tokenAnswer(200, "application/json", ``), http.StatusBadGateway, "code exchange failed"},
		{"200 JSON array", tokenAnswer(200, "application/json", `[]`), http.StatusBadGateway, "code exchange failed"},
		{"200 HTML", tokenAnswer(200, "text/html", `<html><body>Welcome</body></html>`), http.StatusBadGateway, "sign-in failed"},
		{"200 form with an access token only", tokenAnswer(200, "application/x-www-form-urlencoded", `access_token=a&token_type=bearer`), http.StatusBadGateway, "no id_token"},
		{"id token as a number", tokenAnswer(200, "application/json", `{"access_token":"a","token_type":"Bearer","id_token":7}`), http.StatusBadGateway, "no id_token"},
		{"id token garbage", tokenAnswer(200, "application/json", `{"access_token":"a","token_type":"Bearer","id_token":"a.b.c"}`), http.StatusBadGateway, "id token rejected"},
		// oauth2 reads at most 1 MiB itself, so the JSON is cut short.
		{"huge body", tokenAnswer(200, "application/json", `{"access_token":"`+strings.Repeat("a", maxProviderBody)+`"}`), http.StatusBadGateway, "code exchange failed"},
		{"error with a huge description", tokenAnswer(400, "application/json", `{"error":"invalid_grant","error_description":"`+strings.Repeat("d", 100<<10)+`"}`), http.StatusBadGateway, "invalid_grant"},
		{"redirect elsewhere", func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, "http://127.0.0.1:1/token", http.StatusTemporaryRedirect)
			return true
		}, http.StatusBadGateway, "code exchange failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			s.idp.Token = tt.token
			b := s.browser()
			r := b.get(s.authorize(b, s.startSignIn(b, "")).String())
			wantRejected(t, s, b, r, tt.status, "", tt.log)
			if strings.Contains(s.logs.String(), "ddddddddddddddddddddd") {
				t.Errorf("log contains the token endpoint's error description")
			}
			if n := len(s.logs.String()); n > 8<<10 {
				t.Errorf("a failed sign-in wrote %d bytes of logs, want a few lines", n)
			}
		})
	}
}

// hang blocks a provider handler until the client gives up.
// hangSlack is how much longer than the client's timeout a request to a
// hanging endpoint may take in a test, on a machine busy with other tests.
const hangSlack = 5 * time.Second

func hang(w http.ResponseWriter, r *http.Request) bool {
	// The server notices a closed connection only once the body is read.
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
	return true
}

func TestAttackTokenEndpointHangs(t *testing.T) {
	const timeout = 500 * time.Millisecond
	idp := oidctest.New(t)
	s := newSiteFor(t, idp, func(c *Config) {
		c.HTTPClient = &http.Client{Timeout: timeout}
	})
	idp.Token = hang
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	start := time.Now()
	r := b.get(cb.String())
	elapsed := time.Since(start)
	// hang lasts 30 s, so the slack covers a busy machine and still
	// separates the client's timeout from the hang.
	if elapsed > timeout+hangSlack {
		t.Errorf("callback against a hanging token endpoint took %v, want it to end within the %v client timeout", elapsed, timeout)
	}
	wantRejected(t, s, b, r, http.StatusGatewayTimeout, "did not respond in time", "code exchange failed")

	api := s.browser()
	cb = s.authorize(api, s.startSignIn(api, ""))
	r = api.do(http.MethodGet, cb.String(), nil, http.Header{"Accept": {"application/json"}, "Sec-Fetch-Mode": {"cors"}})
	r.expectStatus(t, http.StatusGatewayTimeout)
	mustContain(t, "JSON body", r.body, `"error":"provider_timeout"`)
}

// TestAttackSlowProviderBounded checks that the provider's timeout bounds a
// whole sign-in, not each request to the provider: a slow token endpoint
// followed by a hanging UserInfo endpoint must not double the wait.
func TestAttackSlowProviderBounded(t *testing.T) {
	const timeout = time.Second
	idp := oidctest.New(t)
	s := newSiteFor(t, idp, func(c *Config) { c.HTTPClient = &http.Client{Timeout: timeout} })
	idp.Token = func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(timeout * 7 / 10)
		return false
	}
	idp.UserInfo = hang
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	start := time.Now()
	r := b.get(cb.String())
	if elapsed := time.Since(start); elapsed > timeout*3/2 {
		t.Errorf("sign-in with a slow token endpoint and a hanging UserInfo took %v, want at most about the %v timeout", elapsed, timeout)
	}
	// The ID token alone authenticates the user; UserInfo is optional.
	r.expectStatus(t, http.StatusFound)
	mustContain(t, "log", s.logs.String(), "userinfo request failed")
}

func TestProviderTimeout(t *testing.T) {
	for _, tt := range []struct {
		client *http.Client
		want   time.Duration
	}{
		{&http.Client{}, defaultProviderTimeout},
		{&http.Client{Timeout: 3 * time.Second}, 3 * time.Second},
		{&http.Client{Timeout: time.Hour}, time.Hour},
	} {
		if got := providerTimeout(tt.client); got != tt.want {
			t.Errorf("providerTimeout(client with timeout %v) = %v, want %v", tt.client.Timeout, got, tt.want)
		}
	}
}

func TestAttackUserInfo(t *testing.T) {
	tests := []struct {
		name     string
		userinfo func(w http.ResponseWriter, r *http.Request) bool
		wantName string
	}{
		{"other subject", func(w http.ResponseWriter, r *http.Request) bool {
			json.NewEncoder(w).Encode(map[string]any{"sub": "admin", "name": "Mallory"})
			return true
		}, "Ada Lovelace"},
		{"error echoing the token", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte("invalid token: " + r.Header.Get("Authorization")))
			return true
		}, "Ada Lovelace"},
		{"HTML", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>" + r.Header.Get("Authorization") + "</html>"))
			return true
		}, "Ada Lovelace"},
		{"huge", func(w http.ResponseWriter, r *http.Request) bool {
			w.Write([]byte(`{"sub":"user-1","pad":"` + strings.Repeat("x", maxProviderBody) + `"}`))
			return true
		}, "Ada Lovelace"},
		{"profile overriding the ID token", func(w http.ResponseWriter, r *http.Request) bool {
			json.NewEncoder(w).Encode(map[string]any{"sub": "user-1", "name": "Mallory", "email": "m@evil.example"})
			return true
		}, "Ada Lovelace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			s.idp.UserInfo = tt.userinfo
			b := s.browser()
			s.signIn(b)
			var name string
			s.srv.Config.Handler = s.auth.Wrap(s.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				u, _ := UserFrom(r.Context())
				name = u.Name
			})))
			b.get(s.srv.URL+"/x").expectStatus(t, http.StatusOK)
			if name != tt.wantName {
				t.Errorf("user name after a misbehaving UserInfo = %q, want %q from the ID token", name, tt.wantName)
			}
			tokens := currentTokens(t, s, b)
			if strings.Contains(s.logs.String(), tokens.AccessToken) {
				t.Errorf("log contains the access token:\n%s", s.logs.String())
			}
		})
	}
}

func TestAttackCallbackParameters(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(p *oidctest.Provider)
		query  func(q url.Values) url.Values
		status int
		log    string
	}{
		{"state too long", nil, func(q url.Values) url.Values { q.Set("state", strings.Repeat("s", maxCallbackParam+1)); return q }, 400, "too long"},
		{"state with a newline", nil, func(q url.Values) url.Values { q.Set("state", q.Get("state")+"\n"); return q }, 400, "outside printable ASCII"},
		{"state with non-ASCII", nil, func(q url.Values) url.Values { q.Set("state", q.Get("state")+"é"); return q }, 400, "outside printable ASCII"},
		{"state with a prefix of the real one", nil, func(q url.Values) url.Values { q.Set("state", q.Get("state")[:20]); return q }, 400, "matches no pending"},
		{"state empty", nil, func(q url.Values) url.Values { q.Set("state", ""); return q }, 400, "without state"},
		{"code repeated", nil, func(q url.Values) url.Values { q.Add("code", "second"); return q }, 400, "repeated"},
		{"code empty", nil, func(q url.Values) url.Values { q.Set("code", ""); return q }, 400, "without code"},
		{"iss repeated", func(p *oidctest.Provider) { p.SendIss = true }, func(q url.Values) url.Values { q.Add("iss", q.Get("iss")); return q }, 400, "repeated"},
		{"iss with a trailing slash", func(p *oidctest.Provider) { p.SendIss = true }, func(q url.Values) url.Values { q.Set("iss", q.Get("iss")+"/"); return q }, 400, "not the configured issuer"},
		{"iss empty though advertised", func(p *oidctest.Provider) { p.SendIss, p.AdvertiseIss = true, true }, func(q url.Values) url.Values { q.Set("iss", ""); return q }, 400, "lacks the iss"},
		{"iss wrong though not advertised", nil, func(q url.Values) url.Values { q.Set("iss", "https://evil.example"); return q }, 400, "not the configured issuer"},
		{"error response with a wrong iss", func(p *oidctest.Provider) { p.AuthorizeError = "access_denied"; p.SendIss = true },
			func(q url.Values) url.Values { q.Set("iss", "https://evil.example"); return q }, 400, "not the configured issuer"},
		{"error response without the advertised iss", func(p *oidctest.Provider) { p.AuthorizeError = "server_error"; p.AdvertiseIss = true },
			nil, 400, "lacks the iss"},
		{"error and code together", nil, func(q url.Values) url.Values { q.Set("error", "access_denied"); return q }, 403, "access_denied"},
		{"malformed query", nil, func(q url.Values) url.Values { return url.Values{"%zz": {"x"}} }, 400, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := oidctest.New(t)
			if tt.setup != nil {
				tt.setup(idp)
			}
			s := newSiteFor(t, idp, nil)
			b := s.browser()
			cb := s.authorize(b, s.startSignIn(b, ""))
			if tt.query != nil {
				cb.RawQuery = tt.query(cb.Query()).Encode()
				if tt.name == "malformed query" {
					cb.RawQuery = "state=%zz"
				}
			}
			r := b.get(cb.String())
			wantRejected(t, s, b, r, tt.status, "", tt.log)
			if n := s.idp.TokenRequests; n != 0 {
				t.Errorf("token requests = %d for a rejected authorization response, want 0", n)
			}
		})
	}
}

// TestAttackCodeInjection replays authorization codes into callbacks they
// were not issued for (RFC 9700 section 4.5).
func TestAttackCodeInjection(t *testing.T) {
	t.Run("attacker's code in the victim's callback", func(t *testing.T) {
		s := newSite(t, nil)
		attacker, victim := s.browser(), s.browser()
		stolen := s.authorize(attacker, s.startSignIn(attacker, "")).Query().Get("code")
		cb := s.authorize(victim, s.startSignIn(victim, ""))
		q := cb.Query()
		q.Set("code", stolen)
		cb.RawQuery = q.Encode()
		// The provider checks the code against the victim's PKCE
		// verifier, which the attacker's code was not issued for.
		r := victim.get(cb.String())
		wantRejected(t, s, victim, r, http.StatusBadGateway, "", "invalid_grant")
	})
	t.Run("code without PKCE binding, other nonce", func(t *testing.T) {
		// A provider that ignores PKCE leaves the nonce as the last line:
		// the code's ID token carries the attacker's nonce.
		s := newSite(t, nil)
		victim := s.browser()
		auth := s.startSignIn(victim, "")
		cb := s.authorize(victim, auth)
		verifier := pendingVerifier(t, s, victim, auth.Query().Get("state"))
		injected := s.idp.Code(s.srv.URL+"/callback", "attacker-nonce", verifier)
		q := cb.Query()
		q.Set("code", injected)
		cb.RawQuery = q.Encode()
		r := victim.get(cb.String())
		wantRejected(t, s, victim, r, http.StatusBadGateway, "", "nonce does not match")
	})
	t.Run("code for another redirect URI", func(t *testing.T) {
		s := newSite(t, nil)
		victim := s.browser()
		auth := s.startSignIn(victim, "")
		cb := s.authorize(victim, auth)
		verifier := pendingVerifier(t, s, victim, auth.Query().Get("state"))
		injected := s.idp.Code("https://other-client.example/callback", auth.Query().Get("nonce"), verifier)
		q := cb.Query()
		q.Set("code", injected)
		cb.RawQuery = q.Encode()
		r := victim.get(cb.String())
		wantRejected(t, s, victim, r, http.StatusBadGateway, "", "invalid_grant")
	})
	t.Run("callback URL finished in another browser", func(t *testing.T) {
		s := newSite(t, nil)
		attacker, victim := s.browser(), s.browser()
		cb := s.authorize(attacker, s.startSignIn(attacker, ""))
		attacker.get(cb.String()).expectStatus(t, http.StatusFound)
		r := victim.get(cb.String())
		wantRejected(t, s, victim, r, http.StatusBadRequest, "This sign-in has expired", "matches no pending")
	})
}

// pendingVerifier returns the PKCE verifier of the browser's attempt with
// the given state.
func pendingVerifier(t *testing.T, s *site, b *browser, state string) string {
	t.Helper()
	ctx, err := s.auth.sm.Load(context.Background(), s.sessionCookie(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.auth.loadPending(ctx) {
		if p.State == state {
			return p.Verifier
		}
	}
	t.Fatalf("no pending sign-in with state %q", state)
	return ""
}

func TestAttackRefreshResponses(t *testing.T) {
	attacker := oidctest.New(t).AddKey(jose.RS256)
	tests := []struct {
		name string
		// edit changes refreshed ID tokens; sign replaces their signing.
		edit func(s *site, h, c map[string]any)
		sign func(own *oidctest.Key, h, c map[string]any) string
	}{
		{"issuer changed", func(s *site, h, c map[string]any) { c["iss"] = "https://evil.example" }, nil},
		{"audience changed", func(s *site, h, c map[string]any) { c["aud"] = "other" }, nil},
		{"expired", func(s *site, h, c map[string]any) { c["exp"] = s.clock.Now().Unix() - 3600 }, nil},
		{"subject missing", func(s *site, h, c map[string]any) { delete(c, "sub") }, nil},
		{"unsigned", nil, func(own *oidctest.Key, h, c map[string]any) string { return oidctest.Unsigned(c) }},
		{"signature stripped", nil, func(own *oidctest.Key, h, c map[string]any) string {
			good := oidctest.SignWith(own, h, c)
			return good[:strings.LastIndex(good, ".")+1]
		}},
		{"signed by another key", nil, func(own *oidctest.Key, h, c map[string]any) string { return oidctest.SignWith(attacker, h, c) }},
		{"HS256 with the client secret", nil, func(own *oidctest.Key, h, c map[string]any) string {
			return macToken(map[string]any{"alg": "HS256", "kid": own.ID}, c, sha256.New, []byte("secret"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, nil)
			b := signedInWithShortTokens(t, s, time.Minute)
			own := s.idp.SigningKey()
			s.idp.Mu.Lock()
			// Sign-in ID tokens carry a nonce; refreshed ones do not.
			s.idp.IDToken = func(h, c map[string]any) {
				if _, signIn := c["nonce"]; !signIn && tt.edit != nil {
					tt.edit(s, h, c)
				}
			}
			if tt.sign != nil {
				s.idp.SignIDToken = func(h, c map[string]any) string { return tt.sign(own, h, c) }
			}
			s.idp.Mu.Unlock()
			s.clock.Advance(2 * time.Minute)
			b.get(s.srv.URL+"/private").expectStatus(t, http.StatusFound)
			mustContain(t, "log", s.logs.String(), "refreshed ID token rejected")
			if r := b.get(s.srv.URL + "/"); r.body != "home, anonymous" {
				t.Errorf("home after a forged refresh = %q, want anonymous", r.body)
			}
		})
	}
}

// TestAttackEndSessionState records the decision not to send state with
// RP-Initiated Logout: nothing at the post sign-out address acts on it (see
// SECURITY.md), so the request carries exactly the three parameters below.
func TestAttackEndSessionState(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	s.signIn(b)
	end := b.post(s.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther).location(t)
	q := end.Query()
	if len(q) != 3 || q.Get("client_id") == "" || q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") == "" {
		t.Errorf("end-session request parameters %v, want exactly client_id, id_token_hint and post_logout_redirect_uri", q)
	}
	tokens := q.Get("id_token_hint")
	// The landing page after sign-out is the application's; a forged
	// state there signs no one in and out of nothing.
	back := b.get(end.String()).expectStatus(t, http.StatusFound).location(t)
	if back.String() != s.srv.URL+"/" {
		t.Errorf("provider returns to %s, want the post sign-out URL", back)
	}
	if r := b.get(s.srv.URL + "/?state=forged"); r.body != "home, anonymous" {
		t.Errorf("post sign-out landing with a forged state = %q, want the anonymous home page", r.body)
	}
	if strings.Contains(s.logs.String(), tokens) {
		t.Error("log contains the id_token_hint")
	}
}

func TestAttackKeySetHangsAtSignIn(t *testing.T) {
	const timeout = 500 * time.Millisecond
	idp := oidctest.New(t)
	s := newSiteFor(t, idp, func(c *Config) { c.HTTPClient = &http.Client{Timeout: timeout} })
	idp.Rotate(true)
	s.clock.Advance(keyRefetchInterval + time.Second)
	idp.JWKS = hang
	b := s.browser()
	cb := s.authorize(b, s.startSignIn(b, ""))
	start := time.Now()
	r := b.get(cb.String())
	if elapsed := time.Since(start); elapsed > timeout+hangSlack {
		t.Errorf("callback against a hanging key set took %v, want it to end within the %v timeout", elapsed, timeout)
	}
	wantRejected(t, s, b, r, http.StatusGatewayTimeout, "did not respond in time", "id token not verified")
}
