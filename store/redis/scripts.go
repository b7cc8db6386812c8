package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/store"
)

// Keys: a challenge is a hash under prefix+"challenge:"+key with the
// fields id, mac, expires, resend and left; a counter is a string under
// prefix+"counter:"+store.CounterKey. Times are Unix microseconds, which
// Lua's double-precision numbers hold exactly until the year 2255.
//
// Expiry is judged by the times stored in each key against the caller's
// now, passed as an argument, so the server's clock never decides it. The
// time to live of each key, computed from the same now, only removes keys
// after they stop mattering.

// reserveScript implements Store.Reserve.
//
// KEYS[1] is the challenge, KEYS[2..] the counters in the caller's order.
// ARGV: now, id, mac, expires, resend, attempts, challenge TTL in ms, then
// for each counter its max and its TTL in ms.
// Reply: {0, attempts left} when stored; {1, expires} when burnt;
// {2, resend} during the cooldown; {3, i} when counter i (from 1) is full.
var reserveScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local attempts = tonumber(ARGV[6])
local prev = redis.call('HMGET', KEYS[1], 'expires', 'resend', 'left')
local expires = tonumber(prev[1])
if expires and now < expires then
	local left = tonumber(prev[3])
	if left <= 0 then return {1, expires} end
	local resend = tonumber(prev[2])
	if now < resend then return {2, resend} end
	if left < attempts then attempts = left end
end
for i = 2, #KEYS do
	local count = tonumber(redis.call('GET', KEYS[i]) or '0')
	if count >= tonumber(ARGV[6 + 2 * (i - 1)]) then return {3, i - 1} end
end
for i = 2, #KEYS do
	redis.call('INCR', KEYS[i])
	redis.call('PEXPIRE', KEYS[i], ARGV[7 + 2 * (i - 1)])
end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'mac', ARGV[3], 'expires', ARGV[4], 'resend', ARGV[5], 'left', attempts)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {0, attempts}
`)

// releaseScript implements Store.Release.
//
// KEYS[1] is the challenge, KEYS[2..] the counters to refund whose window
// is still open. ARGV: challenge ID, now.
var releaseScript = goredis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'id', 'resend')
if c[1] == ARGV[1] and tonumber(ARGV[2]) < tonumber(c[2]) then
	redis.call('HSET', KEYS[1], 'resend', ARGV[2])
end
for i = 2, #KEYS do
	local count = tonumber(redis.call('GET', KEYS[i]))
	if count and count > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
`)

// verifyScript implements Store.Verify.
//
// KEYS[1] is the challenge. ARGV: now, mac.
// Reply: {0} not found; {1} match; {2, attempts left, expires} mismatch;
// {3, expires} burnt.
//
// The MACs are compared with Lua's ==, which is not constant-time. The
// timing reveals at most how much of the stored MAC matches the MAC of a
// guessed code. Both are HMACs under a key that the guesser lacks, so the
// timing reveals nothing about the code.
var verifyScript = goredis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'mac', 'expires', 'left')
local expires = tonumber(c[2])
if not expires then return {0} end
if tonumber(ARGV[1]) >= expires then
	redis.call('DEL', KEYS[1])
	return {0}
end
local left = tonumber(c[3])
if left <= 0 then return {3, expires} end
if c[1] == ARGV[2] then
	redis.call('DEL', KEYS[1])
	return {1}
