package otp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/latchkit/latch/store"
)

var testKey = bytes.Repeat([]byte("k"), MinKeyLength)

// t0 is the start of an hour and a day, so windows start at t0.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recordingSender records messages and fails with the queued errors.
type recordingSender struct {
	mu    sync.Mutex
	msgs  []Message
	calls int
	errs  []error
}

func (r *recordingSender) Send(ctx context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if len(r.errs) > 0 {
		err := r.errs[0]
		r.errs = r.errs[1:]
		if err != nil {
			return err
		}
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recordingSender) failNext(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, errs...)
}

func (r *recordingSender) last(t *testing.T) Message {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		t.Fatal("sender recorded no message")
	}
	return r.msgs[len(r.msgs)-1]
}

func (r *recordingSender) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

type harness struct {
	svc    *Service
	sender *recordingSender
	clock  *fakeClock
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHarness returns a Service on a memory store with a fake clock at t0,
// a recording sender and a debug logger into a buffer. edit may change
// the Config before New.
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{sender: &recordingSender{}, clock: &fakeClock{now: t0}, logs: &syncBuffer{}}
	cfg := Config{
		Key:           testKey,
		Sender:        h.sender,
		DefaultRegion: "CN",
		Logger:        slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})),
		Now:           h.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.svc = svc
	return h
}

// dropTime removes the wall-clock time from log records, whose digits could
// contain a code by chance and fail the tests that search logs for codes.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

var clientIP = netip.MustParseAddr("192.0.2.10")

func (h *harness) phone(t *testing.T, input string) Phone {
	t.Helper()
	p, err := ParsePhone(input, "CN")
	if err != nil {
		t.Fatalf("ParsePhone(%q): %v", input, err)
	}
	return p
}

func (h *harness) issue(t *testing.T, p Phone, purpose Purpose) (Issued, error) {
	t.Helper()
	return h.svc.Issue(context.Background(), IssueRequest{Phone: p, Purpose: purpose, ClientIP: clientIP})
}

// mustIssue issues a code and returns it as the sender received it.
func (h *harness) mustIssue(t *testing.T, p Phone, purpose Purpose) (Issued, string) {
	t.Helper()
	iss, err := h.issue(t, p, purpose)
	if err != nil {
		t.Fatalf("Issue(%s, %s): %v", p, purpose, err)
	}
	return iss, h.sender.last(t).Code
}

func (h *harness) verify(p Phone, purpose Purpose, code string) error {
	return h.svc.Verify(context.Background(), VerifyRequest{Phone: p, Purpose: purpose, Code: code})
}

// wrongCode returns a code of the same length that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func wantLimit(t *testing.T, call string, err error, limit Limit, retryAt time.Time, now time.Time) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("%s: error %v, want *LimitError for %s", call, err, limit)
	}
	if le.Limit != limit {
		t.Fatalf("%s: refused by %s, want %s", call, le.Limit, limit)
	}
	if !errors.Is(err, ErrRateLimited) {
		t.Errorf("%s: errors.Is(err, ErrRateLimited) = false", call)
	}
	if !le.RetryAt.Equal(retryAt) {
		t.Errorf("%s: RetryAt %s, want %s", call, le.RetryAt, retryAt)
	}
	if want := retryAt.Sub(now); le.RetryAfter != want {
		t.Errorf("%s: RetryAfter %s, want %s", call, le.RetryAfter, want)
	}
}

// spyStore wraps a store to record what it receives and inject errors.
type spyStore struct {
	store.Store
	mu         sync.Mutex
	challenges []store.Challenge
	keys       []string // challenge and counter keys, in call order
	calls      map[string]int
	reserveErr error
	verifyErr  error
	releaseErr error
	releases   int
}

// record notes a call of method with its keys.
func (s *spyStore) record(method, key string, limits []store.Limit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[method]++
	s.keys = append(s.keys, key)
	for _, l := range limits {
		s.keys = append(s.keys, l.Key)
	}
}

// callCounts returns a copy of the number of calls per method.
func (s *spyStore) callCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

func (s *spyStore) Reserve(ctx context.Context, key string, c store.Challenge, limits []store.Limit, now time.Time) (store.Reservation, error) {
	s.record("Reserve", key, limits)
	s.mu.Lock()
	s.challenges = append(s.challenges, c)
	err := s.reserveErr
	s.mu.Unlock()
	if err != nil {
		return store.Reservation{}, err
	}
	return s.Store.Reserve(ctx, key, c, limits, now)
}

func (s *spyStore) Verify(ctx context.Context, key string, mac []byte, now time.Time) (store.VerifyResult, error) {
	s.record("Verify", key, nil)
	if s.verifyErr != nil {
		return store.VerifyResult{}, s.verifyErr
	}
	return s.Store.Verify(ctx, key, mac, now)
}

func (s *spyStore) Release(ctx context.Context, key, id string, refunds []store.Limit, reservedAt, now time.Time) error {
	s.record("Release", key, refunds)
	s.mu.Lock()
	s.releases++
	s.mu.Unlock()
	if s.releaseErr != nil {
		return s.releaseErr
	}
	return s.Store.Release(ctx, key, id, refunds, reservedAt, now)
}

func newSpyStore(t *testing.T) *spyStore {
	t.Helper()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &spyStore{Store: m}
}

// logRecorder is a slog.Handler that keeps every record with its
// attributes resolved to strings, so that tests can search all of them,
// including values a JSON or text handler would escape.
type logRecorder struct {
	mu      *sync.Mutex
	records *[]loggedRecord
	attrs   []slog.Attr
	prefix  string
}

// loggedRecord is one record as logRecorder keeps it.
type loggedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder {
	return &logRecorder{mu: &sync.Mutex{}, records: &[]loggedRecord{}}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range l.attrs {
		flattenAttr(rec.attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		flattenAttr(rec.attrs, l.prefix, a)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.records = append(*l.records, rec)
	return nil
}

func (l *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *l
	c.attrs = append(slices.Clone(l.attrs), attrs...)
	return &c
}

func (l *logRecorder) WithGroup(name string) slog.Handler {
	c := *l
	c.prefix = l.prefix + name + "."
	return &c
}

func flattenAttr(dst map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			flattenAttr(dst, prefix+a.Key+".", g)
		}
		return
	}
	dst[prefix+a.Key] = v.String()
}

// all returns a copy of the records.
func (l *logRecorder) all() []loggedRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(*l.records)
}

// strings returns the message and every attribute value of every record.
func (l *logRecorder) strings() []string {
	var out []string
	for _, r := range l.all() {
		out = append(out, r.msg)
		for k, v := range r.attrs {
			out = append(out, k, v)
		}
	}
	return out
}

// wantNoLeak fails if any of texts contains one of the secrets, or a
// control or bidirectional formatting character, which could forge or
// hide log lines in a handler that does not escape.
func wantNoLeak(t *testing.T, where string, texts []string, secrets ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("%s: %q contains %q", where, s, secret)
			}
		}
		if i := strings.IndexFunc(s, isUnsafeRune); i >= 0 {
			t.Errorf("%s: %q contains the character %U", where, s, []rune(s[i:])[0])
		}
	}
}

func isUnsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}
