package tencenttest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	sms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// tamper changes a request after the SDK signed it.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	if f != nil {
		f(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func sdkClient(t *testing.T, srv *tencenttest.Server, secretKey string, f tamper) *sms.Client {
	t.Helper()
	p := profile.NewClientProfile()
	p.HttpProfile.Scheme = "HTTP"
	p.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	c, err := sms.NewClient(common.NewCredential(tencenttest.DefaultSecretID, secretKey), tencenttest.DefaultRegion, p)
	if err != nil {
		t.Fatal(err)
	}
	c.WithHttpTransport(tamper(f))
	return c
}

func sendSms(c *sms.Client) (*sms.SendSmsResponse, error) {
	req := sms.NewSendSmsRequest()
	phone, app, sign, tmpl, code := "+8613800138000", tencenttest.DefaultSDKAppID, tencenttest.DefaultSignName,
		strconv.FormatUint(tencenttest.TemplateSignIn, 10), "123456"
	req.PhoneNumberSet = []*string{&phone}
	req.SmsSdkAppId, req.SignName, req.TemplateId = &app, &sign, &tmpl
	req.TemplateParamSet = []*string{&code}
	return c.SendSms(req)
}

func TestSignatureChecked(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()

	resp, err := sendSms(sdkClient(t, srv, tencenttest.DefaultSecretKey, nil))
	if err != nil {
		t.Fatalf("SendSms signed by the SDK: %v", err)
	}
	if got := *resp.Response.SendStatusSet[0].Code; got != "Ok" {
		t.Errorf("SendSms status %q, want Ok", got)
	}

	tests := []struct {
		name   string
		secret string
		tamper tamper
		code   string
	}{
		{"wrong secret", "wrong", nil, "AuthFailure.SignatureFailure"},
		{"body changed", tencenttest.DefaultSecretKey, func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			b = bytes.Replace(b, []byte("123456"), []byte("654321"), 1)
			r.Body = io.NopCloser(bytes.NewReader(b))
		}, "AuthFailure.SignatureFailure"},
		{"content type changed", tencenttest.DefaultSecretKey, func(r *http.Request) {
			r.Header["Content-Type"] = []string{"text/plain"}
		}, "AuthFailure.SignatureFailure"},
		{"timestamp changed", tencenttest.DefaultSecretKey, func(r *http.Request) {
			// The SDK sets its X-TC-* headers under non-canonical keys.
			ts, _ := strconv.ParseInt(r.Header["X-TC-Timestamp"][0], 10, 64)
			r.Header["X-TC-Timestamp"] = []string{strconv.FormatInt(ts+1, 10)}
		}, "AuthFailure.SignatureFailure"},
		{"old timestamp", tencenttest.DefaultSecretKey, func(r *http.Request) {
			r.Header["X-TC-Timestamp"] = []string{strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)}
		}, "AuthFailure.SignatureExpire"},
		{"no authorization", tencenttest.DefaultSecretKey, func(r *http.Request) {
			delete(r.Header, "Authorization")
		}, "AuthFailure.InvalidAuthorization"},
		{"wrong version", tencenttest.DefaultSecretKey, func(r *http.Request) {
			r.Header["X-TC-Version"] = []string{"2019-07-11"}
		}, "NoSuchVersion"},
	}
	for _, tt := range tests {
		_, err := sendSms(sdkClient(t, srv, tt.secret, tt.tamper))
		sdkErr, ok := err.(*tcerrors.TencentCloudSDKError)
		if !ok || sdkErr.Code != tt.code || sdkErr.RequestId == "" {
			t.Errorf("SendSms(%s): %v, want %s with a request ID", tt.name, err, tt.code)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("stand-in recorded %d messages, want 1 (only the valid request)", n)
	}
}

