package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/internal/sessiontest"
	"github.com/latchkit/latch/store"
	"github.com/latchkit/latch/store/postgres"
	"github.com/latchkit/latch/store/storetest"
)

var base = time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	s := newStore(t, nil)
	storetest.Run(t, func(t *testing.T) store.Store { return s })
}

func TestConformanceCustomPrefix(t *testing.T) {
	s := newStore(t, func(o *postgres.Options) { o.TablePrefix = "site2_" })
	storetest.Run(t, func(t *testing.T) store.Store { return s })
}

func TestSessionStoreConformance(t *testing.T) {
	s := newStore(t, nil)
	sessiontest.Run(t, func(t *testing.T) scs.CtxStore { return s.Sessions() })
}

// sharedStores returns n independent stores, each with its own pool, on
// one fresh schema.
func sharedStores(t testing.TB, n int) []*postgres.Store {
	schema := randomSchema(t)
	stores := make([]*postgres.Store, n)
	for i := range stores {
		stores[i] = openStore(t, func(o *postgres.Options) { o.Schema = schema })
	}
	if err := stores[0].Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return stores
}

func TestMultiInstanceOTP(t *testing.T) {
	multitest.RunOTP(t, func(t testing.TB, n int) []store.Store {
		var out []store.Store
		for _, s := range sharedStores(t, n) {
			out = append(out, s)
		}
		return out
	})
}

func TestMultiInstanceSessions(t *testing.T) {
	schema := randomSchema(t)
	if err := openStore(t, func(o *postgres.Options) { o.Schema = schema }).Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	multitest.RunSessions(t, func(t testing.TB, i int) scs.Store {
		return openStore(t, func(o *postgres.Options) { o.Schema = schema }).Sessions()
	})
}

func TestOneStatementPerOperation(t *testing.T) {
	counter := &statementCounter{}
	s := newStore(t, func(o *postgres.Options) { o.Pool = newPool(t, counter) })
	ctx := context.Background()
	limits := []store.Limit{
		{Key: "phone", Max: 5, Window: time.Hour},
		{Key: "global", Max: 1000, Window: 24 * time.Hour},
	}
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(5 * time.Minute), ResendAt: base.Add(time.Minute), Attempts: 5}
	counter.take()

	steps := []struct {
		name string
		call func() error
		want string
	}{
		{"Reserve", func() error { _, err := s.Reserve(ctx, "k", c, limits, base); return err }, "reserve"},
		{"Reserve refused", func() error { _, err := s.Reserve(ctx, "k", c, limits, base); return err }, "reserve"},
		{"Verify mismatch", func() error { _, err := s.Verify(ctx, "k", []byte("bad"), base); return err }, "verify"},
		{"Release", func() error { return s.Release(ctx, "k", "c1", limits, base, base) }, "release"},
		{"Verify match", func() error { _, err := s.Verify(ctx, "k", []byte("mac"), base); return err }, "verify"},
		{"Verify not found", func() error { _, err := s.Verify(ctx, "k", []byte("mac"), base); return err }, "verify"},
		{"session Commit", func() error {
			return s.Sessions().CommitCtx(ctx, "token", []byte("data"), time.Now().Add(time.Hour))
		}, "INSERT INTO"},
		{"session Find", func() error { _, _, err := s.Sessions().FindCtx(ctx, "token"); return err }, "SELECT data"},
		{"session Delete", func() error { return s.Sessions().DeleteCtx(ctx, "token") }, "DELETE FROM"},
		{"DeleteExpired", func() error { _, err := s.DeleteExpired(ctx, 10); return err }, "WITH c AS (DELETE"},
	}
	for _, step := range steps {
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got := counter.take()
		if len(got) != 1 || !strings.Contains(got[0], step.want) {
			t.Errorf("%s: statements %q, want one containing %q", step.name, got, step.want)
		}
	}
}

// An authenticated request whose session did not change must read the
// session with one statement and write nothing.
func TestUnchangedSessionCostsOneStatement(t *testing.T) {
	schema := randomSchema(t)
	counters := make([]*statementCounter, 2)
	c := multitest.Start(t, multitest.Options{SessionStore: func(t testing.TB, i int) scs.Store {
		counters[i] = &statementCounter{}
		s := openStore(t, func(o *postgres.Options) { o.Schema, o.Pool = schema, newPool(t, counters[i]) })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return s.Sessions()
	}})
	b := c.Browser()
	c.SignIn(b, 0, 1)
	for i := range c.Auth {
		if r := b.Get(i, "/private"); r.StatusCode != 200 {
			t.Fatalf("GET /private on instance %d: status %d, want 200", i, r.StatusCode)
		}
		counters[i].take()
		for range 3 {
			b.Get(i, "/private")
			if got := counters[i].take(); len(got) != 1 || !strings.HasPrefix(got[0], "SELECT data FROM") {
				t.Errorf("GET /private on instance %d: statements %q, want one SELECT", i, got)
			}
		}
	}
}

