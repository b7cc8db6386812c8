package latch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keyRefetchInterval is the shortest time between two fetches of the
// provider's key set. A token signed with an unknown key ID triggers a
// fetch, so without this bound a stream of such tokens would turn into a
// stream of requests to the provider.
const keyRefetchInterval = 30 * time.Second

var (
	errUnknownKey   = errors.New("latch: id token signed with a key the provider does not publish")
	errBadSignature = errors.New("latch: id token signature is invalid")
)

// keySet is the provider's JSON Web Key Set, cached, and fetched again when
// a token names a key ID that the cache lacks, at most once per
// keyRefetchInterval. It implements go-oidc's KeySet. Keys come only from
// the provider's jwks_uri: jku, x5u and jwk header parameters of a token
// are ignored, as RFC 8725 section 3.10 advises.
type keySet struct {
	url    string
	client *http.Client
	algs   []jose.SignatureAlgorithm
	now    func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	inflight  *keyFetch
}

// keyFetch is one fetch of the key set that concurrent callers share.
type keyFetch struct {
	done chan struct{}
	keys []jose.JSONWebKey
	err  error
}

// VerifySignature implements go-oidc's KeySet. It accepts the JWS Compact
// Serialization only: RFC 7519 section 7.2 requires it of a JWT, and the
// JSON serialization would let unprotected header parameters, which no
// signature covers, choose the key.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("latch: malformed id token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("latch: id token has %d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID

	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()

	payload, found, err := verifyWithKeys(jws, keys, kid)
	if err == nil {
		return payload, nil
	}
	// A known key that fails is a bad signature, not a rotation: fetching
	// again would only let forged tokens drive requests to the provider.
	if found && kid != "" {
		return nil, err
	}

	keys, err = k.refetch(ctx)
	if err != nil {
		return nil, err
	}
	payload, _, err = verifyWithKeys(jws, keys, kid)
	return payload, err
}

// verifyWithKeys tries the keys that match kid (all signing keys when kid
// is empty). found reports whether any key matched kid.
func verifyWithKeys(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, found bool, err error) {
	alg := jws.Signatures[0].Header.Algorithm
	for i := range keys {
		key := &keys[i]
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != alg {
			continue
		}
		found = true
		if payload, err := jws.Verify(key); err == nil {
			return payload, true, nil
		}
	}
	if found {
		return nil, true, errBadSignature
	}
	return nil, false, errUnknownKey
}

// load fetches the key set now. New calls it so a wrong jwks_uri fails at
// start-up.
func (k *keySet) load(ctx context.Context) error {
	_, err := k.fetchShared(ctx)
	return err
}

// refetch fetches the key set again unless the last fetch is more recent
// than keyRefetchInterval, in which case the cached keys are final.
func (k *keySet) refetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	recent := k.inflight == nil && !k.fetchedAt.IsZero() && k.now().Sub(k.fetchedAt) < keyRefetchInterval
	keys := k.keys
	k.mu.Unlock()
	if recent {
		return keys, nil
	}
	return k.fetchShared(ctx)
}

// fetchShared starts a fetch, or joins the one in flight.
func (k *keySet) fetchShared(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		f = &keyFetch{done: make(chan struct{})}
		k.inflight = f
		// The fetch outlives a cancelled caller, because others may wait
		// for it; providerTimeout bounds it.
		go k.fetch(context.WithoutCancel(ctx), f)
	}
	k.mu.Unlock()

	select {
	case <-f.done:
		return f.keys, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (k *keySet) fetch(ctx context.Context, f *keyFetch) {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout(k.client))
	keys, err := k.download(ctx)
	cancel()

	k.mu.Lock()
	k.fetchedAt = k.now()
	if err == nil {
		k.keys = keys
	} else {
		keys = k.keys
	}
	k.inflight = nil
	k.mu.Unlock()

	f.keys, f.err = keys, err
	close(f.done)
}

func (k *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("latch: invalid jwks_uri %q: %w", k.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("latch: fetching the provider's keys from %s failed: %w", k.url, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("latch: reading the provider's keys from %s failed: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("latch: fetching the provider's keys from %s failed: %s", k.url, resp.Status)
	}
	return parseKeySet(body)
}

// parseKeySet decodes a JWK Set, keeping the public signing keys and
// skipping keys of types go-jose does not know, as a provider may publish
// encryption keys and newer key types beside its signing keys.
func parseKeySet(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("latch: the provider's key set is not a JWK Set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			continue
		}
		if (key.Use != "" && key.Use != "sig") || !key.IsPublic() || !key.Valid() {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("latch: the provider's key set has no usable public signing key")
	}
	return keys, nil
}
