package tencent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// fuzzStatuses are the HTTP statuses FuzzSendResponse chooses from.
var fuzzStatuses = []int{200, 200, 200, 201, 204, 301, 302, 307, 400, 404, 429, 500, 502, 503}

// FuzzSendResponse feeds arbitrary bodies as SendSms responses through the
// SDK and Send. Send may report success only when the body names the
// number once with the code "Ok", and a definite failure only when the
// body carries a Tencent error code with a request ID; everything else
// must leave the outcome unknown. Errors never carry the code, the secret,
// the number or a control character, and Send makes exactly one request.
func FuzzSendResponse(f *testing.F) {
	for _, seed := range [][]byte{
		statusSet(status(testPhone, "Ok")),
		statusSet(status(testPhone, "LimitExceeded.PhoneNumberDailyLimit")),
		statusSet(status("+8613900139000", "Ok")),
		statusSet(status(testPhone, "Ok"), status(testPhone, "Ok")),
		statusSet(),
		[]byte(`{"Response":{"Error":{"Code":"InternalError.Timeout","Message":"m"},"RequestId":"r"}}`),
		[]byte(`{"Response":{"Error":{"Code":"InvalidParameter"}}}`),
		[]byte(`{"code":4000,"codeDesc":"","message":"x"}`),
		[]byte(`{"Response":null}`), []byte(`null`), []byte(``), []byte(`<html>`),
		[]byte(`{"response":{"sendstatusset":[{"phonenumber":"+8613800138000","code":"ok"}]}}`),
	} {
		f.Add(seed, uint8(0))
	}
	f.Add([]byte(`{"Response":{"Error":{"Code":"InvalidParameter"},"RequestId":"r"}}`), uint8(11))

	srv := tencenttest.NewServer(tencenttest.Options{MaxHang: time.Second})
	defer srv.Close()
	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		f.Fatal(err)
	}
	s, err := tencent.New(cfg, tencent.Options{Endpoint: srv.URL, Timeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex // the fault is the server's global state
	f.Fuzz(func(t *testing.T, body []byte, statusIndex uint8) {
		mu.Lock()
		defer mu.Unlock()
		httpStatus := fuzzStatuses[int(statusIndex)%len(fuzzStatuses)]
		srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultBody, Status: httpStatus, Body: body})
		before := countRequests(srv, testPhone)
		err := send(s, otp.SignIn, "123456")
		call := fmt.Sprintf("Send(HTTP %d, body %.200q)", httpStatus, body)
		if n := countRequests(srv, testPhone) - before; n != 1 {
			t.Fatalf("%s: %d requests, want 1", call, n)
		}
		says := readResponse(body, httpStatus)
		if err == nil {
			if !says.ok {
				t.Fatalf("%s: success, but the body does not name the number once with Ok", call)
			}
			return
		}
		var se *otp.SendError
		if !errors.As(err, &se) || se.Provider != tencent.Provider {
			t.Fatalf("%s: error %T %v, want *otp.SendError from tencent", call, err, err)
		}
		if se.Outcome == otp.OutcomeNotSent && !says.tencentError {
			t.Fatalf("%s: outcome not sent, but the body carries no Tencent error code with a request ID", call)
		}
		for _, v := range []string{err.Error(), se.Code, se.RequestID, se.Message} {
			if strings.Contains(v, "123456") || strings.Contains(v, "13800138000") || strings.Contains(v, tencenttest.DefaultSecretKey) {
				t.Fatalf("%s: error field %q leaks the code, number or secret", call, v)
			}
			if strings.ContainsFunc(v, unsafeRune) {
				t.Fatalf("%s: error field %q has a control character", call, v)
			}
		}
	})
}

// responseReading is what a body reports about the send, read without the
// SDK but with the same JSON rules (encoding/json, which matches field
// names without regard to case).
type responseReading struct {
	ok           bool // one status for the number, with code Ok
	tencentError bool // a well-formed error code and a request ID
}

func readResponse(body []byte, httpStatus int) responseReading {
	var r struct {
		Response *struct {
			Error *struct {
				Code string
			}
			SendStatusSet []*struct {
				PhoneNumber *string
				Code        *string
			}
			RequestId string
		}
	}
	var legacy struct {
		Code int `json:"code"`
	}
	if httpStatus != 200 || json.Unmarshal(body, &r) != nil || json.Unmarshal(body, &legacy) != nil || r.Response == nil {
		return responseReading{}
	}

	var out responseReading
	if e := r.Response.Error; e != nil && e.Code != "" {
		out.tencentError = r.Response.RequestId != ""
		return out
	}
	if legacy.Code != 0 {
		return out
	}

	// The spellings of testPhone that Send accepts as the same number.
	spellings := []string{testPhone, testPhone[1:], "00" + testPhone[1:], testPhone[3:]}
	var ours []string
	for _, st := range r.Response.SendStatusSet {
		if st != nil && st.PhoneNumber != nil && slices.Contains(spellings, *st.PhoneNumber) {
			code := ""
			if st.Code != nil {
				code = *st.Code
			}
			ours = append(ours, code)
		}
	}
	if len(ours) == 1 {
		out.ok = strings.EqualFold(ours[0], "Ok")
		out.tencentError = ours[0] != "" && !out.ok && r.Response.RequestId != ""
	}
	return out
}
