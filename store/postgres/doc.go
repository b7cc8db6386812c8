// Package postgres keeps latch's shared state in PostgreSQL, so that a
// site can run on several instances behind a load balancer. It stores the
// challenges and rate limit counters of phone codes, as a [store.Store]
// for otp.Config.Store, and the sessions, as an scs store for
// latch.Config.SessionStore.
//
//	s, err := postgres.New(ctx, postgres.Options{URL: os.Getenv("DATABASE_URL")})
//	if err != nil {
//		log.Fatal(err) // names the server and what to check
//	}
//	defer s.Close()
//	if err := s.Migrate(ctx); err != nil {
//		log.Fatal(err)
//	}
//	codes, err := otp.New(otp.Config{Store: s, Key: key, Sender: sender})
//	auth, err := latch.New(ctx, latch.Config{SessionStore: s.Sessions(), ...})
//
// # Schema
//
// [Store.Migrate] creates three tables (challenges, counters, sessions)
// and four PL/pgSQL functions, named with Options.TablePrefix in
// Options.Schema. The same statements are in schema.sql beside this file,
// and [SchemaSQL] returns them for other names, for teams that run
// migrations with their own tools. Every statement is idempotent.
//
// # Guarantees
//
// Each store.Store operation is one statement, a call of one of those
// functions, which the server runs atomically in one round trip: checking
// every limit and storing the challenge in Reserve, and comparing and
// consuming the code in Verify. (pgx prepares each statement once per
// connection, which costs one more round trip the first time.) Reserve and
// Release serialize on transaction-scoped advisory locks of the keys they
// touch, taken in ascending order, so they cannot deadlock each other.
// Verify locks the challenge's row.
//
// Since otp charges the site-wide daily counter on every send, the Reserve
// calls of all instances take turns on that counter's lock, each holding
// it until its commit. BenchmarkStore measured about 1,000 reservations a
// second on a 2-core machine whose commits took about a millisecond; the
// rate follows the server's commit latency.
// Expiry and counting windows are judged by the time that the caller
// passes as a parameter, never by the server's now().
//
// Each call is bounded by Options.Timeout on top of the caller's context.
// A failed or timed-out call returns an error; it is never taken for a
// missing code or session, and nothing falls back to memory.
//
// # Expired rows
//
// Rows stop counting when they expire; deleting them only reclaims space.
// A background cleaner, started by New and stopped by Close, calls
// [Store.DeleteExpired] every Options.CleanupInterval, which deletes at
// most Options.CleanupBatch rows per table per statement and skips rows
// that other transactions hold, so every instance may run one.
package postgres
