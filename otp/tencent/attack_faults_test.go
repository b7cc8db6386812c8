package tencent_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// classification is the reason and outcome that Send must report.
type classification struct {
	reason  otp.SendReason
	outcome otp.SendOutcome
}

var (
	notSent = func(r otp.SendReason) classification { return classification{r, otp.OutcomeNotSent} }
	unknown = classification{otp.ReasonUnavailable, otp.OutcomeUnknown}
)

// tencentCodes lists every error code of SendSms (API 2021-01-11, from
// the SmsErrorCode list of Tencent's SDKs) and every common error code of
// Tencent Cloud API 3.0, with the class Send must give each. Codes of
// InternalError leave the outcome unknown, because Tencent may have
// handed the message to a carrier; every other code is a refusal.
var tencentCodes = []struct {
	code string
	want classification
}{
	{"FailedOperation.ContainSensitiveWord", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.FailResolvePacket", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.InsufficientBalanceInSmsPackage", notSent(otp.ReasonInsufficientBalance)},
	{"FailedOperation.JsonParseFail", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.MarketingSendTimeConstraint", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.MissingSignature", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.MissingSignatureList", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.MissingTemplateList", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.NotEnterpriseCertification", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.OtherError", notSent(otp.ReasonUnknown)},
	{"FailedOperation.ParametersOtherError", notSent(otp.ReasonUnknown)},
	{"FailedOperation.PhoneNumberInBlacklist", notSent(otp.ReasonInvalidNumber)},
	{"FailedOperation.PhoneNumberParseFail", notSent(otp.ReasonInvalidNumber)},
	{"FailedOperation.ProhibitSubAccountUse", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.SignIdNotExist", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.SignatureIncorrectOrUnapproved", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.TemplateIdNotExist", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.TemplateIncorrectOrUnapproved", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.TemplateParamSetNotMatchApprovedTemplate", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation.TemplateUnapprovedOrNotExist", notSent(otp.ReasonMisconfigured)},
	{"InternalError", unknown},
	{"InternalError.JsonParseFail", notSent(otp.ReasonMisconfigured)},
	{"InternalError.OtherError", unknown},
	{"InternalError.ParseBackendResponseFail", unknown},
	{"InternalError.RequestTimeException", notSent(otp.ReasonMisconfigured)},
	{"InternalError.RestApiInterfaceNotExist", notSent(otp.ReasonMisconfigured)},
	{"InternalError.SendAndRecvFail", unknown},
	{"InternalError.SigFieldMissing", notSent(otp.ReasonMisconfigured)},
	{"InternalError.SigVerificationFail", notSent(otp.ReasonMisconfigured)},
	{"InternalError.Timeout", unknown},
	{"InternalError.UnknownError", unknown},
	{"InvalidParameter", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameter.AppidAndBizId", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameter.DirtyWordFound", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameter.InvalidParameters", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue.ContentLengthLimit", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue.IncorrectPhoneNumber", notSent(otp.ReasonInvalidNumber)},
	{"InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue.SdkAppIdNotExist", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue.TemplateParameterFormatError", notSent(otp.ReasonMisconfigured)},
	{"InvalidParameterValue.TemplateParameterLengthLimit", notSent(otp.ReasonMisconfigured)},
	{"LimitExceeded", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.AppCountryOrRegionDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.AppCountryOrRegionInBlacklist", notSent(otp.ReasonUnsupportedRegion)},
	{"LimitExceeded.AppDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.AppGlobalDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.AppMainlandChinaDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.DailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.DeliveryFrequencyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.PhoneNumberCountLimit", notSent(otp.ReasonUnknown)},
	{"LimitExceeded.PhoneNumberDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.PhoneNumberOneHourLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.PhoneNumberSameContentDailyLimit", notSent(otp.ReasonRateLimited)},
	{"LimitExceeded.PhoneNumberThirtySecondLimit", notSent(otp.ReasonRateLimited)},
	{"MissingParameter", notSent(otp.ReasonMisconfigured)},
	{"MissingParameter.EmptyPhoneNumberSet", notSent(otp.ReasonUnknown)},
	{"UnauthorizedOperation", notSent(otp.ReasonMisconfigured)},
	{"UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny", notSent(otp.ReasonMisconfigured)},
	{"UnauthorizedOperation.RequestIpNotInWhitelist", notSent(otp.ReasonMisconfigured)},
	{"UnauthorizedOperation.RequestPermissionDeny", notSent(otp.ReasonMisconfigured)},
	{"UnauthorizedOperation.SdkAppIdIsDisabled", notSent(otp.ReasonMisconfigured)},
	{"UnauthorizedOperation.SerivceSuspendDueToArrears", notSent(otp.ReasonInsufficientBalance)},
	{"UnauthorizedOperation.ServiceSuspendDueToArrears", notSent(otp.ReasonInsufficientBalance)},
	{"UnauthorizedOperation.SmsSdkAppIdVerifyFail", notSent(otp.ReasonMisconfigured)},
	{"UnsupportedOperation", notSent(otp.ReasonUnknown)},
	{"UnsupportedOperation.", notSent(otp.ReasonUnknown)},
	{"UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone", notSent(otp.ReasonUnsupportedRegion)},
	{"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber", notSent(otp.ReasonUnsupportedRegion)},
	{"UnsupportedOperation.GlobalTemplateToChineseMainlandPhone", notSent(otp.ReasonUnsupportedRegion)},
	{"UnsupportedOperation.UnsuportedRegion", notSent(otp.ReasonUnsupportedRegion)},
	{"UnsupportedOperation.UnsupportedRegion", notSent(otp.ReasonUnsupportedRegion)},

	// Common error codes of Tencent Cloud API 3.0.
	{"ActionOffline", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.InvalidAuthorization", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.InvalidSecretId", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.MFAFailure", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.SecretIdNotFound", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.SignatureExpire", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.SignatureFailure", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.TokenFailure", notSent(otp.ReasonMisconfigured)},
	{"AuthFailure.UnauthorizedOperation", notSent(otp.ReasonMisconfigured)},
	{"DryRunOperation", notSent(otp.ReasonMisconfigured)},
	{"FailedOperation", notSent(otp.ReasonUnknown)},
	{"InvalidAction", notSent(otp.ReasonMisconfigured)},
	{"InvalidRequest", notSent(otp.ReasonMisconfigured)},
	{"IpInBlacklist", notSent(otp.ReasonMisconfigured)},
	{"IpNotInWhitelist", notSent(otp.ReasonMisconfigured)},
	{"NoSuchProduct", notSent(otp.ReasonMisconfigured)},
	{"NoSuchVersion", notSent(otp.ReasonMisconfigured)},
	{"RequestLimitExceeded", notSent(otp.ReasonRateLimited)},
	{"RequestLimitExceeded.GlobalRegionUinLimitExceeded", notSent(otp.ReasonRateLimited)},
	{"RequestLimitExceeded.IPLimitExceeded", notSent(otp.ReasonRateLimited)},
	{"RequestLimitExceeded.UinLimitExceeded", notSent(otp.ReasonRateLimited)},
	{"RequestSizeLimitExceeded", notSent(otp.ReasonMisconfigured)},
	{"ResourceInUse", notSent(otp.ReasonUnavailable)},
	{"ResourceInsufficient", notSent(otp.ReasonInsufficientBalance)},
	{"ResourceNotFound", notSent(otp.ReasonMisconfigured)},
	{"ResourceUnavailable", notSent(otp.ReasonUnavailable)},
	{"ResponseSizeLimitExceeded", unknown},
	{"ServiceUnavailable", notSent(otp.ReasonUnavailable)},
	{"UnknownParameter", notSent(otp.ReasonMisconfigured)},
	{"UnsupportedProtocol", notSent(otp.ReasonMisconfigured)},
	{"UnsupportedRegion", notSent(otp.ReasonMisconfigured)},
}

// wantOneRequest fails unless exactly one SendSms request reached srv for
// testPhone since the count was before.
func wantOneRequest(t *testing.T, call string, srv *tencenttest.Server, before int) {
	t.Helper()
	if n := countRequests(srv, testPhone) - before; n != 1 {
		t.Errorf("%s: %d SendSms requests for the number, want exactly 1 (no retry)", call, n)
	}
}

func countRequests(srv *tencenttest.Server, phone string) int {
	n := 0
	for _, m := range srv.SendRequests() {
		if m.Phone == phone {
			n++
		}
	}
	return n
}

// wantCleanError fails if the text of err or any field of its
// *otp.SendError holds the code, the secret, the full number, a control
// character or a bidirectional control.
func wantCleanError(t *testing.T, call string, err error, code string) {
	t.Helper()
	var se *otp.SendError
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v, want *otp.SendError", call, err)
	}
	for name, v := range map[string]string{"Error()": err.Error(), "Code": se.Code, "RequestID": se.RequestID, "Message": se.Message} {
		for _, secret := range []string{code, tencenttest.DefaultSecretKey, "13800138000"} {
			if strings.Contains(v, secret) {
				t.Errorf("%s: %s %q contains %q", call, name, v, secret)
			}
		}
		if i := strings.IndexFunc(v, unsafeRune); i >= 0 {
			t.Errorf("%s: %s %q has the control character %U", call, name, v, []rune(v[i:])[0])
		}
	}
	if len(se.Code) > 100 || len(se.RequestID) > 100 {
		t.Errorf("%s: Code of %d bytes and RequestID of %d bytes, want at most 100 each", call, len(se.Code), len(se.RequestID))
	}
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

func TestAttackErrorCodeClasses(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	for _, tt := range tencentCodes {
		for _, where := range []string{"request", "status"} {
			call := fmt.Sprintf("Send with %s error %s", where, tt.code)
			if where == "request" {
				srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Code: tt.code, Message: "refused"})
			} else {
				srv.ClearFault()
				srv.FailNumber(testPhone, tt.code, "refused")
			}
			before := countRequests(srv, testPhone)
			err := send(s, otp.SignIn, "123456")
			se := wantSendError(t, call, err, tt.want.reason, tt.want.outcome)
			if se.Code != tt.code {
				t.Errorf("%s: Code %q, want %q", call, se.Code, tt.code)
			}
			if se.RequestID == "" {
				t.Errorf("%s: empty RequestID, want Tencent's", call)
			}
			wantOneRequest(t, call, srv, before)
			srv.FailNumber(testPhone, "", "")
		}
	}
	srv.ClearFault()
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("stand-in accepted %d messages, want 0", n)
	}
}

// statusSet returns a SendSms response body whose SendStatusSet holds
// the given JSON entries.
func statusSet(entries ...string) []byte {
	return []byte(`{"Response":{"SendStatusSet":[` + strings.Join(entries, ",") + `],"RequestId":"b7a1e9c2-0000-4000-8000-000000000001"}}`)
}

func status(phone, code string) string {
	return fmt.Sprintf(`{"SerialNo":"1","PhoneNumber":%q,"Fee":1,"SessionContext":"","Code":%q,"Message":"m","IsoCode":"CN"}`, phone, code)
}

func TestAttackOddResponses(t *testing.T) {
	ok := classification{}
	gzipped := func(n int) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(bytes.Repeat([]byte{' '}, n))
		w.Close()
		return b.Bytes()
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   []byte
		want   classification
	}{
		{"empty body", 200, nil, nil, unknown},
		{"null", 200, nil, []byte("null"), unknown},
		{"empty object", 200, nil, []byte("{}"), unknown},
		{"array", 200, nil, []byte("[]"), unknown},
		{"Response null", 200, nil, []byte(`{"Response":null}`), unknown},
		{"Response empty", 200, nil, []byte(`{"Response":{}}`), unknown},
		{"Response an array", 200, nil, []byte(`{"Response":[]}`), unknown},
		{"only RequestId", 200, nil, []byte(`{"Response":{"RequestId":"r"}}`), unknown},
		{"SendStatusSet null", 200, nil, []byte(`{"Response":{"SendStatusSet":null,"RequestId":"r"}}`), unknown},
		{"SendStatusSet an object", 200, nil, []byte(`{"Response":{"SendStatusSet":{},"RequestId":"r"}}`), unknown},
		{"no status", 200, nil, statusSet(), unknown},
		{"null status", 200, nil, statusSet("null"), unknown},
		{"ok", 200, nil, statusSet(status(testPhone, "Ok")), ok},
		{"OK in capitals", 200, nil, statusSet(status(testPhone, "OK")), ok},
		{"ok without plus", 200, nil, statusSet(status("8613800138000", "Ok")), ok},
		{"ok, national form", 200, nil, statusSet(status("13800138000", "Ok")), ok},
		{"ok for another number", 200, nil, statusSet(status("+8613900139000", "Ok")), unknown},
		{"failure for another number", 200, nil, statusSet(status("+8613900139000", "FailedOperation.PhoneNumberInBlacklist")), unknown},
		{"ok without number", 200, nil, statusSet(`{"Code":"Ok"}`), unknown},
		{"failure without number", 200, nil, statusSet(`{"Code":"LimitExceeded.PhoneNumberDailyLimit"}`), unknown},
		{"empty code", 200, nil, statusSet(status(testPhone, "")), unknown},
		{"no code", 200, nil, statusSet(fmt.Sprintf(`{"PhoneNumber":%q}`, testPhone)), unknown},
		{"code a number", 200, nil, statusSet(fmt.Sprintf(`{"PhoneNumber":%q,"Code":0}`, testPhone)), unknown},
		{"code with a space", 200, nil, statusSet(status(testPhone, "Ok ")), unknown},
		{"code with a line break", 200, nil, statusSet(status(testPhone, "LimitExceeded\nlevel=INFO msg=forged")), unknown},
		{"code of 1 KiB", 200, nil, statusSet(status(testPhone, "LimitExceeded."+strings.Repeat("A", 1024))), unknown},
		{"two statuses, ours ok", 200, nil, statusSet(status(testPhone, "Ok"), status("+8613900139000", "FailedOperation.PhoneNumberInBlacklist")), ok},
		{"two statuses, ours failed", 200, nil, statusSet(status("+8613900139000", "Ok"), status(testPhone, "FailedOperation.PhoneNumberInBlacklist")), notSent(otp.ReasonInvalidNumber)},
		{"ours twice, ok and failed", 200, nil, statusSet(status(testPhone, "Ok"), status(testPhone, "FailedOperation.PhoneNumberInBlacklist")), unknown},
		{"ours twice, failed and ok", 200, nil, statusSet(status(testPhone, "FailedOperation.PhoneNumberInBlacklist"), status(testPhone, "Ok")), unknown},
		{"ours twice, both ok", 200, nil, statusSet(status(testPhone, "Ok"), status(testPhone, "Ok")), unknown},
		{"trailing garbage", 200, nil, append(statusSet(status(testPhone, "Ok")), "xyz"...), unknown},
		{"truncated", 200, nil, statusSet(status(testPhone, "Ok"))[:40], unknown},
		{"deep nesting", 200, nil, []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), unknown},
		{"HTML page", 200, http.Header{"Content-Type": {"text/html"}}, []byte("<html><body>Please log in</body></html>"), unknown},
		{"failure status without request ID", 200, nil, []byte(`{"Response":{"SendStatusSet":[` + status(testPhone, "LimitExceeded.PhoneNumberDailyLimit") + `]}}`), unknown},
		{"error without request ID", 200, nil, []byte(`{"Response":{"Error":{"Code":"InvalidParameter","Message":"x"}}}`), unknown},
		{"error with empty code", 200, nil, []byte(`{"Response":{"Error":{"Code":"","Message":"x"},"RequestId":"r"}}`), unknown},
		{"error code a number", 200, nil, []byte(`{"Response":{"Error":{"Code":5},"RequestId":"r"}}`), unknown},
		{"error code with a line break", 200, nil, []byte(`{"Response":{"Error":{"Code":"InvalidParameter\n{\"level\":\"ERROR\"}"},"RequestId":"r"}}`), unknown},
		{"error and an ok status", 200, nil, []byte(`{"Response":{"Error":{"Code":"InternalError.Timeout"},"SendStatusSet":[` + status(testPhone, "Ok") + `],"RequestId":"r"}}`), unknown},
		{"version 2 error shape", 200, nil, []byte(`{"code":4000,"codeDesc":"InvalidParameter","message":"x"}`), unknown},
		{"version 2 error without description", 200, nil, []byte(`{"code":4000}`), unknown},
		{"HTTP 500 with Tencent error", 500, nil, []byte(`{"Response":{"Error":{"Code":"InvalidParameter"},"RequestId":"r"}}`), unknown},
		{"HTTP 429", 429, nil, []byte("slow down"), unknown},
		{"HTTP 204", 204, nil, nil, unknown},
		{"gzip of 8 MiB", 200, http.Header{"Content-Encoding": {"gzip"}}, gzipped(8 << 20), unknown},
	}
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	for _, tt := range tests {
		call := "Send(" + tt.name + ")"
		srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultBody, Status: tt.status, Header: tt.header, Body: tt.body})
		before := countRequests(srv, testPhone)
		err := send(s, otp.SignIn, "123456")
		wantOneRequest(t, call, srv, before)
		switch {
		case tt.want == ok && err != nil:
			t.Errorf("%s: %v, want success", call, err)
		case tt.want == ok:
		case err == nil:
			t.Errorf("%s: success, want %s, %s", call, tt.want.reason, tt.want.outcome)
		default:
			wantSendError(t, call, err, tt.want.reason, tt.want.outcome)
			wantCleanError(t, call, err, "123456")
		}
	}
}

