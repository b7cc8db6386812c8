package postgres

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// schemaSQL is schema.sql, written with the default names.
//
//go:embed schema.sql
var schemaSQL string

// maxIdentifier is PostgreSQL's limit on identifiers, in bytes; longer ones
// are truncated silently, which could make two names collide.
const maxIdentifier = 63

// identifier matches the names that Schema and TablePrefix accept: plain
// SQL identifiers, which need no quoting in a hand-written migration.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// longestSuffix is the longest name that follows the table prefix.
const longestSuffix = "challenges_expires_at_idx"

// names are the quoted names of the store's objects for one schema and
// prefix.
type names struct {
	schema, prefix string // as configured, with the prefix defaulted

	challenges, counters, sessions      string
	lock, reserve, release, verify      string
	challengesIdx, countersIdx, sessIdx string
}

// newNames validates schema and prefix and returns the quoted names.
func newNames(schema, prefix string) (names, error) {
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	if schema != "" && (!identifier.MatchString(schema) || len(schema) > maxIdentifier) {
		return names{}, fmt.Errorf("%w: Schema %q is not a plain identifier of at most %d bytes (a letter or _, then letters, digits or _)",
			ErrInvalidOptions, schema, maxIdentifier)
	}
	if !identifier.MatchString(prefix) || len(prefix)+len(longestSuffix) > maxIdentifier {
		return names{}, fmt.Errorf("%w: TablePrefix %q is not a plain identifier of at most %d bytes (a letter or _, then letters, digits or _)",
			ErrInvalidOptions, prefix, maxIdentifier-len(longestSuffix))
	}
	qualified := func(name string) string {
		if schema == "" {
			return pgx.Identifier{prefix + name}.Sanitize()
		}
		return pgx.Identifier{schema, prefix + name}.Sanitize()
	}
	// An index lives in its table's schema and takes no qualifier.
	bare := func(name string) string { return pgx.Identifier{prefix + name}.Sanitize() }
	return names{
		schema: schema, prefix: prefix,
		challenges: qualified("challenges"), counters: qualified("counters"), sessions: qualified("sessions"),
		lock: qualified("lock"), reserve: qualified("reserve"), release: qualified("release"), verify: qualified("verify"),
		challengesIdx: bare("challenges_expires_at_idx"), countersIdx: bare("counters_expires_at_idx"),
		sessIdx: bare("sessions_expires_at_idx"),
	}, nil
}

// schema returns schema.sql with the default names replaced by n's.
func (n names) schemaSQL() string {
	// Longer names first: the replacer tries its pairs in order at each
	// position, and an index name starts with its table's name.
	r := strings.NewReplacer(
		"latch_challenges_expires_at_idx", n.challengesIdx,
		"latch_counters_expires_at_idx", n.countersIdx,
		"latch_sessions_expires_at_idx", n.sessIdx,
		"latch_challenges", n.challenges,
		"latch_counters", n.counters,
		"latch_sessions", n.sessions,
		"latch_lock", n.lock,
		"latch_reserve", n.reserve,
		"latch_release", n.release,
		"latch_verify", n.verify,
	)
	return r.Replace(schemaSQL)
}

// SchemaSQL returns the statements that create the store's tables, indexes
// and functions for the given schema and table prefix, as Options takes
// them, for teams that run migrations with their own tools. For the
// defaults it returns schema.sql unchanged. Every statement is idempotent.
// It returns an error wrapping ErrInvalidOptions for an invalid name.
func SchemaSQL(schema, tablePrefix string) (string, error) {
	n, err := newNames(schema, tablePrefix)
	if err != nil {
		return "", err
	}
	if schema == "" && n.prefix == DefaultTablePrefix {
		return schemaSQL, nil
	}
	return n.schemaSQL(), nil
}

// migrateLock is the advisory lock that serializes Migrate calls of all
// instances, since concurrent CREATE ... IF NOT EXISTS statements can
// still fail on each other's catalog rows.
const migrateLock = "latch store/postgres migrate"

// Migrate creates or updates the store's tables, indexes and functions in
// one transaction, creating Options.Schema first if it is set. It is
// idempotent, and instances that call it at the same time wait for each
// other. It is bounded by ctx alone, not by Options.Timeout, because it
// may wait for a lock held by a running migration.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: migrate on %s: %w", s.target, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", migrateLock); err != nil {
		return fmt.Errorf("store/postgres: migrate on %s: lock: %w", s.target, err)
	}
	if s.names.schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.names.schema}.Sanitize()); err != nil {
			return fmt.Errorf("store/postgres: migrate on %s: create schema %q: %w", s.target, s.names.schema, err)
		}
	}
	// Without arguments, pgx sends the script over the simple protocol,
	// which runs several statements in one call.
	if _, err := tx.Exec(ctx, s.names.schemaSQL()); err != nil {
		return fmt.Errorf("store/postgres: migrate on %s: %w", s.target, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: migrate on %s: commit: %w", s.target, err)
	}
	return nil
}

// statements are the SQL statements of the store's operations.
type statements struct {
	reserve, release, verify                         string
	findSession, commitSession, deleteSession, claim string
	deleteExpired                                    string
}

func (n names) statements() statements {
	// Each DELETE takes at most $2 expired rows that no other
	// transaction holds, so that cleaners on every instance can run at
	// once without waiting for each other or for live requests.
	deleteExpired := func(name, table string) string {
		return name + " AS (DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table +
			" WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)) RETURNING 1)"
	}
	return statements{
		reserve: "SELECT o_refused, o_limit_index, o_retry_at, o_attempts_left FROM " + n.reserve +
			"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		release: "SELECT " + n.release + "($1, $2, $3, $4)",
		verify:  "SELECT o_outcome, o_attempts_left, o_expires_at FROM " + n.verify + "($1, $2, $3)",

		findSession: "SELECT data FROM " + n.sessions + " WHERE token = $1 AND $2 < expires_at",
		commitSession: "INSERT INTO " + n.sessions + " AS s (token, data, expires_at) VALUES ($1, $2, $3) " +
			"ON CONFLICT (token) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
		deleteSession: "DELETE FROM " + n.sessions + " WHERE token = $1",
		// A claim is made by inserting its row, or by taking over a row
		// whose claim has expired; RETURNING yields nothing otherwise.
		claim: "INSERT INTO " + n.sessions + " AS s (token, data, expires_at) VALUES ($1, '', $2) " +
			"ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at WHERE s.expires_at <= $3 RETURNING 1",

		deleteExpired: "WITH " + deleteExpired("c", n.challenges) + ", " + deleteExpired("n", n.counters) + ", " +
			deleteExpired("s", n.sessions) +
			" SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM n), (SELECT count(*) FROM s)",
	}
}
