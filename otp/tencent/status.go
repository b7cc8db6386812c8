package tencent

import (
	"fmt"
	"strings"

	sms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"github.com/latchkit/latch/otp"
)

// sendStatus finds the phone's entry in a SendSms response and returns a
// failure unless its code is "Ok". A response that does not hold exactly
// one entry for the number, or whose entry has no valid code, leaves the
// outcome unknown: the request reached Tencent, which may have sent the
// message.
func sendStatus(resp *sms.SendSmsResponse, phone string) *failure {
	unknown := func(requestID, message string) *failure {
		return &failure{reason: otp.ReasonUnavailable, outcome: otp.OutcomeUnknown, requestID: requestID,
			message: message, malformed: true}
	}
	if resp == nil || resp.Response == nil {
		return unknown("", "response has no Response object")
	}

	requestID := cleanRequestID(deref(resp.Response.RequestId))
	var status *sms.SendStatus
	matches, entries := 0, 0
	for _, st := range resp.Response.SendStatusSet {
		if st == nil {
			continue
		}
		entries++
		if samePhone(deref(st.PhoneNumber), phone) {
			status = st
			matches++
		}
	}
	switch {
	case entries == 0:
		return unknown(requestID, "response has no send status")
	case matches == 0:
		return unknown(requestID, "response has send statuses only for other numbers")
	case matches > 1:
		return unknown(requestID, fmt.Sprintf("response has %d send statuses for the number", matches))
	}

	code := deref(status.Code)
	if strings.EqualFold(code, "Ok") {
		return nil
	}
	reason, outcome, ok := classifyCode(code)
	if !ok {
		return unknown(requestID, "send status has a missing or malformed code "+quoteUntrusted(code))
	}
	if requestID == "" {
		// Tencent's API 3.0 gives every response a request ID, so this
		// one did not come from Tencent, which may have sent the message.
		return unknown("", "response has a send status but no request ID")
	}
	return &failure{reason: reason, outcome: outcome, code: code, requestID: requestID, message: deref(status.Message)}
}

// samePhone reports whether got, a PhoneNumber of a SendStatus, denotes
// the E.164 number want. Tencent documents E.164; the forms without '+',
// with the 00 prefix and, for mainland China, without the country calling
// code are accepted too, since they name the same number.
func samePhone(got, want string) bool {
	digits := want[1:]
	switch got {
	case want, digits, "00" + digits:
		return true
	}
	national, ok := strings.CutPrefix(want, "+86")
	return ok && got == national
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
