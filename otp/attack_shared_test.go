package otp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/postgres"
	"github.com/latchkit/latch/store/redis"
)

// The attacks below run against two Services that share one backend, as
// the replicas of a site do: the in-memory store shared in one process,
// and Redis and PostgreSQL when these variables name test servers. Tests
// write under a random key prefix or schema and remove it at the end.
const (
	redisURLVar    = "LATCH_TEST_REDIS_URL"
	postgresURLVar = "LATCH_TEST_POSTGRES_URL"
)

// backend makes the stores of two replicas and lists what it holds.
type backend struct {
	name string
	// open returns two store values on one fresh namespace, and a function
	// that returns every key and value in it as text, or nil if the
	// backend cannot be read that way.
	open func(t *testing.T) (a, b store.Store, dump func() []string)
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) (store.Store, store.Store, func() []string) {
			m, err := store.NewMemory(store.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return m, m, nil
		}},
		{"redis", openRedis},
		{"postgres", openPostgres},
	}
}

func randomName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func openRedis(t *testing.T) (store.Store, store.Store, func() []string) {
	url := os.Getenv(redisURLVar)
	if url == "" {
		t.Skipf("%s is not set; set it to a Redis URL such as redis://127.0.0.1:6379/15", redisURLVar)
	}
	prefix := "latchattack:" + randomName(t) + ":"
	ctx := context.Background()
	stores := make([]store.Store, 2)
	for i := range stores {
		s, err := redis.New(ctx, redis.Options{URL: url, KeyPrefix: prefix, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("redis.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt)
	keys := func() []string {
		var keys []string
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("SCAN %s*: %v", prefix, err)
		}
		return keys
	}
	t.Cleanup(func() {
		if k := keys(); len(k) > 0 {
			client.Del(ctx, k...)
		}
		client.Close()
	})
	dump := func() []string {
		var out []string
		for _, k := range keys() {
			out = append(out, k)
			switch typ := client.Type(ctx, k).Val(); typ {
			case "string":
				out = append(out, client.Get(ctx, k).Val())
			case "hash":
				for f, v := range client.HGetAll(ctx, k).Val() {
					out = append(out, f, v, hex.EncodeToString([]byte(v)))
				}
			default:
				t.Errorf("key %s has type %s, which the test cannot read", k, typ)
			}
		}
		return out
	}
	return stores[0], stores[1], dump
}

func openPostgres(t *testing.T) (store.Store, store.Store, func() []string) {
	url := os.Getenv(postgresURLVar)
	if url == "" {
		t.Skipf("%s is not set; set it to a URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresURLVar)
	}
	schema := "latchattack_" + randomName(t)
	ctx := context.Background()
	stores := make([]store.Store, 2)
	for i := range stores {
		s, err := postgres.New(ctx, postgres.Options{URL: url, Schema: schema, CleanupInterval: -1})
		if err != nil {
			t.Fatalf("postgres.New: %v", err)
		}
		t.Cleanup(s.Close)
		if i == 0 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		stores[i] = s
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgx.Connect: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		conn.Close(ctx)
	})
	dump := func() []string {
		var out []string
		for _, q := range []string{
			"SELECT key || ' ' || id || ' ' || encode(mac, 'hex') FROM " + pgx.Identifier{schema, "latch_challenges"}.Sanitize(),
			"SELECT key FROM " + pgx.Identifier{schema, "latch_counters"}.Sanitize(),
		} {
			rows, err := conn.Query(ctx, q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			rows.Close()
		}
		return out
	}
	return stores[0], stores[1], dump
}

// outbox is an otp.Sender that keeps the messages it is given.
type outbox struct {
	mu   sync.Mutex
	sent []otp.Message
}

func (o *outbox) Send(_ context.Context, m otp.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

func (o *outbox) messages() []otp.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]otp.Message(nil), o.sent...)
}

// replicaSet is two Services on one backend.
type replicaSet struct {
	svc   [2]*otp.Service
	out   *outbox
	clock *multitest.Clock
	dump  func() []string
}

func startReplicas(t *testing.T, b backend, limits otp.Limits) *replicaSet {
	t.Helper()
	sa, sb, dump := b.open(t)
	r := &replicaSet{out: &outbox{}, clock: multitest.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)), dump: dump}
	for i, st := range []store.Store{sa, sb} {
		svc, err := otp.New(otp.Config{
			Key:           []byte("attack test key of at least 32 bytes"),
			Sender:        r.out,
			Store:         st,
			DefaultRegion: "CN",
			Limits:        limits,
			Logger:        slog.New(slog.DiscardHandler),
			Now:           r.clock.Now,
		})
		if err != nil {
			t.Fatalf("otp.New: %v", err)
		}
		r.svc[i] = svc
	}
	return r
}

