package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latchkit/latch/store"
)

// Defaults of [Options].
const (
	// DefaultTablePrefix starts the name of every table and function when
	// Options.TablePrefix is empty.
	DefaultTablePrefix = "latch_"

	// DefaultTimeout bounds each operation when Options.Timeout is zero.
	// Sign-in pages wait for the store, so a store that does not reply
	// within a couple of seconds is treated as down.
	DefaultTimeout = 2 * time.Second

	// DefaultCleanupInterval is the time between two runs of the
	// background cleaner when Options.CleanupInterval is zero.
	DefaultCleanupInterval = time.Minute

	// DefaultCleanupBatch is the number of rows that one DeleteExpired
	// call of the background cleaner deletes at most from each table,
	// when Options.CleanupBatch is zero.
	DefaultCleanupBatch = 1000
)

// cancelWait is the time, after a call's deadline, that the server gets
// to confirm that it cancelled the statement before the connection is
// dropped. Without the cancel request, a statement waiting for a lock
// would run after its caller had given up, consuming a code or charging
// a counter for a request that reported a failure.
const cancelWait = 250 * time.Millisecond

// expiryGrace delays the deletion of expired rows. Expiry is judged by the
// time stored in each row, so the grace only keeps dead rows a little
// longer. It spares the rows of instances whose clocks lag the cleaner's
// by up to that much.
const expiryGrace = time.Minute

// Errors returned by this package. Operation errors wrap them, or wrap the
// error from pgx, with %w.
var (
	// ErrInvalidOptions reports Options that New cannot use.
	ErrInvalidOptions = errors.New("store/postgres: invalid options")

	// ErrConnect reports that New could not reach the server, log in or
	// open the database.
	ErrConnect = errors.New("store/postgres: cannot connect")

	// ErrTimeout reports that the server did not reply within
	// Options.Timeout.
	ErrTimeout = errors.New("store/postgres: timed out")

	// ErrSchemaMissing reports that the tables or functions of the store
	// do not exist: run Store.Migrate, or apply schema.sql.
	ErrSchemaMissing = errors.New("store/postgres: schema missing")
)

// Options configures [New].
type Options struct {
	// URL is the database's address, a "postgres://" URL or a keyword/value
	// connection string, in any form that pgx accepts. Set either URL or
	// Pool.
	URL string

	// Pool is an existing pgx pool to use instead of URL. Close does not
	// close it. Give its connections a
	// pgconn.CancelRequestContextWatcherHandler, as New does for a URL,
	// so that the server stops a statement whose call timed out. With
	// pgx's default handler, a statement that waits for a lock can still
	// run after its call returned an error.
	Pool *pgxpool.Pool

	// Schema is the schema of the store's tables and functions. Empty
	// means the connection's search_path, usually "public". It must be a
	// plain identifier: a letter or underscore, then letters, digits or
	// underscores, at most 63 bytes.
	Schema string

	// TablePrefix starts the name of every table, index and function of
	// the store, so that several sites can share one schema. Empty means
	// DefaultTablePrefix. It follows the rules of Schema, and the longest
	// name it starts, the prefix plus "challenges_expires_at_idx", must
	// fit in 63 bytes.
	TablePrefix string

	// Timeout bounds each operation, on top of the caller's context, so a
	// slow or unreachable server fails a request quickly. A call that
	// times out returns within a quarter second more, while the server
	// confirms the cancellation. Zero means DefaultTimeout; it must not
	// be negative.
	Timeout time.Duration

	// CleanupInterval is the time between two runs of the background
	// cleaner, which deletes expired rows in batches; see
	// Store.DeleteExpired. Zero means DefaultCleanupInterval. A negative
	// value starts no cleaner, for sites that call DeleteExpired
	// themselves. Every instance may run a cleaner: batches skip rows
	// that another transaction holds.
	CleanupInterval time.Duration

	// CleanupBatch is the maximum number of rows that one DeleteExpired
	// call of the cleaner deletes from each table. The cleaner repeats
	// full batches, up to 100 in a run. Zero means DefaultCleanupBatch.
	CleanupBatch int

	// Logger receives the cleaner's failures. Nil means slog.Default().
	Logger *slog.Logger

	// Now returns the current time for the session store and the cleaner.
	// Nil means time.Now. The store.Store methods take the time as an
	// argument instead.
	Now func() time.Time
}

