package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/store"
)

// Defaults of [Options].
const (
	// DefaultKeyPrefix is the prefix of every key when Options.KeyPrefix is
	// empty.
	DefaultKeyPrefix = "latch:"

	// DefaultTimeout bounds each operation when Options.Timeout is zero.
	// Sign-in pages wait for the store, so a store that does not reply
	// within a couple of seconds is treated as down.
	DefaultTimeout = 2 * time.Second
)

// expiryGrace is added to every key's time to live. Expiry is judged by
// the time stored in each key, so the grace only delays deletion. It keeps
// keys for instances whose clocks lag the writer's by up to that much.
const expiryGrace = time.Minute

// Errors returned by this package. Operation errors wrap them, or wrap the
// error from go-redis, with %w.
var (
	// ErrInvalidOptions reports Options that New cannot use.
	ErrInvalidOptions = errors.New("store/redis: invalid options")

	// ErrConnect reports that New could not reach the server, authenticate
	// or select the database.
	ErrConnect = errors.New("store/redis: cannot connect")

	// ErrTimeout reports that the server did not reply within
	// Options.Timeout.
	ErrTimeout = errors.New("store/redis: timed out")
)

// Options configures [New].
type Options struct {
	// URL is the server's address, such as "redis://:password@host:6379/0"
	// or "rediss://" for TLS, in the form that go-redis's ParseURL accepts.
	// Set either URL or Client.
	URL string

	// Client is an existing go-redis client to use instead of URL. New
	// leaves its settings alone, and Close does not close it. Set
	// ContextTimeoutEnabled on it, or Timeout cannot interrupt a blocked
	// read, and MaxRetries to -1, because a retried script may run twice;
	// New logs a warning otherwise. A *goredis.ClusterClient or
	// *goredis.Ring needs a KeyPrefix with a hash tag; see KeyPrefix.
	Client goredis.UniversalClient

	// KeyPrefix is put before every key that the store writes, so that
	// several sites can share one database. Empty means DefaultKeyPrefix.
	// Every script touches several keys, which Redis Cluster requires to
	// be in one hash slot. On a cluster, use a prefix with a hash tag, such
	// as "{latch}:", which puts all of the store's keys in that one slot,
	// and so on one node.
	KeyPrefix string

	// Timeout bounds each operation, on top of the caller's context, so a
	// slow or unreachable server fails a request quickly. Zero means
	// DefaultTimeout; it must not be negative.
	Timeout time.Duration

	// Logger receives warnings about the configuration. Nil means
	// slog.Default().
	Logger *slog.Logger

	// Now returns the current time for the session store, which computes
	// each session's time to live from it. Nil means time.Now. The
	// store.Store methods take the time as an argument instead.
	Now func() time.Time
}

// Store keeps latch's state in Redis: the challenges and counters of
// package otp, and, through [Store.Sessions], the sessions of latch. It is
// safe for concurrent use, and any number of processes may share one
// server.
//
// Every operation of store.Store is one Lua script, so it is atomic and
// costs one round trip. Keys expire on their own through their time to
// live, a minute after the state they hold stops mattering.
type Store struct {
	client  goredis.UniversalClient
	owned   bool // Close closes client
	prefix  string
	timeout time.Duration
	target  string // server address for messages, without a password
	log     *slog.Logger
	now     func() time.Time
}

var _ store.Store = (*Store)(nil)

// New connects to the server, checks the connection with PING and loads
// the scripts. It returns an error wrapping ErrInvalidOptions for unusable
// Options and one wrapping ErrConnect, naming the server without its
// password, when the server cannot be reached or rejects the credentials.
// ctx bounds the connection check.
func New(ctx context.Context, opts Options) (*Store, error) {
	s := &Store{
		prefix:  opts.KeyPrefix,
		timeout: opts.Timeout,
		log:     opts.Logger,
		now:     opts.Now,
	}
	if s.prefix == "" {
		s.prefix = DefaultKeyPrefix
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("%w: Timeout is %s, want 0 (default) or more", ErrInvalidOptions, s.timeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}

	switch {
	case opts.URL != "" && opts.Client != nil:
		return nil, fmt.Errorf("%w: both URL and Client are set; set one", ErrInvalidOptions)
	case opts.Client != nil:
		s.client = opts.Client
		s.target = describeClient(opts.Client)
		if err := s.checkClient(opts.Client); err != nil {
			return nil, err
		}
	case opts.URL != "":
		client, target, err := newClient(opts.URL)
		if err != nil {
			return nil, err
		}
		s.client, s.owned, s.target = client, true, target
	default:
		return nil, fmt.Errorf("%w: URL and Client are both empty; set URL to the server's address, such as redis://127.0.0.1:6379/0",
			ErrInvalidOptions)
	}

	if err := s.connect(ctx); err != nil {
		if s.owned {
			_ = s.client.Close()
		}
		return nil, err
	}
	return s, nil
}

// newClient makes a client for rawURL with settings that suit the store:
// the context bounds every call, and nothing is retried.
func newClient(rawURL string) (goredis.UniversalClient, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, "", fmt.Errorf("%w: URL is not a valid URL: %v", ErrInvalidOptions, err)
	}
	u.RawQuery, u.Fragment = "", ""
	target := u.Redacted()

	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("%w: URL %s: %v; use redis://[user:password@]host:port/db or rediss:// for TLS",
			ErrInvalidOptions, target, err)
	}
	opt.ContextTimeoutEnabled = true
	// A script that ran before its connection broke would run again when
	// retried, charging counters twice or consuming a code twice.
	opt.MaxRetries = -1
	return goredis.NewClient(opt), target, nil
}