func (r *replicaSet) phone(t *testing.T, i int) otp.Phone {
	t.Helper()
	p, err := r.svc[0].ParsePhone(fmt.Sprintf("+86 139 %04d 0%03d", i, i%1000))
	if err != nil {
		t.Fatalf("ParsePhone(#%d): %v", i, err)
	}
	return p
}

func (r *replicaSet) issue(i int, p otp.Phone, purpose otp.Purpose, client int) error {
	ip := netip.AddrFrom4([4]byte{10, byte(client >> 16), byte(client >> 8), byte(client)})
	_, err := r.svc[i%2].Issue(context.Background(), otp.IssueRequest{Phone: p, Purpose: purpose, ClientIP: ip})
	return err
}

func (r *replicaSet) verify(i int, p otp.Phone, code string) error {
	return r.svc[i%2].Verify(context.Background(), otp.VerifyRequest{Phone: p, Purpose: otp.SignIn, Code: code})
}

func (r *replicaSet) lastCode(t *testing.T) string {
	t.Helper()
	msgs := r.out.messages()
	if len(msgs) == 0 {
		t.Fatal("no message sent")
	}
	return msgs[len(msgs)-1].Code
}

// guess returns the i-th guess of an attacker, never code itself.
func guess(i int, code string) string {
	g := fmt.Sprintf("%06d", i%1_000_000)
	if g == code {
		g = fmt.Sprintf("%06d", (i+1)%1_000_000)
	}
	return g
}

func TestAttackSharedBackends(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("BruteForceAcrossReplicas", func(t *testing.T) { testSharedBruteForce(t, b) })
			t.Run("ConcurrentGuesses", func(t *testing.T) { testSharedConcurrentGuesses(t, b) })
			t.Run("ConcurrentBudget", func(t *testing.T) { testSharedConcurrentBudget(t, b) })
			t.Run("ConcurrentPhoneLimit", func(t *testing.T) { testSharedConcurrentPhoneLimit(t, b) })
			t.Run("NothingInClear", func(t *testing.T) { testSharedNothingInClear(t, b) })
		})
	}
}

func testSharedBruteForce(t *testing.T, b backend) {
	r := startReplicas(t, b, otp.Limits{})
	p := r.phone(t, 1)
	if err := r.issue(0, p, otp.SignIn, 1); err != nil {
		t.Fatal(err)
	}
	code := r.lastCode(t)
	mismatches := 0
	for i := range 40 {
		if err := r.issue(i, p, otp.SignIn, 100+i); !errors.Is(err, otp.ErrRateLimited) {
			t.Fatalf("Issue from client #%d on replica %d during the attack: %v, want a limit", i, i%2, err)
		}
		switch err := r.verify(i, p, guess(i, code)); {
		case errors.Is(err, otp.ErrCodeMismatch):
			mismatches++
		case errors.Is(err, otp.ErrTooManyAttempts):
		default:
			t.Fatalf("guess #%d on replica %d: %v", i, i%2, err)
		}
	}
	if mismatches != otp.DefaultMaxAttempts {
		t.Errorf("40 guesses alternating between replicas checked %d against the code, want %d", mismatches, otp.DefaultMaxAttempts)
	}
	if err := r.verify(1, p, code); !errors.Is(err, otp.ErrTooManyAttempts) {
		t.Errorf("right code after the attack: %v, want ErrTooManyAttempts", err)
	}
}

