// Package redis keeps latch's shared state in Redis, so that a site can run
// on several instances behind a load balancer. It stores the challenges
// and rate limit counters of phone codes, as a [store.Store] for
// otp.Config.Store, and the sessions, as an scs store for
// latch.Config.SessionStore.
//
//	s, err := redis.New(ctx, redis.Options{URL: "redis://127.0.0.1:6379/0"})
//	if err != nil {
//		log.Fatal(err) // names the server and what to check
//	}
//	defer s.Close()
//	codes, err := otp.New(otp.Config{Store: s, Key: key, Sender: sender})
//	auth, err := latch.New(ctx, latch.Config{SessionStore: s.Sessions(), ...})
//
// # Guarantees
//
// Each store.Store operation runs as one Lua script, which Redis executes
// atomically in one round trip: checking every limit and storing the
// challenge in Reserve, and comparing and consuming the code in Verify.
// The scripts run with EVALSHA, and with EVAL when the server has lost
// them, which costs a second round trip that one time. Expiry and counting windows are judged by the time that the
// caller passes, never by the server's clock. Every key carries a time to
// live, so expired state disappears without a cleaner.
//
// Each call is bounded by Options.Timeout on top of the caller's context.
// A failed or timed-out call returns an error; it is never taken for a
// missing code or session, and nothing falls back to memory.
//
// # Redis Cluster
//
// Every script touches the challenge and all the counters of a request, and
// the global counters are shared by all requests, so the keys of the
// store must be in one hash slot. Give a cluster client a KeyPrefix with a
// hash tag, such as "{latch}:", which puts every key of the store on one
// node; New rejects a cluster client without one.
package redis