func TestErrorShape(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Response struct {
			Error     struct{ Code, Message string }
			RequestId string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body.Response.Error.Code == "" || body.Response.RequestId == "" {
		t.Errorf("unsigned request: status %d, body %+v; want 200 with Error.Code and RequestId", resp.StatusCode, body)
	}
}

func TestConnectorJSONAndDescribe(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	var cfg struct {
		Templates []struct{ TemplateCode, UsageType string }
	}
	if err := json.Unmarshal(srv.ConnectorJSON(), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Templates) != 4 || cfg.Templates[0].UsageType != "Register" {
		t.Errorf("ConnectorJSON templates = %+v, want the four default ones", cfg.Templates)
	}

	c := sdkClient(t, srv, tencenttest.DefaultSecretKey, nil)
	req := sms.NewDescribeSmsTemplateListRequest()
	id, other, intl := tencenttest.TemplateGeneric, uint64(5), uint64(0)
	req.TemplateIdSet = []*uint64{&id, &other}
	req.International = &intl
	resp, err := c.DescribeSmsTemplateList(req)
	if err != nil {
		t.Fatal(err)
	}
	set := resp.Response.DescribeTemplateStatusSet
	if len(set) != 1 || *set[0].TemplateId != id || *set[0].TemplateContent != "Your code is {1}." {
		t.Errorf("DescribeSmsTemplateList = %s, want only template %d", resp.ToJsonString(), id)
	}
}

func TestFaultKinds(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{MaxHang: 100 * time.Millisecond})
	defer srv.Close()
	tests := []struct {
		fault tencenttest.Fault
		code  string // SDK error code
		check func(*tcerrors.TencentCloudSDKError) bool
	}{
		{tencenttest.Fault{Kind: tencenttest.FaultBody, Status: 418, Body: []byte("teapot")}, "ClientError.HttpStatusCodeError",
			func(e *tcerrors.TencentCloudSDKError) bool {
				return strings.Contains(e.Message, "418") && strings.Contains(e.Message, "teapot")
			}},
		{tencenttest.Fault{Kind: tencenttest.FaultBody, Body: []byte(`{"Response":{"Error":{"Code":"X.Y"},"RequestId":"r"}}`)}, "X.Y",
			func(e *tcerrors.TencentCloudSDKError) bool { return e.RequestId == "r" }},
		{tencenttest.Fault{Kind: tencenttest.FaultReset}, "ClientError.NetworkError",
			func(e *tcerrors.TencentCloudSDKError) bool {
				return strings.Contains(e.Message, "reset") || strings.Contains(e.Message, "EOF")
			}},
		{tencenttest.Fault{Kind: tencenttest.FaultStall}, "ClientError.IOError", nil},
		{tencenttest.Fault{Kind: tencenttest.FaultError, Code: "FailedOperation.OtherError", Message: "echo:", EchoRequest: true}, "FailedOperation.OtherError",
			func(e *tcerrors.TencentCloudSDKError) bool {
				return strings.Contains(e.Message, "echo: Authorization: TC3-HMAC-SHA256 Credential="+tencenttest.DefaultSecretID) &&
					strings.Contains(e.Message, `"TemplateParamSet":["123456"]`)
			}},
	}
	for _, tt := range tests {
		srv.SetFault(tt.fault)
		_, err := sendSms(sdkClient(t, srv, tencenttest.DefaultSecretKey, nil))
		sdkErr, ok := err.(*tcerrors.TencentCloudSDKError)
		if !ok || sdkErr.Code != tt.code || (tt.check != nil && !tt.check(sdkErr)) {
			t.Errorf("SendSms with fault %d: %v, want %s", tt.fault.Kind, err, tt.code)
		}
	}
	srv.ClearFault()
	reqs := srv.SendRequests()
	if len(reqs) != len(tests) {
		t.Fatalf("SendRequests() has %d entries, want %d: one per request, faults included", len(reqs), len(tests))
	}
	for _, m := range reqs {
		if m.Phone != "+8613800138000" || len(m.Params) != 1 || m.Params[0] != "123456" || m.RequestID == "" {
			t.Errorf("SendRequests entry %+v, want the number, code and a request ID", m)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Messages() has %d entries after faults only, want 0", n)
	}
}
