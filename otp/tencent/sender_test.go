package tencent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

const testPhone = "+8613800138000"

func newServer(t *testing.T) *tencenttest.Server {
	t.Helper()
	srv := tencenttest.NewServer(tencenttest.Options{MaxHang: 5 * time.Second})
	t.Cleanup(srv.Close)
	return srv
}

func newSender(t *testing.T, srv *tencenttest.Server, opts tencent.Options) *tencent.Sender {
	t.Helper()
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		t.Fatalf("ParseConfig(stand-in JSON): %v", err)
	}
	if opts.Endpoint == "" {
		opts.Endpoint = srv.URL
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := tencent.New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.CloseIdleConnections)
	return s
}

func send(s *tencent.Sender, purpose otp.Purpose, code string) error {
	return s.Send(context.Background(), otp.Message{Phone: testPhone, Code: code, Purpose: purpose, Locale: "zh-Hans"})
}

func wantSendError(t *testing.T, call string, err error, reason otp.SendReason, outcome otp.SendOutcome) *otp.SendError {
	t.Helper()
	var se *otp.SendError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v, want *otp.SendError", call, err)
	}
	if se.Reason != reason || se.Outcome != outcome {
		t.Errorf("%s: %s, %s; want %s, %s (error %v)", call, se.Reason, se.Outcome, reason, outcome, err)
	}
	if se.Provider != tencent.Provider {
		t.Errorf("%s: Provider %q, want %q", call, se.Provider, tencent.Provider)
	}
	return se
}

