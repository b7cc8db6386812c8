package otp

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"time"

	"github.com/latchkit/latch/store"
)

// pseudonymDomain separates the MACs that name store keys from the MACs
// of codes (macDomain), which share the key.
const pseudonymDomain = "latch/otp/v1/store-key"

// pseudonym returns the name under which the store keeps a phone number,
// a number prefix or a client address: the HMAC-SHA256 of kind and value
// under the Service's key, truncated to 128 bits and hex-encoded. Whoever
// reads the store, its backups or its slow-query log learns neither the
// numbers nor the addresses, and cannot find them by hashing every number
// of a country, which an unkeyed hash would allow. Replicas that share
// Config.Key agree on the names; changing the key starts every counter
// and challenge afresh.
func (s *Service) pseudonym(kind, value string) string {
	var buf [96]byte
	msg := append(buf[:0], pseudonymDomain...)
	msg = append(msg, 0)
	msg = append(msg, kind...)
	msg = append(msg, 0)
	msg = append(msg, value...)

	h := s.macPool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	s.macPool.Put(h)
	return hex.EncodeToString(sum[:16])
}

// challengeKey returns the store key of the challenge for phone and
// purpose.
func (s *Service) challengeKey(p Phone, purpose Purpose) string {
	return "otp:code:" + string(purpose) + ":" + s.pseudonym("phone", p.E164())
}

// limitsFor returns the counters that a send to p for client charges, and
// the name of each.
func (s *Service) limitsFor(p Phone, client string) ([]store.Limit, []Limit) {
	e164 := p.E164()
	prefix := e164
	// Keep at least the country calling code and one digit.
	if keep := len(e164) - s.limits.PrefixDigitsDropped; keep >= 2+len(strconv.Itoa(p.CountryCode())) {
		prefix = e164[:keep]
	}
	country := s.limits.CountryHourly
	if n, ok := s.limits.CountryHourlyByRegion[p.Region()]; ok {
		country = n
	}
	phone := s.pseudonym("phone", e164)
	names := []Limit{LimitPhoneHourly, LimitPhoneDaily, LimitClientHourly, LimitPrefixHourly,
		LimitCountryHourly, LimitGlobalDaily}
	limits := []store.Limit{
		{Key: "otp:phone-hourly:" + phone, Max: int64(s.limits.PhoneHourly), Window: time.Hour},
		{Key: "otp:phone-daily:" + phone, Max: int64(s.limits.PhoneDaily), Window: 24 * time.Hour},
		{Key: "otp:client-hourly:" + s.pseudonym("client", client), Max: int64(s.limits.ClientHourly), Window: time.Hour},
		{Key: "otp:prefix-hourly:" + s.pseudonym("prefix", prefix), Max: int64(s.limits.PrefixHourly), Window: time.Hour},
		{Key: "otp:country-hourly:" + p.Region(), Max: int64(country), Window: time.Hour},
		{Key: "otp:global-daily", Max: int64(s.limits.GlobalDaily), Window: 24 * time.Hour},
	}
	return limits, names
}