// checkClient rejects a cluster client without a hash tag in the prefix,
// and warns about settings that defeat Timeout or atomicity.
func (s *Store) checkClient(c goredis.UniversalClient) error {
	var timeouts bool
	var retries int
	switch c := c.(type) {
	case *goredis.Client:
		timeouts, retries = c.Options().ContextTimeoutEnabled, c.Options().MaxRetries
	case *goredis.ClusterClient:
		timeouts, retries = c.Options().ContextTimeoutEnabled, c.Options().MaxRetries
		if !hasHashTag(s.prefix) {
			return fmt.Errorf("%w: KeyPrefix %q has no hash tag, which a cluster client needs; use one such as \"{latch}:\"",
				ErrInvalidOptions, s.prefix)
		}
	case *goredis.Ring:
		timeouts, retries = true, c.Options().MaxRetries
		if !hasHashTag(s.prefix) {
			return fmt.Errorf("%w: KeyPrefix %q has no hash tag, which a ring client needs; use one such as \"{latch}:\"",
				ErrInvalidOptions, s.prefix)
		}
	default:
		return nil
	}
	if !timeouts {
		s.log.Warn("store/redis: the client has ContextTimeoutEnabled off, so Options.Timeout cannot interrupt a blocked read: set it on the client",
			"server", s.target)
	}
	if retries > 0 {
		s.log.Warn("store/redis: the client retries commands, so a script whose reply was lost may run twice: set MaxRetries to -1 on the client",
			"server", s.target, "max_retries", retries)
	}
	return nil
}

// hasHashTag reports whether every key that starts with prefix hashes by
// the same non-empty {tag}, as Redis Cluster defines hash tags.
func hasHashTag(prefix string) bool {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(prefix[open+1:], '}')
	return end > 0
}

func describeClient(c goredis.UniversalClient) string {
	switch c := c.(type) {
	case *goredis.Client:
		return c.Options().Addr + "/" + strconv.Itoa(c.Options().DB)
	case *goredis.ClusterClient:
		return "cluster " + strings.Join(c.Options().Addrs, ",")
	case *goredis.Ring:
		return "ring"
	}
	return fmt.Sprintf("%T", c)
}

// connect pings the server and loads the scripts, so that the first call
// of each operation costs one round trip like the others.
func (s *Store) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w to %s: %v; %s", ErrConnect, s.target, err, connectHint(err))
	}
	for _, script := range []*goredis.Script{reserveScript, releaseScript, verifyScript} {
		if err := script.Load(ctx, s.client).Err(); err != nil {
			return fmt.Errorf("%w to %s: load script: %v", ErrConnect, s.target, err)
		}
	}
	return nil
}

// connectHint returns what to check after a failed PING.
func connectHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"),
		strings.Contains(msg, "AUTH"), strings.Contains(msg, "NOPERM"):
		return "check the user name and password in the URL"
	case strings.Contains(msg, "DB index"), strings.Contains(msg, "SELECT"):
		return "check the database number in the URL"
	case errors.Is(err, context.DeadlineExceeded):
		return "the server did not reply in time: check the host, the port and any firewall between"
	}
	return "check the host and port in the URL and that the server is running"
}

// Close closes the connection pool if New made it from Options.URL. A
// caller's Options.Client is left open.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.client.Close()
}

// Client returns the go-redis client that the store uses.
func (s *Store) Client() goredis.UniversalClient { return s.client }

// op bounds ctx by the store's timeout for one operation.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// wrap names the failed operation. A timeout is reported as ErrTimeout
// when the store's own Timeout set the deadline of octx, the context of
// the call. When the deadline of the caller's context parent came first,
// the error wraps context.DeadlineExceeded instead, as the caller expects.
func (s *Store) wrap(parent, octx context.Context, op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		own, _ := octx.Deadline()
		callers, ok := parent.Deadline()
		if !ok || own.Before(callers) {
			return fmt.Errorf("%w: %s on %s: no reply within %s: %w", ErrTimeout, op, s.target, s.timeout, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("store/redis: %s on %s: %w: %w", op, s.target, context.DeadlineExceeded, err)
		}
	}
	return fmt.Errorf("store/redis: %s on %s: %w", op, s.target, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
