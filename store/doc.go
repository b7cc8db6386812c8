// Package store keeps the state of phone one-time codes: challenges (the
// MAC of an issued code with its expiry, resend time and attempts left) and
// rate-limit counters.
//
// The package knows nothing of business rules. It offers three atomic
// operations, [Store.Reserve], [Store.Release] and [Store.Verify], that
// package otp composes into issuing and verifying codes. Each operation is
// specified so that a shared backend can run it in one round trip: a Redis
// implementation as one Lua script, a PostgreSQL implementation as one SQL
// statement. Every operation takes the current time as an argument, so
// callers and tests control the clock and all replicas agree on windows.
//
// [Memory] is the in-memory implementation, suitable for a single process.
// Package storetest contains a conformance suite that every implementation
// must pass.
package store