// Store keeps latch's state in PostgreSQL: the challenges and counters of
// package otp, and, through [Store.Sessions], the sessions of latch. It is
// safe for concurrent use, and any number of processes may share one
// database.
//
// Each store.Store operation is one statement, a call of a PL/pgSQL
// function that [Store.Migrate] creates, so it is atomic and costs one
// round trip. Expired rows are deleted by a background cleaner, or by
// calls of [Store.DeleteExpired].
type Store struct {
	pool    *pgxpool.Pool
	owned   bool // Close closes pool
	names   names
	sql     statements
	timeout time.Duration
	target  string // server address for messages, without a password
	log     *slog.Logger
	now     func() time.Time

	batch     int
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// New connects to the database and checks the connection. It does not
// create the tables: call [Store.Migrate] once, or apply schema.sql. It
// starts the background cleaner unless Options.CleanupInterval is
// negative; [Store.Close] stops it.
//
// New returns an error wrapping ErrInvalidOptions for unusable Options and
// one wrapping ErrConnect, naming the server without its password, when
// the database cannot be reached or rejects the login. ctx bounds the
// connection check.
func New(ctx context.Context, opts Options) (*Store, error) {
	s := &Store{timeout: opts.Timeout, log: opts.Logger, now: opts.Now, batch: opts.CleanupBatch}
	if s.timeout < 0 {
		return nil, fmt.Errorf("%w: Timeout is %s, want 0 (default) or more", ErrInvalidOptions, s.timeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.batch < 0 {
		return nil, fmt.Errorf("%w: CleanupBatch is %d, want 0 (default) or more", ErrInvalidOptions, s.batch)
	}
	if s.batch == 0 {
		s.batch = DefaultCleanupBatch
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	n, err := newNames(opts.Schema, opts.TablePrefix)
	if err != nil {
		return nil, err
	}
	s.names, s.sql = n, n.statements()

	switch {
	case opts.URL != "" && opts.Pool != nil:
		return nil, fmt.Errorf("%w: both URL and Pool are set; set one", ErrInvalidOptions)
	case opts.Pool != nil:
		s.pool = opts.Pool
		s.target = describe(opts.Pool.Config().ConnConfig.Config)
	case opts.URL != "":
		cfg, err := pgxpool.ParseConfig(opts.URL)
		if err != nil {
			// pgx masks passwords in its message only as far as it can
			// parse the string, so the message is not repeated.
			return nil, fmt.Errorf("%w: URL cannot be parsed; use postgres://user:password@host:5432/database?sslmode=verify-full "+
				"or a keyword/value string such as \"host=... dbname=...\"", ErrInvalidOptions)
		}
		s.target = describe(cfg.ConnConfig.Config)
		cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelWait}
		}
		if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("%w to %s: %v", ErrConnect, s.target, err)
		}
		s.owned = true
	default:
		return nil, fmt.Errorf("%w: URL and Pool are both empty; set URL to the database's address, such as postgres://user:password@host:5432/database",
			ErrInvalidOptions)
	}

	if err := s.ping(ctx); err != nil {
		if s.owned {
			s.pool.Close()
		}
		return nil, err
	}

	interval := opts.CleanupInterval
	if interval == 0 {
		interval = DefaultCleanupInterval
	}
	if interval > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.clean(interval)
	}
	return s, nil
}

// describe returns the address of a connection configuration as a URL
// without the password.
func describe(c pgconn.Config) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	if c.User != "" {
		u.User = url.User(c.User)
	}
	return u.String()
}

func (s *Store) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w to %s: %v; %s", ErrConnect, s.target, err, connectHint(err))
	}
	return nil
}

// connectHint returns what to check after a failed connection.
func connectHint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "3D000":
			return "check the database name in the URL, or create the database"
		case strings.HasPrefix(pgErr.Code, "28"):
			return "check the user name and password in the URL, and pg_hba.conf on the server"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the server did not reply in time: check the host, the port and any firewall between"
	}
	return "check the host and port in the URL and that the server is running"
}

// Pool returns the pgx pool that the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the background cleaner, waiting for a run in progress, and
// closes the pool if New made it from Options.URL. A caller's
// Options.Pool is left open. Close may be called more than once.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
		if s.owned {
			s.pool.Close()
		}
	})
}

// op bounds ctx by the store's timeout for one operation.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// wrap names the failed operation. A timeout is reported as ErrTimeout
// when the store's own Timeout set the deadline of octx, the context of
// the call, and a missing table or function as ErrSchemaMissing.
func (s *Store) wrap(parent, octx context.Context, op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42P01", "42883", "3F000": // undefined_table, undefined_function, invalid_schema_name
			return fmt.Errorf("%w: %s on %s: run Store.Migrate or apply schema.sql for schema %q and prefix %q: %w",
				ErrSchemaMissing, op, s.target, s.names.schema, s.names.prefix, err)
		}
	}
	// After a cancel request, the error is the server's query_canceled,
	// so only the context shows whether a deadline caused it.
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || errors.Is(octx.Err(), context.DeadlineExceeded) {
		own, _ := octx.Deadline()
		callers, ok := parent.Deadline()
		if !ok || own.Before(callers) {
			return fmt.Errorf("%w: %s on %s: no reply within %s: %w", ErrTimeout, op, s.target, s.timeout, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("store/postgres: %s on %s: %w: %w", op, s.target, context.DeadlineExceeded, err)
		}
	}
	return fmt.Errorf("store/postgres: %s on %s: %w", op, s.target, err)
}