func TestSendSuccess(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	if err := send(s, otp.SignIn, "012345"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("stand-in recorded %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	want := tencenttest.Message{Phone: testPhone, TemplateID: fmt.Sprint(tencenttest.TemplateSignIn),
		SignName: tencenttest.DefaultSignName, SDKAppID: tencenttest.DefaultSDKAppID}
	if m.Phone != want.Phone || m.TemplateID != want.TemplateID || m.SignName != want.SignName || m.SDKAppID != want.SDKAppID {
		t.Errorf("sent %+v, want phone, template, sign and app ID of %+v", m, want)
	}
	if len(m.Params) != 1 || m.Params[0] != "012345" {
		t.Errorf("sent template parameters %q, want only the code [012345]", m.Params)
	}
	if code, ok := srv.LastCode(testPhone); !ok || code != "012345" {
		t.Errorf("LastCode = %q, %v; want 012345", code, ok)
	}
}

func TestSendFallsBackToGeneric(t *testing.T) {
	srv := newServer(t)
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		t.Fatal(err)
	}
	var kept []tencent.Template
	for _, tm := range cfg.Templates {
		if tm.UsageType != "Register" {
			kept = append(kept, tm)
		}
	}
	cfg.Templates = kept
	s, err := tencent.New(cfg, tencent.Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := s.TemplateFor(otp.Register); id != fmt.Sprint(tencenttest.TemplateGeneric) {
		t.Errorf("TemplateFor(Register) = %s, want the Generic template %d", id, tencenttest.TemplateGeneric)
	}
	if err := send(s, otp.Register, "123456"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages()[0].TemplateID; got != fmt.Sprint(tencenttest.TemplateGeneric) {
		t.Errorf("Register sent with template %s, want Generic %d", got, tencenttest.TemplateGeneric)
	}
}

func TestSendFailedNumberInHTTP200(t *testing.T) {
	tests := []struct {
		code    string
		reason  otp.SendReason
		outcome otp.SendOutcome
	}{
		{"LimitExceeded.PhoneNumberDailyLimit", otp.ReasonRateLimited, otp.OutcomeNotSent},
		{"LimitExceeded.PhoneNumberThirtySecondLimit", otp.ReasonRateLimited, otp.OutcomeNotSent},
		{"InvalidParameterValue.IncorrectPhoneNumber", otp.ReasonInvalidNumber, otp.OutcomeNotSent},
		{"FailedOperation.PhoneNumberInBlacklist", otp.ReasonInvalidNumber, otp.OutcomeNotSent},
		{"FailedOperation.InsufficientBalanceInSmsPackage", otp.ReasonInsufficientBalance, otp.OutcomeNotSent},
		{"UnsupportedOperation.UnsuportedRegion", otp.ReasonUnsupportedRegion, otp.OutcomeNotSent},
		{"InternalError.Timeout", otp.ReasonUnavailable, otp.OutcomeUnknown},
		{"FailedOperation.SomethingNew", otp.ReasonUnknown, otp.OutcomeNotSent},
	}
	for _, tt := range tests {
		srv := newServer(t)
		s := newSender(t, srv, tencent.Options{})
		srv.FailNumber(testPhone, tt.code, "failed for "+testPhone)
		err := send(s, otp.SignIn, "123456")
		se := wantSendError(t, "Send with status "+tt.code, err, tt.reason, tt.outcome)
		if se.Code != tt.code {
			t.Errorf("Send with status %s: Code %q", tt.code, se.Code)
		}
		if se.RequestID == "" {
			t.Errorf("Send with status %s: empty RequestID", tt.code)
		}
		if strings.Contains(err.Error(), "13800138000") {
			t.Errorf("Send with status %s: error %q contains the phone number", tt.code, err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("Send with status %s: stand-in recorded %d messages, want 0", tt.code, n)
		}
	}
}

func TestSendRequestErrors(t *testing.T) {
	tests := []struct {
		code    string
		reason  otp.SendReason
		outcome otp.SendOutcome
	}{
		{"AuthFailure.SecretIdNotFound", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"AuthFailure.SignatureExpire", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"UnauthorizedOperation.SmsSdkAppIdVerifyFail", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"FailedOperation.TemplateIncorrectOrUnapproved", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"FailedOperation.SignatureIncorrectOrUnapproved", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"FailedOperation.InsufficientBalanceInSmsPackage", otp.ReasonInsufficientBalance, otp.OutcomeNotSent},
		{"UnauthorizedOperation.SerivceSuspendDueToArrears", otp.ReasonInsufficientBalance, otp.OutcomeNotSent},
		{"LimitExceeded.AppDailyLimit", otp.ReasonRateLimited, otp.OutcomeNotSent},
		{"RequestLimitExceeded", otp.ReasonRateLimited, otp.OutcomeNotSent},
		{"InternalError.Timeout", otp.ReasonUnavailable, otp.OutcomeUnknown},
		{"InternalError.SendAndRecvFail", otp.ReasonUnavailable, otp.OutcomeUnknown},
		{"InternalError", otp.ReasonUnavailable, otp.OutcomeUnknown},
		{"InternalError.RequestTimeException", otp.ReasonMisconfigured, otp.OutcomeNotSent},
		{"InvalidParameterValue.TemplateParameterFormatError", otp.ReasonMisconfigured, otp.OutcomeNotSent},
	}
	for _, tt := range tests {
		srv := newServer(t)
		s := newSender(t, srv, tencent.Options{})
		srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Code: tt.code, Message: "refused"})
		err := send(s, otp.SignIn, "123456")
		se := wantSendError(t, "Send with error "+tt.code, err, tt.reason, tt.outcome)
		if se.Code != tt.code || se.RequestID == "" || se.Message != "refused" {
			t.Errorf("Send with error %s: code %q, request ID %q, message %q; want Tencent's", tt.code, se.Code, se.RequestID, se.Message)
		}
		if n := srv.Requests("SendSms"); n != 1 {
			t.Errorf("Send with error %s: %d requests, want 1 (no retry)", tt.code, n)
		}
	}
}

func TestSendRealRequestErrors(t *testing.T) {
	// Errors that the stand-in finds in the request itself, not injected.
	srv := newServer(t)
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(*tencent.Config)
		before func()
		code   string
	}{
		{"wrong secret", func(c *tencent.Config) { c.AccessKeySecret = "another-secret-key" }, nil, "AuthFailure.SignatureFailure"},
		{"unknown key ID", func(c *tencent.Config) { c.AccessKeyID = "AKIDunknown000000000000000000" }, nil, "AuthFailure.SecretIdNotFound"},
		{"wrong app ID", func(c *tencent.Config) { c.SDKAppID = "1400999999" }, nil, "UnauthorizedOperation.SmsSdkAppIdVerifyFail"},
		{"unapproved sign", func(c *tencent.Config) { c.SignName = "Unknown" }, nil, "FailedOperation.SignatureIncorrectOrUnapproved"},
		{"template under review", nil, func() {
			srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateSignIn, Content: "Code {1}", Status: tencenttest.StatusReview, UsageType: "SignIn"})
		}, "FailedOperation.TemplateIncorrectOrUnapproved"},
	}
	for _, tt := range tests {
		c := cfg
		if tt.edit != nil {
			tt.edit(&c)
		}
		if tt.before != nil {
			tt.before()
		}
		s, err := tencent.New(c, tencent.Options{Endpoint: srv.URL, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("New(%s): %v", tt.name, err)
		}
		err = send(s, otp.SignIn, "123456")
		se := wantSendError(t, "Send("+tt.name+")", err, otp.ReasonMisconfigured, otp.OutcomeNotSent)
		if se.Code != tt.code {
			t.Errorf("Send(%s): code %q, want %q", tt.name, se.Code, tt.code)
		}
		if strings.Contains(err.Error(), c.AccessKeySecret) {
			t.Errorf("Send(%s): error %q contains the secret", tt.name, err)
		}
		s.CloseIdleConnections()
	}
}

