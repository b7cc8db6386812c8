// Package sessiontest is a conformance suite for scs session stores that
// latch can share between instances. Every shared store in this module must
// pass [Run]:
//
//	func TestSessionStore(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) scs.CtxStore { return newSessionStore(t) })
//	}
//
// Expiry is checked against the wall clock, because scs computes session
// expiry with time.Now, so the suite sleeps for a fraction of a second.
package sessiontest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Run runs the suite. newStore returns a store for one subtest; it may
// return the same backend each time, because tokens never repeat.
func Run(t *testing.T, newStore func(t *testing.T) scs.CtxStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s scs.CtxStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"MissingToken", testMissingToken},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"Expiry", testExpiry},
		{"PastExpiry", testPastExpiry},
		{"CommitExtendsExpiry", testCommitExtendsExpiry},
		{"BinaryData", testBinaryData},
		{"ContextFreeMethods", testContextFreeMethods},
		{"CancelledContext", testCancelledContext},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// token returns a token unique to this run, shaped like the hex SHA-256
// that scs stores when HashTokenInStore is set.
func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	return hex.EncodeToString(b)
}

func mustCommit(t *testing.T, s scs.CtxStore, tok string, b []byte, expiry time.Time) {
	t.Helper()
	if err := s.CommitCtx(context.Background(), tok, b, expiry); err != nil {
		t.Fatalf("CommitCtx(%.8s…, %d bytes, expiry in %s): %v", tok, len(b), time.Until(expiry).Round(time.Millisecond), err)
	}
}

func mustFind(t *testing.T, s scs.CtxStore, tok string) ([]byte, bool) {
	t.Helper()
	b, found, err := s.FindCtx(context.Background(), tok)
	if err != nil {
		t.Fatalf("FindCtx(%.8s…): %v", tok, err)
	}
	return b, found
}

func wantData(t *testing.T, call string, s scs.CtxStore, tok string, want []byte) {
	t.Helper()
	got, found := mustFind(t, s, tok)
	if !found {
		t.Fatalf("%s: FindCtx found nothing, want %q", call, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: FindCtx = %q, want %q", call, got, want)
	}
}

func wantMissing(t *testing.T, call string, s scs.CtxStore, tok string) {
	t.Helper()
	if got, found := mustFind(t, s, tok); found {
		t.Fatalf("%s: FindCtx found %q, want nothing", call, got)
	}
}

func testRoundTrip(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	mustCommit(t, s, tok, []byte("data"), time.Now().Add(time.Hour))
	wantData(t, "after CommitCtx", s, tok, []byte("data"))
}

func testMissingToken(t *testing.T, s scs.CtxStore) {
	wantMissing(t, "never committed", s, token(t))
}

func testOverwrite(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	mustCommit(t, s, tok, []byte("first"), time.Now().Add(time.Hour))
	mustCommit(t, s, tok, []byte("second"), time.Now().Add(time.Hour))
	wantData(t, "after second CommitCtx", s, tok, []byte("second"))
}

func testDelete(t *testing.T, s scs.CtxStore) {
	tok, other := token(t), token(t)
	mustCommit(t, s, tok, []byte("data"), time.Now().Add(time.Hour))
	mustCommit(t, s, other, []byte("other"), time.Now().Add(time.Hour))
	if err := s.DeleteCtx(context.Background(), tok); err != nil {
		t.Fatalf("DeleteCtx: %v", err)
	}
	wantMissing(t, "after DeleteCtx", s, tok)
	wantData(t, "other token after DeleteCtx", s, other, []byte("other"))
}

func testDeleteMissing(t *testing.T, s scs.CtxStore) {
	if err := s.DeleteCtx(context.Background(), token(t)); err != nil {
		t.Errorf("DeleteCtx(never committed): %v, want nil", err)
	}
}

func testExpiry(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	expiry := time.Now().Add(300 * time.Millisecond)
	mustCommit(t, s, tok, []byte("short"), expiry)
	wantData(t, "before expiry", s, tok, []byte("short"))
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)
	wantMissing(t, "after expiry", s, tok)
}

func testPastExpiry(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	mustCommit(t, s, tok, []byte("live"), time.Now().Add(time.Hour))
	mustCommit(t, s, tok, []byte("dead"), time.Now().Add(-time.Second))
	wantMissing(t, "after CommitCtx with a past expiry", s, tok)
}

func testCommitExtendsExpiry(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	mustCommit(t, s, tok, []byte("data"), time.Now().Add(200*time.Millisecond))
	mustCommit(t, s, tok, []byte("data"), time.Now().Add(time.Hour))
	time.Sleep(300 * time.Millisecond)
	wantData(t, "after the first expiry passed", s, tok, []byte("data"))
}

func testBinaryData(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	mustCommit(t, s, tok, data, time.Now().Add(time.Hour))
	got, found := mustFind(t, s, tok)
	if !found || !bytes.Equal(got, data) {
		t.Fatalf("FindCtx(64 KiB of binary data): found %v, %d bytes equal %v; want the data back",
			found, len(got), bytes.Equal(got, data))
	}
}

func testContextFreeMethods(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	if err := s.Commit(tok, []byte("data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	b, found, err := s.Find(tok)
	if err != nil || !found || string(b) != "data" {
		t.Fatalf("Find = %q, %v, %v; want \"data\", true, nil", b, found, err)
	}
	if err := s.Delete(tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, "after Delete", s, tok)
}

func testCancelledContext(t *testing.T, s scs.CtxStore) {
	tok := token(t)
	mustCommit(t, s, tok, []byte("data"), time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A failed read must not look like a missing session.
	if _, found, err := s.FindCtx(ctx, tok); err == nil {
		t.Errorf("FindCtx(cancelled context): found %v, no error; want an error", found)
	}
	if err := s.CommitCtx(ctx, tok, []byte("changed"), time.Now().Add(time.Hour)); err == nil {
		t.Error("CommitCtx(cancelled context): no error, want one")
	}
	if err := s.DeleteCtx(ctx, tok); err == nil {
		t.Error("DeleteCtx(cancelled context): no error, want one")
	}
	wantData(t, "after cancelled calls", s, tok, []byte("data"))
}

func testConcurrent(t *testing.T, s scs.CtxStore) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	base := token(t)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := fmt.Sprintf("%s-%d", base, i)
			want := []byte(fmt.Sprint("data ", i))
			if err := s.CommitCtx(context.Background(), tok, want, time.Now().Add(time.Hour)); err != nil {
				errs <- fmt.Errorf("CommitCtx #%d: %w", i, err)
				return
			}
			got, found, err := s.FindCtx(context.Background(), tok)
			if err != nil || !found || !bytes.Equal(got, want) {
				errs <- fmt.Errorf("FindCtx #%d = %q, %v, %v; want %q", i, got, found, err, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
