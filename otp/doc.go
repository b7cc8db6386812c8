// Package otp issues and verifies one-time codes sent to phones by SMS.
//
// A [Service] generates a code from crypto/rand, stores only its
// HMAC-SHA256 under a server key (bound to the phone and the [Purpose]),
// sends it through a [Sender] and verifies it once. Limits, all enforced on
// the server, protect users from guessing and the site from SMS cost and
// toll fraud ("SMS pumping"):
//
//   - a code lives 5 minutes and allows 5 wrong attempts, then it is burnt
//     and blocks new codes for that phone and purpose until it would have
//     expired;
//   - a new code for the same phone and purpose waits 60 seconds, and
//     carries over the attempts left;
//   - sends are counted per phone per hour and per day, per client address
//     per hour (IPv6 by /64), per number prefix per hour, per region per
//     hour, and in a global daily budget;
//   - only mobile numbers of allowed regions receive codes. Premium-rate,
//     toll-free, satellite and other costly or unreachable numbers, and
//     ranges reserved for fiction, are rejected before any provider is
//     called.
//
// The store never sees a code, a phone number or a client address: it
// keeps the MAC of each code, and its keys name numbers, prefixes and
// addresses by an HMAC under the same key. A Sender's error is scrubbed
// of the code and the number before Issue returns or logs it.
//
// Every refusal is a typed error: [*LimitError] names the limit that
// refused and the time to retry, [*VerifyError] carries the attempts left, and
// [*SendError] classifies provider failures so that the HTTP layer can
// explain them without importing a provider package.
//
// Phone numbers are parsed with libphonenumber ([ParsePhone]) into a
// [Phone], whose String and LogValue print it masked. State lives in a
// [store.Store]; the default is an in-memory store for one process.
//
// For development, [NewConsoleSender] prints codes instead of sending them,
// and Config.InsecureDevelopmentKey makes up a MAC key. Package
// otp/tencent sends through Tencent Cloud SMS.
package otp
