package latch_test

import (
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/latchkit/latch/internal/multitest"
)

// TestAttackSessionsAcrossInstances runs the shared-store session suite
// (sign-in on one instance and use on another, sign-out that ends the
// session everywhere, replayed cookies) on instances that share one
// in-memory store, so it runs without Redis or PostgreSQL.
func TestAttackSessionsAcrossInstances(t *testing.T) {
	shared := memstore.NewWithCleanupInterval(0)
	multitest.RunSessions(t, func(t testing.TB, i int) scs.Store { return shared })
}