func TestSendBrokenAnswers(t *testing.T) {
	tests := []struct {
		name  string
		fault tencenttest.Fault
		want  string
	}{
		{"502", tencenttest.Fault{Kind: tencenttest.FaultStatus, Status: 502}, "HTTP status 502"},
		{"503", tencenttest.Fault{Kind: tencenttest.FaultStatus, Status: 503}, "HTTP status 503"},
		{"HTML", tencenttest.Fault{Kind: tencenttest.FaultHTML}, "not Tencent's JSON"},
		{"empty", tencenttest.Fault{Kind: tencenttest.FaultEmpty}, "not Tencent's JSON"},
		{"huge", tencenttest.Fault{Kind: tencenttest.FaultHuge}, "larger than 1 MiB"},
	}
	for _, tt := range tests {
		srv := newServer(t)
		s := newSender(t, srv, tencent.Options{})
		srv.SetFault(tt.fault)
		err := send(s, otp.SignIn, "123456")
		se := wantSendError(t, "Send("+tt.name+")", err, otp.ReasonUnavailable, otp.OutcomeUnknown)
		if !strings.Contains(se.Error(), tt.want) {
			t.Errorf("Send(%s): error %q, want it to contain %q", tt.name, se, tt.want)
		}
		if strings.Contains(se.Error(), "<html") || strings.Contains(se.Error(), "xxxx") {
			t.Errorf("Send(%s): error %q contains the body", tt.name, se)
		}
		if n := srv.Requests("SendSms"); n != 1 {
			t.Errorf("Send(%s): %d requests, want 1 (no retry)", tt.name, n)
		}
	}
}

func TestSendHangBoundedByTimeout(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Timeout: 200 * time.Millisecond})
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultHang})
	start := time.Now()
	err := send(s, otp.SignIn, "123456")
	elapsed := time.Since(start)
	se := wantSendError(t, "Send(hang)", err, otp.ReasonUnavailable, otp.OutcomeUnknown)
	if !errors.Is(se, context.DeadlineExceeded) {
		t.Errorf("Send(hang): %v, want it to wrap context.DeadlineExceeded", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("Send(hang) took %s, want about the 200ms timeout", elapsed)
	}
}

func TestSendHangBoundedByContext(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Timeout: 5 * time.Second})
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultHang})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	err := s.Send(ctx, otp.Message{Phone: testPhone, Code: "123456", Purpose: otp.SignIn})
	elapsed := time.Since(start)
	wantSendError(t, "Send(hang, cancelled)", err, otp.ReasonUnavailable, otp.OutcomeUnknown)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send(hang, cancelled): %v, want it to wrap context.Canceled", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("Send(hang, cancelled) took %s, want about 150ms", elapsed)
	}
}

func TestSendNoConnectionIsNotSent(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL
	srv.Close() // nothing listens any more
	s, err := tencent.New(cfg, tencent.Options{Endpoint: url, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = send(s, otp.SignIn, "123456")
	wantSendError(t, "Send(closed port)", err, otp.ReasonUnavailable, otp.OutcomeNotSent)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Send(ctx, otp.Message{Phone: testPhone, Code: "123456", Purpose: otp.SignIn})
	wantSendError(t, "Send(cancelled before start)", err, otp.ReasonUnavailable, otp.OutcomeNotSent)
}

func TestSendRejectsBadMessages(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Purposes: []otp.Purpose{otp.SignIn}})
	for _, m := range []otp.Message{
		{Phone: testPhone, Code: "1234567", Purpose: otp.SignIn},
		{Phone: testPhone, Code: "12a456", Purpose: otp.SignIn},
		{Phone: testPhone, Code: "", Purpose: otp.SignIn},
		{Phone: testPhone, Code: "123456", Purpose: otp.Register},
	} {
		err := s.Send(context.Background(), m)
		wantSendError(t, fmt.Sprintf("Send(%v)", m), err, otp.ReasonMisconfigured, otp.OutcomeNotSent)
	}
	if n := srv.Requests(""); n != 0 {
		t.Errorf("%d requests reached the stand-in, want 0", n)
	}
}