func TestAttackResponseHeadersBounded(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultBody,
		Header: http.Header{"X-Padding": {strings.Repeat("a", 1<<20)}}, Body: statusSet(status(testPhone, "Ok"))})
	err := send(s, otp.SignIn, "123456")
	wantSendError(t, "Send(1 MiB of headers)", err, otp.ReasonUnavailable, otp.OutcomeUnknown)
}

func TestAttackRedirectNotFollowed(t *testing.T) {
	srv := newServer(t)
	elsewhere := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	for _, code := range []int{301, 302, 303, 307, 308} {
		srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultBody, Status: code,
			Header: http.Header{"Location": {elsewhere.URL + "/"}}})
		before := countRequests(srv, testPhone)
		err := send(s, otp.SignIn, "123456")
		call := fmt.Sprintf("Send(redirect %d)", code)
		wantSendError(t, call, err, otp.ReasonUnavailable, otp.OutcomeUnknown)
		wantOneRequest(t, call, srv, before)
	}
	if n := elsewhere.Requests(""); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
}

func TestAttackStallsBounded(t *testing.T) {
	tests := []struct {
		name    string
		fault   tencenttest.FaultKind
		timeout time.Duration
		cancel  time.Duration // 0: no cancellation
		wantErr error
	}{
		{"hang, timeout", tencenttest.FaultHang, 150 * time.Millisecond, 0, context.DeadlineExceeded},
		{"hang, context", tencenttest.FaultHang, 5 * time.Second, 150 * time.Millisecond, context.Canceled},
		{"stall in body, timeout", tencenttest.FaultStall, 150 * time.Millisecond, 0, context.DeadlineExceeded},
		{"stall in body, context", tencenttest.FaultStall, 5 * time.Second, 150 * time.Millisecond, context.Canceled},
	}
	for _, tt := range tests {
		srv := newServer(t)
		s := newSender(t, srv, tencent.Options{Timeout: tt.timeout})
		srv.SetFault(tencenttest.Fault{Kind: tt.fault})
		ctx := context.Background()
		if tt.cancel > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			time.AfterFunc(tt.cancel, cancel)
		}
		start := time.Now()
		err := s.Send(ctx, otp.Message{Phone: testPhone, Code: "123456", Purpose: otp.SignIn})
		elapsed := time.Since(start)
		call := "Send(" + tt.name + ")"
		wantSendError(t, call, err, otp.ReasonUnavailable, otp.OutcomeUnknown)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want it to wrap %v", call, err, tt.wantErr)
		}
		if elapsed > 2*time.Second {
			t.Errorf("%s took %s, want about 150ms", call, elapsed)
		}
		wantOneRequest(t, call, srv, 0)
	}
}