end
left = redis.call('HINCRBY', KEYS[1], 'left', -1)
return {2, left, expires}
`)

// Reply codes of reserveScript.
const (
	reserveStored   = 0
	reserveBurnt    = 1
	reserveCooldown = 2
	reserveLimit    = 3
)

// Reply codes of verifyScript.
const (
	verifyNotFound = 0
	verifyMatch    = 1
	verifyMismatch = 2
	verifyBurnt    = 3
)

func (s *Store) challengeKey(key string) string { return s.prefix + "challenge:" + key }

func (s *Store) counterKey(l store.Limit, t time.Time) string {
	return s.prefix + "counter:" + store.CounterKey(l, t)
}

// Reserve implements [store.Store.Reserve] in one script run.
func (s *Store) Reserve(ctx context.Context, key string, c store.Challenge, limits []store.Limit, now time.Time) (store.Reservation, error) {
	if err := ctx.Err(); err != nil {
		return store.Reservation{}, s.wrap(ctx, ctx, "reserve", err)
	}
	if err := store.ValidateReserve(key, c, limits, now); err != nil {
		return store.Reservation{}, err
	}
	keys := make([]string, 1, 1+len(limits))
	keys[0] = s.challengeKey(key)
	args := make([]any, 0, 7+2*len(limits))
	args = append(args, now.UnixMicro(), c.ID, c.MAC, c.ExpiresAt.UnixMicro(), c.ResendAt.UnixMicro(),
		c.Attempts, ttlMillis(c.ExpiresAt, now))
	for _, l := range limits {
		_, end := store.Window(now, l.Window)
		keys = append(keys, s.counterKey(l, now))
		args = append(args, l.Max, ttlMillis(end, now))
	}

	octx, cancel := s.op(ctx)
	defer cancel()
	reply, err := reserveScript.Run(octx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return store.Reservation{}, s.wrap(ctx, octx, "reserve", err)
	}
	if len(reply) != 2 {
		return store.Reservation{}, s.badReply("reserve", reply)
	}
	switch reply[0] {
	case reserveStored:
		return store.Reservation{AttemptsLeft: int(reply[1])}, nil
	case reserveBurnt:
		return store.Reservation{Refused: store.CheckBurnt, RetryAt: fromMicros(reply[1])}, nil
	case reserveCooldown:
		return store.Reservation{Refused: store.CheckCooldown, RetryAt: fromMicros(reply[1])}, nil
	case reserveLimit:
		i := int(reply[1]) - 1
		if i < 0 || i >= len(limits) {
			return store.Reservation{}, s.badReply("reserve", reply)
		}
		_, end := store.Window(now, limits[i].Window)
		return store.Reservation{Refused: store.CheckLimit, LimitKey: limits[i].Key, RetryAt: end}, nil
	}
	return store.Reservation{}, s.badReply("reserve", reply)
}

// Release implements [store.Store.Release] in one script run.
func (s *Store) Release(ctx context.Context, key, challengeID string, refunds []store.Limit, reservedAt, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return s.wrap(ctx, ctx, "release", err)
	}
	if err := store.ValidateRelease(key, challengeID, refunds); err != nil {
		return err
	}
	keys := make([]string, 1, 1+len(refunds))
	keys[0] = s.challengeKey(key)
	for _, l := range refunds {
		// A counter whose window has ended no longer limits anything.
		if _, end := store.Window(reservedAt, l.Window); now.Before(end) {
			keys = append(keys, s.counterKey(l, reservedAt))
		}
	}

	octx, cancel := s.op(ctx)
	defer cancel()
	if err := releaseScript.Run(octx, s.client, keys, challengeID, now.UnixMicro()).Err(); err != nil {
		return s.wrap(ctx, octx, "release", err)
	}
	return nil
}

// Verify implements [store.Store.Verify] in one script run.
func (s *Store) Verify(ctx context.Context, key string, mac []byte, now time.Time) (store.VerifyResult, error) {
	if err := ctx.Err(); err != nil {
		return store.VerifyResult{}, s.wrap(ctx, ctx, "verify", err)
	}
	if key == "" {
		return store.VerifyResult{}, fmt.Errorf("%w: empty key", store.ErrInvalidArgument)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	reply, err := verifyScript.Run(octx, s.client, []string{s.challengeKey(key)}, now.UnixMicro(), mac).Int64Slice()
	if err != nil {
		return store.VerifyResult{}, s.wrap(ctx, octx, "verify", err)
	}
	switch {
	case len(reply) == 1 && reply[0] == verifyNotFound:
		return store.VerifyResult{Outcome: store.NotFound}, nil
	case len(reply) == 1 && reply[0] == verifyMatch:
		return store.VerifyResult{Outcome: store.Match}, nil
	case len(reply) == 3 && reply[0] == verifyMismatch:
		return store.VerifyResult{Outcome: store.Mismatch, AttemptsLeft: int(reply[1]), ExpiresAt: fromMicros(reply[2])}, nil
	case len(reply) == 2 && reply[0] == verifyBurnt:
		return store.VerifyResult{Outcome: store.Burnt, ExpiresAt: fromMicros(reply[1])}, nil
	}
	return store.VerifyResult{}, s.badReply("verify", reply)
}

func (s *Store) badReply(op string, reply []int64) error {
	return fmt.Errorf("store/redis: %s on %s: unexpected script reply %v", op, s.target, reply)
}

// ttlMillis returns the time to live, in whole milliseconds rounded up,
// of a key whose state stops mattering at until, plus expiryGrace.
func ttlMillis(until, now time.Time) int64 {
	d := until.Sub(now) + expiryGrace
	return max(1, (d.Nanoseconds()+int64(time.Millisecond)-1)/int64(time.Millisecond))
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