func TestErrorsHideSecretsCodesAndPhones(t *testing.T) {
	srv := newServer(t)
	var logs bytes.Buffer
	s := newSender(t, srv, tencent.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cfg, _ := tencent.ParseConfig(srv.ConnectorJSON())
	echo := fmt.Sprintf("secret %s id %s code 654321 phone %s national 13800138000",
		cfg.AccessKeySecret, cfg.AccessKeyID, testPhone)

	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Code: "FailedOperation.OtherError", Message: echo})
	err1 := send(s, otp.SignIn, "654321")
	srv.ClearFault()
	srv.FailNumber(testPhone, "FailedOperation.PhoneNumberInBlacklist", echo)
	err2 := send(s, otp.SignIn, "654321")

	for _, err := range []error{err1, err2} {
		if err == nil {
			t.Fatal("Send: no error, want one")
		}
		for _, secret := range []string{cfg.AccessKeySecret, cfg.AccessKeyID, "654321", "13800138000"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
	if strings.Contains(logs.String(), cfg.AccessKeySecret) || strings.Contains(logs.String(), "654321") {
		t.Errorf("logs contain a secret or code: %s", logs.String())
	}
	for _, v := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.LogValue().String()} {
		if strings.Contains(v, cfg.AccessKeySecret) {
			t.Errorf("formatted Config %q contains the secret", v)
		}
	}
}

func TestSendConcurrent(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Send(context.Background(), otp.Message{
				Phone: fmt.Sprintf("+86138001380%02d", i), Code: fmt.Sprintf("%06d", i), Purpose: otp.SignIn})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Send: %v", err)
		}
	}
	for i := range n {
		phone := fmt.Sprintf("+86138001380%02d", i)
		if code, _ := srv.LastCode(phone); code != fmt.Sprintf("%06d", i) {
			t.Errorf("LastCode(%s) = %q, want %06d (calls mixed up)", phone, code, i)
		}
	}
}