func TestAttackConnectionReset(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	// A first send leaves a kept-alive connection, which the reset then
	// breaks: a reused connection is where net/http retries requests.
	if err := send(s, otp.SignIn, "123456"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultReset})
	before := countRequests(srv, testPhone)
	err := send(s, otp.SignIn, "123456")
	wantSendError(t, "Send(reset)", err, otp.ReasonUnavailable, otp.OutcomeUnknown)
	wantOneRequest(t, "Send(reset)", srv, before)

	srv.ClearFault()
	if err := send(s, otp.SignIn, "123456"); err != nil {
		t.Errorf("Send after the reset: %v", err)
	}
}

func TestAttackUntrustedTLS(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure is expected
	ts.StartTLS()
	defer ts.Close()
	cfg, err := tencent.ParseConfig(newServer(t).ConnectorJSON())
	if err != nil {
		t.Fatal(err)
	}
	s, err := tencent.New(cfg, tencent.Options{Endpoint: ts.URL, Timeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = send(s, otp.SignIn, "123456")
	wantSendError(t, "Send(self-signed certificate)", err, otp.ReasonUnavailable, otp.OutcomeNotSent)
	if n := hits.Load(); n != 0 {
		t.Errorf("handler behind the untrusted certificate saw %d requests, want 0", n)
	}
}

func TestAttackFaultsLeaveNoGoroutines(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Timeout: 100 * time.Millisecond})
	if err := send(s, otp.SignIn, "123456"); err != nil {
		t.Fatal(err)
	}
	s.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	for _, f := range []tencenttest.Fault{
		{Kind: tencenttest.FaultHang}, {Kind: tencenttest.FaultStall}, {Kind: tencenttest.FaultReset},
		{Kind: tencenttest.FaultHuge}, {Kind: tencenttest.FaultEmpty}, {Kind: tencenttest.FaultStatus},
		{Kind: tencenttest.FaultBody, Body: statusSet()},
	} {
		srv.SetFault(f)
		for range 3 {
			send(s, otp.SignIn, "123456")
		}
	}
	srv.ClearFault()
	s.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before the faults, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestAttackHostileMessages(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{Purposes: []otp.Purpose{otp.SignIn}})
	tests := []struct {
		phone, code string
		want        otp.SendReason
	}{
		{"+8613800138000,+14155552671", "123456", otp.ReasonInvalidNumber},
		{"+8613800138000;+14155552671", "123456", otp.ReasonInvalidNumber},
		{"+8613800138000\n+14155552671", "123456", otp.ReasonInvalidNumber},
		{"+86 138 0013 8000", "123456", otp.ReasonInvalidNumber},
		{"13800138000", "123456", otp.ReasonInvalidNumber},
		{"+8613800138000\u202e", "123456", otp.ReasonInvalidNumber},
		{"+０８６１３８００１３８０００", "123456", otp.ReasonInvalidNumber},
		{"+0013800138000", "123456", otp.ReasonInvalidNumber},
		{"+1234567890123456", "123456", otp.ReasonInvalidNumber},
		{"", "123456", otp.ReasonInvalidNumber},
		{testPhone, "12345\n", otp.ReasonMisconfigured},
		{testPhone, "１２３４５６", otp.ReasonMisconfigured},
		{testPhone, "12 345", otp.ReasonMisconfigured},
		{testPhone, "-12345", otp.ReasonMisconfigured},
		{testPhone, "1e5", otp.ReasonMisconfigured},
		{testPhone, "https://x.example", otp.ReasonMisconfigured},
	}
	for _, tt := range tests {
		err := s.Send(context.Background(), otp.Message{Phone: tt.phone, Code: tt.code, Purpose: otp.SignIn})
		call := fmt.Sprintf("Send(phone %q, code %q)", tt.phone, tt.code)
		wantSendError(t, call, err, tt.want, otp.OutcomeNotSent)
		if err != nil && (strings.Contains(err.Error(), "13800138000") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%s: error %q repeats the input", call, err)
		}
	}
	if n := srv.Requests(""); n != 0 {
		t.Errorf("%d requests reached the stand-in, want 0", n)
	}
}
