package tencent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// newService returns an otp.Service that sends through s, on clock. The
// stand-in keeps the real clock, against which it checks signatures. edit
// may change the Config first.
func newService(t *testing.T, s *tencent.Sender, clock *multitest.Clock, logger *slog.Logger, edit func(*otp.Config)) *otp.Service {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := otp.Config{
		Key:           bytes.Repeat([]byte{7}, 32),
		Sender:        s,
		DefaultRegion: "CN",
		Logger:        logger,
		Now:           clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := otp.New(cfg)
	if err != nil {
		t.Fatalf("otp.New: %v", err)
	}
	return svc
}

func issueCode(svc *otp.Service, phone otp.Phone, purpose otp.Purpose) error {
	_, err := svc.Issue(context.Background(), otp.IssueRequest{Phone: phone, Purpose: purpose,
		ClientIP: netip.MustParseAddr("192.0.2.1"), Locale: "zh-Hans"})
	return err
}

// closedEndpoint returns a loopback URL on which nothing listens.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestAttackOutcomeCooldownRefund drives every class of provider failure
// through otp.Service and the real SDK. After a definite failure the
// user may request a code again at once, and no counter but the
// per-client one is spent. After an unknown outcome the cooldown and the
// counters stay, because the message may still arrive. The stand-in sees exactly one
// request per Issue: nothing is resent.
func TestAttackOutcomeCooldownRefund(t *testing.T) {
	tests := []struct {
		name     string
		fault    *tencenttest.Fault
		failCode string // a SendStatus failure for the number
		endpoint string // "closed": nothing listens
		outcome  otp.SendOutcome
	}{
		{name: "request error, daily limit", fault: &tencenttest.Fault{Kind: tencenttest.FaultError, Code: "LimitExceeded.PhoneNumberDailyLimit"}, outcome: otp.OutcomeNotSent},
		{name: "request error, signature", fault: &tencenttest.Fault{Kind: tencenttest.FaultError, Code: "AuthFailure.SignatureFailure"}, outcome: otp.OutcomeNotSent},
		{name: "request error, balance", fault: &tencenttest.Fault{Kind: tencenttest.FaultError, Code: "FailedOperation.InsufficientBalanceInSmsPackage"}, outcome: otp.OutcomeNotSent},
		{name: "status, blocklist", failCode: "FailedOperation.PhoneNumberInBlacklist", outcome: otp.OutcomeNotSent},
		{name: "status, region", failCode: "UnsupportedOperation.UnsupportedRegion", outcome: otp.OutcomeNotSent},
		{name: "nothing listens", endpoint: "closed", outcome: otp.OutcomeNotSent},
		{name: "request error, Tencent timeout", fault: &tencenttest.Fault{Kind: tencenttest.FaultError, Code: "InternalError.Timeout"}, outcome: otp.OutcomeUnknown},
		{name: "status, Tencent timeout", failCode: "InternalError.SendAndRecvFail", outcome: otp.OutcomeUnknown},
		{name: "HTTP 502", fault: &tencenttest.Fault{Kind: tencenttest.FaultStatus}, outcome: otp.OutcomeUnknown},
		{name: "HTML", fault: &tencenttest.Fault{Kind: tencenttest.FaultHTML}, outcome: otp.OutcomeUnknown},
		{name: "empty body", fault: &tencenttest.Fault{Kind: tencenttest.FaultEmpty}, outcome: otp.OutcomeUnknown},
		{name: "8 MiB body", fault: &tencenttest.Fault{Kind: tencenttest.FaultHuge}, outcome: otp.OutcomeUnknown},
		{name: "hang", fault: &tencenttest.Fault{Kind: tencenttest.FaultHang}, outcome: otp.OutcomeUnknown},
		{name: "stall in body", fault: &tencenttest.Fault{Kind: tencenttest.FaultStall}, outcome: otp.OutcomeUnknown},
		{name: "connection reset", fault: &tencenttest.Fault{Kind: tencenttest.FaultReset}, outcome: otp.OutcomeUnknown},
		{name: "status for another number", fault: &tencenttest.Fault{Kind: tencenttest.FaultBody,
			Body: statusSet(status("+8613900139000", "FailedOperation.PhoneNumberInBlacklist"))}, outcome: otp.OutcomeUnknown},
		{name: "error without request ID", fault: &tencenttest.Fault{Kind: tencenttest.FaultBody,
			Body: []byte(`{"Response":{"Error":{"Code":"LimitExceeded.PhoneNumberDailyLimit"}}}`)}, outcome: otp.OutcomeUnknown},
	}
	for _, tt := range tests {
		srv := newServer(t)
		opts := tencent.Options{Timeout: 300 * time.Millisecond}
		if tt.endpoint == "closed" {
			opts.Endpoint = closedEndpoint(t)
		}
		s := newSender(t, srv, opts)
		clock := multitest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		svc := newService(t, s, clock, nil, func(c *otp.Config) {
			c.Limits.PhoneHourly = 1
			c.Limits.ClientHourly = 3
		})
		phone, err := svc.ParsePhone(testPhone)
		if err != nil {
			t.Fatal(err)
		}
		if tt.fault != nil {
			srv.SetFault(*tt.fault)
		}
		if tt.failCode != "" {
			srv.FailNumber(testPhone, tt.failCode, "failed")
		}

		err = issueCode(svc, phone, otp.SignIn)
		var se *otp.SendError
		if !errors.As(err, &se) {
			t.Errorf("%s: Issue = %v, want *otp.SendError", tt.name, err)
			continue
		}
		if se.Outcome != tt.outcome {
			t.Errorf("%s: outcome %s, want %s (%v)", tt.name, se.Outcome, tt.outcome, err)
		}
		wantRequests := 1
		if tt.endpoint == "closed" {
			wantRequests = 0
		}
		if n := countRequests(srv, testPhone); n != wantRequests {
			t.Errorf("%s: %d SendSms requests for the number, want %d", tt.name, n, wantRequests)
		}

		srv.ClearFault()
		srv.FailNumber(testPhone, "", "")
		err = issueCode(svc, phone, otp.SignIn)
		if tt.outcome == otp.OutcomeNotSent {
			if tt.endpoint != "closed" && err != nil {
				t.Errorf("%s: Issue right after a definite failure = %v, want a send", tt.name, err)
			}
			continue
		}
		var le *otp.LimitError
		if !errors.As(err, &le) || le.Limit != otp.LimitCooldown {
			t.Errorf("%s: Issue right after an unknown outcome = %v, want the cooldown", tt.name, err)
		}
		clock.Advance(otp.DefaultResendCooldown)
		err = issueCode(svc, phone, otp.SignIn)
		if !errors.As(err, &le) || le.Limit != otp.LimitPhoneHourly {
			t.Errorf("%s: Issue after the cooldown = %v, want the per-number limit, still charged", tt.name, err)
		}
		if n := countRequests(srv, testPhone); n != 1 {
			t.Errorf("%s: %d SendSms requests for the number in all, want 1", tt.name, n)
		}
	}
}

func TestAttackCostlyNumbersZeroRequests(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	svc := newService(t, s, multitest.NewClock(time.Now()), nil, func(c *otp.Config) { c.AllowAllRegions = true })
	for _, number := range []string{
		"+449012345678", "+19002345678", "+979123456789", "+864001234567", "+80812345678", "+448001234567",
		"+18002345678", "+80012345678", "+445512345678", "+883510012345", "+447640123456", "+861012345678",
		"+881612345678", "+870301234567", "+8823421234", "+8614012345678", "+447700900123", "+12015550123",
	} {
		if _, err := svc.ParsePhone(number); err == nil {
			t.Errorf("ParsePhone(%s): no error, want one", number)
		}
		if p, err := otp.ParsePhone(number, ""); err == nil {
			if err := issueCode(svc, p, otp.SignIn); err == nil {
				t.Errorf("Issue(%s): no error, want a refusal before any send", number)
			}
		}
	}
	if n := srv.Requests("SendSms"); n != 0 {
		t.Errorf("%d SendSms requests reached the stand-in for costly numbers, want 0", n)
	}
}

func TestAttackTemplateParameterIsOnlyTheCode(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	clock := multitest.NewClock(time.Now())
	svc := newService(t, s, clock, nil, func(c *otp.Config) {
		c.Limits = otp.Limits{ResendCooldown: time.Second, PhoneHourly: 1000, PhoneDaily: 1000, ClientHourly: 1000,
			PrefixHourly: 1000, CountryHourly: 1000, GlobalDaily: 1000}
	})
	phone, err := svc.ParsePhone("+86 138-0013-8000")
	if err != nil {
		t.Fatal(err)
	}
	templates := map[otp.Purpose]string{
		otp.Register: fmt.Sprint(tencenttest.TemplateRegister), otp.SignIn: fmt.Sprint(tencenttest.TemplateSignIn),
		otp.ForgotPassword: fmt.Sprint(tencenttest.TemplateForgotPassword), otp.Generic: fmt.Sprint(tencenttest.TemplateGeneric),
	}
	sixDigits := regexp.MustCompile(`^[0-9]{6}$`)
	for i := range 60 {
		purpose := otp.Purposes()[i%4]
		if err := issueCode(svc, phone, purpose); err != nil {
			t.Fatalf("Issue #%d: %v", i, err)
		}
		clock.Advance(time.Second)
	}
	reqs := srv.SendRequests()
	if len(reqs) != 60 {
		t.Fatalf("stand-in received %d SendSms requests, want 60", len(reqs))
	}
	for i, m := range reqs {
		if len(m.Params) != 1 || !sixDigits.MatchString(m.Params[0]) {
			t.Errorf("request #%d: template parameters %q, want one parameter of 6 digits", i, m.Params)
		}
		if m.Phone != testPhone {
			t.Errorf("request #%d: number %q, want %s", i, m.Phone, testPhone)
		}
		if want := templates[otp.Purposes()[i%4]]; m.TemplateID != want || m.SignName != tencenttest.DefaultSignName {
			t.Errorf("request #%d: template %s, signature %q; want %s, %q", i, m.TemplateID, m.SignName, want, tencenttest.DefaultSignName)
		}
	}
}

// TestAttackLogsHideSecrets runs the flows of a site through otp.Service
// and the Tencent sender, with a stand-in that echoes requests in its
// errors, and checks every record that either logs.
func TestAttackLogsHideSecrets(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the time's digits could match a code
			}
			return a
		}}))
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Logger: logger, Timeout: 300 * time.Millisecond})
	clock := multitest.NewClock(time.Now())
	svc := newService(t, s, clock, logger, func(c *otp.Config) {
		c.Limits = otp.Limits{ResendCooldown: time.Second, PhoneHourly: 1000, PhoneDaily: 1000, ClientHourly: 1000,
			PrefixHourly: 1000, CountryHourly: 1000, GlobalDaily: 1000}
	})
	phone, err := svc.ParsePhone(testPhone)
	if err != nil {
		t.Fatal(err)
	}
	echo := "number " + testPhone + " / 138 0013 8000, key " + tencenttest.DefaultSecretKey
	faults := []tencenttest.Fault{
		{Kind: tencenttest.FaultError, Code: "FailedOperation.OtherError", Message: echo, EchoRequest: true},
		{Kind: tencenttest.FaultError, Code: "InternalError.Timeout", Message: echo, EchoRequest: true},
		{Kind: tencenttest.FaultBody, Body: []byte(`{"Response":{"SendStatusSet":[{"PhoneNumber":"` + testPhone +
			`","Code":"LimitExceeded\n{\"level\":\"ERROR\",\"msg\":\"forged\"}"}],"RequestId":"x\ny"}}`)},
		{Kind: tencenttest.FaultBody, Body: statusSet(status("+8613900139000", "Ok"))},
		{Kind: tencenttest.FaultBody, Status: 302, Header: map[string][]string{"Location": {"http://127.0.0.1:1/" + testPhone}}},
		{Kind: tencenttest.FaultStatus}, {Kind: tencenttest.FaultHTML}, {Kind: tencenttest.FaultEmpty},
		{Kind: tencenttest.FaultHuge}, {Kind: tencenttest.FaultHang}, {Kind: tencenttest.FaultStall},
		{Kind: tencenttest.FaultReset},
	}
	for _, f := range faults {
		srv.SetFault(f)
		issueCode(svc, phone, otp.SignIn)
		clock.Advance(otp.DefaultResendCooldown)
	}
	srv.ClearFault()
	srv.FailNumber(testPhone, "FailedOperation.PhoneNumberInBlacklist", echo)
	issueCode(svc, phone, otp.Register)
	srv.FailNumber(testPhone, "", "")
	clock.Advance(otp.DefaultResendCooldown)
	if err := issueCode(svc, phone, otp.SignIn); err != nil {
		t.Fatalf("Issue after the faults: %v", err)
	}
	code, _ := srv.LastCode(testPhone)
	svc.Verify(context.Background(), otp.VerifyRequest{Phone: phone, Purpose: otp.SignIn, Code: "000000"})
	svc.Verify(context.Background(), otp.VerifyRequest{Phone: phone, Purpose: otp.SignIn, Code: code})

	var codes []string
	for _, m := range srv.SendRequests() {
		codes = append(codes, m.Params...)
	}
	if len(codes) < len(faults) {
		t.Fatalf("stand-in saw %d codes, want at least %d", len(codes), len(faults))
	}
	records := decodeRecords(t, buf.String())
	if len(records) < len(faults) {
		t.Fatalf("%d log records, want at least one per fault", len(records))
	}
	signature := regexp.MustCompile(`[0-9a-f]{64}`)
	hexRun := regexp.MustCompile(`[0-9a-fA-F]{8,}`)
	for _, rec := range records {
		for _, v := range rec {
			for _, secret := range []string{tencenttest.DefaultSecretKey, "13800138000", "138 0013 8000"} {
				if strings.Contains(v, secret) {
					t.Errorf("log value %q contains %q", v, secret)
				}
			}
			// Request and challenge IDs are hexadecimal, where six given
			// digits occur by chance; codes are looked for outside them.
			rest := hexRun.ReplaceAllString(v, "<hex>")
			for _, code := range codes {
				if strings.Contains(rest, code) {
					t.Errorf("log value %q contains the code %s", v, code)
				}
			}
			if signature.MatchString(v) {
				t.Errorf("log value %q contains a hexadecimal string as long as a TC3 signature", v)
			}
			if i := strings.IndexFunc(v, unsafeRune); i >= 0 {
				t.Errorf("log value %q contains the control character %U", v, []rune(v[i:])[0])
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
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

// decodeRecords parses JSON log lines and returns, for each record, every
// key and value as text.
func decodeRecords(t *testing.T, logs string) [][]string {
	t.Helper()
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		var texts []string
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					texts = append(texts, k)
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			case string:
				texts = append(texts, v)
			default:
				texts = append(texts, fmt.Sprint(v))
			}
		}
		walk(rec)
		out = append(out, texts)
	}
	return out
}