func TestSendLeavesNoGoroutines(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Timeout: 100 * time.Millisecond})
	before := runtime.NumGoroutine()
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultHang})
	for range 5 {
		send(s, otp.SignIn, "123456")
	}
	srv.ClearFault()
	for range 5 {
		if err := send(s, otp.SignIn, "123456"); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after sends and CloseIdleConnections\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewKeepsStandardLogFlags(t *testing.T) {
	flags := log.Flags()
	defer log.SetFlags(flags)
	log.SetFlags(log.Ldate)
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	if err := send(s, otp.SignIn, "123456"); err != nil {
		t.Fatal(err)
	}
	if got := log.Flags(); got != log.Ldate {
		t.Errorf("log.Flags() after Send = %d, want %d (the SDK's Init changes them)", got, log.Ldate)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	srv := newServer(t)
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		t.Fatal(err)
	}
	generic := cfg
	generic.Templates = []tencent.Template{{TemplateCode: "1", UsageType: "SignIn"}}
	tests := []struct {
		name string
		cfg  tencent.Config
		opts tencent.Options
		want string
	}{
		{"plain http to remote host", cfg, tencent.Options{Endpoint: "http://sms.example.com"}, "http is allowed only for loopback"},
		{"ftp", cfg, tencent.Options{Endpoint: "ftp://127.0.0.1"}, "scheme must be https"},
		{"path", cfg, tencent.Options{Endpoint: "https://sms.tencentcloudapi.com/v3"}, "scheme and host only"},
		{"no host", cfg, tencent.Options{Endpoint: "https://"}, "scheme and host only"},
		{"negative timeout", cfg, tencent.Options{Timeout: -time.Second}, "Timeout"},
		{"purpose without template", generic, tencent.Options{Purposes: []otp.Purpose{otp.SignIn, otp.Register}}, "no template for Register"},
		{"unknown purpose", cfg, tencent.Options{Purposes: []otp.Purpose{"Login"}}, "unknown purpose"},
		{"invalid config", tencent.Config{}, tencent.Options{}, "accessKeyId: empty"},
	}
	for _, tt := range tests {
		_, err := tencent.New(tt.cfg, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s): %v, want error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := tencent.New(generic, tencent.Options{Purposes: []otp.Purpose{otp.SignIn}}); err != nil {
		t.Errorf("New(SignIn only, SignIn template): %v", err)
	}
	for _, ep := range []string{"http://127.0.0.1:9110", "http://[::1]:9110", "http://localhost:9110", "https://sms.tencentcloudapi.com/"} {
		if _, err := tencent.New(cfg, tencent.Options{Endpoint: ep}); err != nil {
			t.Errorf("New(Endpoint %s): %v", ep, err)
		}
	}
}

func TestServiceWithTencentSender(t *testing.T) {
	srv := newServer(t)
	sender := newSender(t, srv, tencent.Options{})
	svc, err := otp.New(otp.Config{
		Key:           bytes.Repeat([]byte{7}, 32),
		Sender:        sender,
		DefaultRegion: "CN",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otp.New(otp.Config{Key: bytes.Repeat([]byte{7}, 32), Sender: sender, DefaultRegion: "CN", CodeLength: 8}); err == nil {
		t.Error("otp.New(CodeLength 8, Tencent sender): no error, want one")
	}
	ctx := context.Background()
	phone, err := svc.ParsePhone("138 0013 8000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.Register, ClientIP: netip.MustParseAddr("192.0.2.1")}); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	code, ok := srv.LastCode(phone.E164())
	if !ok {
		t.Fatal("stand-in has no code for the phone")
	}
	if err := svc.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: otp.Register, Code: code}); err != nil {
		t.Errorf("Verify(code from stand-in): %v", err)
	}

	// A definite failure lifts the cooldown; an unknown outcome keeps it.
	srv.FailNumber(phone.E164(), "FailedOperation.PhoneNumberInBlacklist", "blocked")
	_, err = svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.SignIn, ClientIP: netip.MustParseAddr("192.0.2.1")})
	if !errors.Is(err, otp.ErrSendFailed) {
		t.Fatalf("Issue(blocked number): %v, want ErrSendFailed", err)
	}
	srv.FailNumber(phone.E164(), "", "")
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Code: "InternalError.Timeout", Message: "timeout"})
	_, err = svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.SignIn, ClientIP: netip.MustParseAddr("192.0.2.1")})
	var se *otp.SendError
	if !errors.As(err, &se) || se.Outcome != otp.OutcomeUnknown {
		t.Fatalf("Issue(Tencent timeout): %v, want SendError with unknown outcome", err)
	}
	srv.ClearFault()
	_, err = svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.SignIn, ClientIP: netip.MustParseAddr("192.0.2.1")})
	if !errors.Is(err, otp.ErrRateLimited) {
		t.Errorf("Issue after unknown outcome: %v, want the cooldown", err)
	}
}

// TestSendTemplateRegion checks that a number abroad sent with a domestic
// template fails as misconfigured, as Tencent allows only international
// templates for numbers outside mainland China, and works with one.
func TestSendTemplateRegion(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	abroad := otp.Message{Phone: "+447911123456", Code: "123456", Purpose: otp.SignIn}
	err := s.Send(context.Background(), abroad)
	wantSendError(t, "Send(domestic template, UK number)", err, otp.ReasonMisconfigured, otp.OutcomeNotSent)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("stand-in accepted %d messages, want none", n)
	}

	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateSignIn, Content: "Your code is {1}.",
		Status: tencenttest.StatusApproved, International: true, UsageType: "SignIn"})
	srv.AddSign(tencenttest.Sign{ID: 9002, Name: tencenttest.DefaultSignName, Status: tencenttest.StatusApproved, International: true})
	if err := s.Send(context.Background(), abroad); err != nil {
		t.Errorf("Send(international template, UK number): %v", err)
	}
	err = send(s, otp.SignIn, "123456")
	wantSendError(t, "Send(international template, CN number)", err, otp.ReasonMisconfigured, otp.OutcomeNotSent)
}