func TestMigrateIdempotentAndConcurrent(t *testing.T) {
	schema := randomSchema(t)
	const n = 4
	stores := make([]*postgres.Store, n)
	for i := range stores {
		stores[i] = openStore(t, func(o *postgres.Options) { o.Schema = schema })
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate #%d: %v", i, err)
		}
	}
	if err := stores[0].Migrate(context.Background()); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 1}
	if _, err := stores[1].Reserve(context.Background(), "k", c, nil, base); err != nil {
		t.Errorf("Reserve after Migrate: %v", err)
	}
}

func TestSchemaMissing(t *testing.T) {
	s := openStore(t, func(o *postgres.Options) { o.Schema = randomSchema(t) })
	ctx := context.Background()
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 1}
	_, err := s.Reserve(ctx, "k", c, nil, base)
	if !errors.Is(err, postgres.ErrSchemaMissing) || !strings.Contains(err.Error(), "run Store.Migrate") {
		t.Errorf("Reserve before Migrate: error %v, want ErrSchemaMissing with the fix", err)
	}
	_, _, err = s.Sessions().FindCtx(ctx, "token")
	if !errors.Is(err, postgres.ErrSchemaMissing) {
		t.Errorf("FindCtx before Migrate: error %v, want ErrSchemaMissing", err)
	}
}

func TestSchemaSQL(t *testing.T) {
	def, err := postgres.SchemaSQL("", "")
	if err != nil {
		t.Fatalf("SchemaSQL(defaults): %v", err)
	}
	if !strings.Contains(def, "CREATE TABLE IF NOT EXISTS latch_challenges (") {
		t.Errorf("SchemaSQL(defaults) is not schema.sql with the default names; it starts:\n%.300s", def)
	}

	schema := randomSchema(t)
	custom, err := postgres.SchemaSQL(schema, "site_")
	if err != nil {
		t.Fatalf("SchemaSQL(%q, site_): %v", schema, err)
	}
	for _, name := range []string{"latch_challenges", "latch_counters", "latch_sessions", "latch_lock", "latch_reserve", "latch_release", "latch_verify"} {
		if strings.Contains(custom, name) {
			t.Errorf("SchemaSQL(%q, site_) still names %s", schema, name)
		}
	}

	// Applied by hand, as a migration tool would, the file serves a store.
	conn, err := pgx.Connect(context.Background(), databaseURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+";\n"+custom); err != nil {
		t.Fatalf("apply SchemaSQL(%q, site_): %v", schema, err)
	}
	s := openStore(t, func(o *postgres.Options) { o.Schema, o.TablePrefix = schema, "site_" })
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 1}
	if _, err := s.Reserve(context.Background(), "k", c, []store.Limit{{Key: "l", Max: 1, Window: time.Hour}}, base); err != nil {
		t.Fatalf("Reserve on the hand-applied schema: %v", err)
	}
	if r, err := s.Verify(context.Background(), "k", []byte("mac"), base); err != nil || r.Outcome != store.Match {
		t.Errorf("Verify on the hand-applied schema = %s, %v; want match", r.Outcome, err)
	}
}

func TestTablePrefixSeparatesSites(t *testing.T) {
	schema := randomSchema(t)
	a := newStore(t, func(o *postgres.Options) { o.Schema, o.TablePrefix = schema, "a_" })
	b := newStore(t, func(o *postgres.Options) { o.Schema, o.TablePrefix = schema, "b_" })
	ctx := context.Background()
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 1}
	if _, err := a.Reserve(ctx, "k", c, nil, base); err != nil {
		t.Fatalf("Reserve on site A: %v", err)
	}
	if r, err := b.Verify(ctx, "k", []byte("mac"), base); err != nil || r.Outcome != store.NotFound {
		t.Errorf("Verify on site B = %s, %v; want not found", r.Outcome, err)
	}
	if r, err := a.Verify(ctx, "k", []byte("mac"), base); err != nil || r.Outcome != store.Match {
		t.Errorf("Verify on site A = %s, %v; want match", r.Outcome, err)
	}
}

func TestNewOptionErrors(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, nil)
	long := strings.Repeat("x", 64)
	tests := []struct {
		name string
		opts postgres.Options
		want string
	}{
		{"no URL or pool", postgres.Options{}, "URL and Pool are both empty"},
		{"URL and pool", postgres.Options{URL: "postgres://127.0.0.1/test", Pool: pool}, "both URL and Pool"},
		{"negative timeout", postgres.Options{Pool: pool, Timeout: -time.Second}, "Timeout is -1s"},
		{"negative batch", postgres.Options{Pool: pool, CleanupBatch: -1}, "CleanupBatch is -1"},
		{"quote in schema", postgres.Options{Pool: pool, Schema: `a"; DROP TABLE x; --`}, "Schema"},
		{"schema with a leading digit", postgres.Options{Pool: pool, Schema: "1st"}, "Schema \"1st\""},
		{"schema too long", postgres.Options{Pool: pool, Schema: long}, "at most 63 bytes"},
		{"dash in prefix", postgres.Options{Pool: pool, TablePrefix: "my-site_"}, "TablePrefix"},
		{"prefix too long", postgres.Options{Pool: pool, TablePrefix: strings.Repeat("p", 39)}, "at most 38 bytes"},
		{"unparsable URL", postgres.Options{URL: "postgres://user:s3cret-pass@127.0.0.1:port/test"}, "URL cannot be parsed"},
		{"unparsable keyword string", postgres.Options{URL: "host=127.0.0.1 password=s3cret-pass port=x"}, "URL cannot be parsed"},
	}
	for _, tt := range tests {
		_, err := postgres.New(ctx, tt.opts)
		if !errors.Is(err, postgres.ErrInvalidOptions) {
			t.Errorf("New(%s): error %v, want ErrInvalidOptions", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s): error %q, want it to contain %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%s): error %q contains the password", tt.name, err)
		}
	}
}