func testSharedConcurrentGuesses(t *testing.T, b backend) {
	const goroutines = 50
	r := startReplicas(t, b, otp.Limits{})
	p := r.phone(t, 2)
	if err := r.issue(0, p, otp.SignIn, 1); err != nil {
		t.Fatal(err)
	}
	code := r.lastCode(t)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() { errs[i] = r.verify(i, p, guess(i, code)) })
	}
	wg.Wait()
	mismatches := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, otp.ErrCodeMismatch):
			mismatches++
		case errors.Is(err, otp.ErrTooManyAttempts):
		default:
			t.Errorf("racing guess #%d: %v", i, err)
		}
	}
	if mismatches != otp.DefaultMaxAttempts {
		t.Errorf("%d racing guesses on two replicas checked %d against the code, want %d", goroutines, mismatches, otp.DefaultMaxAttempts)
	}
}

// countSends counts nil errors and fails on errors other than a refusal
// by one of the limits given.
func countSends(t *testing.T, errs []error, allowed ...otp.Limit) int {
	t.Helper()
	sent := 0
	for i, err := range errs {
		var le *otp.LimitError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &le) && slices.Contains(allowed, le.Limit):
		default:
			t.Errorf("racing Issue #%d: %v, want nil or a refusal by %v", i, err, allowed)
		}
	}
	return sent
}

func testSharedConcurrentBudget(t *testing.T, b backend) {
	const goroutines, budget = 50, 7
	r := startReplicas(t, b, otp.Limits{GlobalDaily: budget})
	phones := make([]otp.Phone, goroutines)
	for i := range phones {
		phones[i] = r.phone(t, 100+i)
	}
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() { errs[i] = r.issue(i, phones[i], otp.Purposes()[i%4], i) })
	}
	wg.Wait()
	if sent := countSends(t, errs, otp.LimitGlobalDaily); sent != budget {
		t.Errorf("%d racing Issue calls on two replicas with a budget of %d: %d sent, want exactly %d", goroutines, budget, sent, budget)
	}
	if n := len(r.out.messages()); n != budget {
		t.Errorf("sender received %d messages, want %d", n, budget)
	}
}

func testSharedConcurrentPhoneLimit(t *testing.T, b backend) {
	const goroutines, limit = 50, 3
	r := startReplicas(t, b, otp.Limits{PhoneHourly: limit})
	p := r.phone(t, 3)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() { errs[i] = r.issue(i, p, otp.Purposes()[i%4], i) })
	}
	wg.Wait()
	if sent := countSends(t, errs, otp.LimitPhoneHourly, otp.LimitCooldown); sent != limit {
		t.Errorf("%d racing Issue calls for one number on two replicas, PhoneHourly %d: %d sent, want exactly %d", goroutines, limit, sent, limit)
	}
}

func testSharedNothingInClear(t *testing.T, b backend) {
	r := startReplicas(t, b, otp.Limits{})
	if r.dump == nil {
		t.Skip("the in-memory store cannot be read from outside; TestAttackNoPlaintextAtRest covers what it receives")
	}
	p := r.phone(t, 4)
	for i, purpose := range otp.Purposes() {
		if err := r.issue(i, p, purpose, 7); err != nil {
			t.Fatalf("Issue(%s): %v", purpose, err)
		}
	}
	r.verify(0, p, "000000")
	national := strings.TrimPrefix(p.E164(), "+86")
	held := r.dump()
	if len(held) == 0 {
		t.Fatal("backend holds nothing after four codes were issued")
	}
	for _, s := range held {
		for _, f := range []string{national, national[:8], "10.0.0.7"} {
			if strings.Contains(s, f) {
				t.Errorf("%s holds %q, which contains %q", b.name, s, f)
			}
		}
		// MACs, IDs and pseudonyms are long hexadecimal strings, in which
		// six given digits occur by chance; codes are looked for outside
		// them.
		rest := hexRunRE.ReplaceAllString(s, "<hex>")
		for _, m := range r.out.messages() {
			if strings.Contains(rest, m.Code) {
				t.Errorf("%s holds %q, which contains the code %s", b.name, s, m.Code)
			}
		}
	}
}

var hexRunRE = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
