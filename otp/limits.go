package otp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/latchkit/latch/store"
)

// refusal converts a refused reservation to a *LimitError.
func (s *Service) refusal(res store.Reservation, limits []store.Limit, names []Limit, now time.Time) *LimitError {
	e := &LimitError{RetryAt: res.RetryAt, RetryAfter: retryAfter(res.RetryAt, now)}
	switch res.Refused {
	case store.CheckBurnt:
		e.Limit = LimitAttempts
	case store.CheckCooldown:
		e.Limit = LimitCooldown
	default:
		for i, l := range limits {
			if l.Key == res.LimitKey {
				e.Limit = names[i]
			}
		}
		if e.Limit == "" {
			// A store that reports a key it was not given; still a refusal.
			e.Limit = Limit("store:" + res.LimitKey)
		}
	}
	return e
}

func (s *Service) logRefusal(ctx context.Context, e *LimitError, req IssueRequest, client string, now time.Time) {
	attrs := []slog.Attr{
		slog.String("limit", string(e.Limit)), slog.Any("phone", req.Phone),
		slog.String("region", req.Phone.Region()), slog.String("purpose", string(req.Purpose)),
		slog.String("client", client), slog.Time("retry_at", e.RetryAt),
	}
	level := slog.LevelDebug
	switch e.Limit {
	case LimitPrefixHourly, LimitCountryHourly, LimitGlobalDaily:
		// Signs of SMS pumping or an exhausted budget, which an operator
		// should see.
		level = slog.LevelWarn
	case LimitClientHourly:
		// Routine abuse, or every visitor sharing the address of a proxy
		// that the site does not list as trusted, which an operator should
		// be able to see.
		level = slog.LevelInfo
	}
	// At most one refusal a minute per limit is logged at that level,
	// because an attack repeats them on every request. The rest go to DEBUG.
	if level > slog.LevelDebug {
		if suppressed, ok := s.warnings.allow(e.Limit, now); ok {
			s.logger.LogAttrs(ctx, level, "otp: send limit reached",
				append(attrs, slog.Int("suppressed_since_last", suppressed))...)
			return
		}
	}
	s.logger.LogAttrs(ctx, slog.LevelDebug, "otp: send rejected by limit", attrs...)
}

// warnLimiter lets one warning per limit through per minute and counts
// the ones it holds back.
type warnLimiter struct {
	mu         sync.Mutex
	last       map[Limit]time.Time
	suppressed map[Limit]int
}

func (w *warnLimiter) allow(l Limit, now time.Time) (suppressed int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.suppressed == nil {
		w.suppressed = map[Limit]int{}
	}
	if last, seen := w.last[l]; seen && now.Sub(last) < time.Minute && now.Sub(last) >= 0 {
		w.suppressed[l]++
		return 0, false
	}
	suppressed = w.suppressed[l]
	w.last[l] = now
	w.suppressed[l] = 0
	return suppressed, true
}

// clientKey returns the per-client counter subject for ip: the address for
// IPv4, the /64 prefix for IPv6.
func clientKey(ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", ErrMissingClientIP
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String(), nil
	}
	prefix, err := ip.Prefix(64)
	if err != nil {
		return "", fmt.Errorf("otp: client IP: %w", err)
	}
	return prefix.String(), nil
}