func TestNewConnectErrors(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(databaseURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", urlVar, err)
	}
	with := func(edit func(u *url.URL)) string {
		c := *u
		edit(&c)
		return c.String()
	}
	closed := closedPort(t)
	host, port, _ := net.SplitHostPort(closed)
	tests := []struct {
		name     string
		url      string
		contains []string
	}{
		{"closed port", with(func(u *url.URL) { u.Host = closed; u.User = url.UserPassword("postgres", "s3cret-pass") }),
			[]string{"postgres://postgres@" + host + ":" + port + "/", "connection refused", "check the host and port"}},
		{"unknown database", with(func(u *url.URL) { u.Path = "/latch_no_such_database" }),
			[]string{"/latch_no_such_database", "3D000", "check the database name"}},
		// The test server trusts loopback logins, so an unknown user takes
		// the place of a wrong password. Both fail authentication (SQLSTATE
		// class 28).
		{"unknown user", with(func(u *url.URL) { u.User = url.UserPassword("latch_no_such_user", "s3cret-pass") }),
			[]string{"postgres://latch_no_such_user@", "28000", "check the user name and password"}},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := postgres.New(ctx, postgres.Options{URL: tt.url, Timeout: time.Second})
		if !errors.Is(err, postgres.ErrConnect) {
			t.Errorf("New(%s): error %v, want ErrConnect", tt.name, err)
			continue
		}
		for _, want := range tt.contains {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New(%s): error %q, want it to contain %q", tt.name, err, want)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%s): error %q contains the password", tt.name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("New(%s) took %s, want it to fail within the timeout", tt.name, d)
		}
	}
}

func TestOutage(t *testing.T) {
	u, err := url.Parse(databaseURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", urlVar, err)
	}
	proxy := multitest.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	schema := randomSchema(t)
	const timeout = 500 * time.Millisecond
	s := newStore(t, func(o *postgres.Options) { o.URL, o.Schema, o.Timeout = u.String(), schema, timeout })
	multitest.RunOutage(t, multitest.OutageOptions{Proxy: proxy, Store: s, Sessions: s.Sessions(), Timeout: timeout})
}

func TestTimeoutError(t *testing.T) {
	schema := randomSchema(t)
	s := newStore(t, func(o *postgres.Options) { o.Schema, o.Timeout = schema, 300*time.Millisecond })
	ctx := context.Background()
	c := store.Challenge{ID: "c1", MAC: []byte("mac"), ExpiresAt: base.Add(time.Minute), ResendAt: base, Attempts: 3}
	if _, err := s.Reserve(ctx, "k", c, nil, base); err != nil {
		t.Fatalf("Reserve: %v", err)
	}

	// Another transaction holds the challenge's row, so Verify waits for
	// the lock until the store's timeout ends it.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer tx.Rollback(ctx)
	table := pgx.Identifier{schema, "latch_challenges"}.Sanitize()
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+table+" WHERE key = 'k' FOR UPDATE"); err != nil {
		t.Fatalf("lock the row: %v", err)
	}
	start := time.Now()
	_, err = s.Verify(ctx, "k", []byte("mac"), base)
	elapsed := time.Since(start)
	if !errors.Is(err, postgres.ErrTimeout) {
		t.Errorf("Verify of a locked row: error %v, want ErrTimeout", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 1300*time.Millisecond {
		t.Errorf("Verify of a locked row took %s, want about the 300ms timeout", elapsed)
	}
	tx.Rollback(ctx)

	// The cancelled call changed nothing: the code still verifies once.
	if r, err := s.Verify(ctx, "k", []byte("mac"), base); err != nil || r.Outcome != store.Match {
		t.Errorf("Verify after the timeout = %s, %v; want match", r.Outcome, err)
	}
}

func TestBadArgumentsReachNoServer(t *testing.T) {
	counter := &statementCounter{}
	s := newStore(t, func(o *postgres.Options) { o.Pool = newPool(t, counter) })
	counter.take()
	_, err := s.Reserve(context.Background(), "", store.Challenge{}, nil, base)
	if !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Reserve(empty key): %v, want ErrInvalidArgument", err)
	}
	if got := counter.take(); len(got) != 0 {
		t.Errorf("Reserve(empty key) ran statements %q, want none", got)
	}
}
