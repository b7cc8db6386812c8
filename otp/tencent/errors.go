package tencent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	tcerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/latchkit/latch/otp"
)

// failure is a classified API failure, converted to *otp.SendError for
// SendSms and to *APIError for the other actions.
type failure struct {
	reason    otp.SendReason
	outcome   otp.SendOutcome
	code      string
	requestID string
	message   string
	err       error
}

func (f *failure) sendError() *otp.SendError {
	return &otp.SendError{
		Provider:  Provider,
		Reason:    f.reason,
		Outcome:   f.outcome,
		Code:      f.code,
		RequestID: f.requestID,
		Message:   f.message,
		Err:       f.err,
	}
}

// APIError reports a failed call to one of Tencent's query APIs, such as
// DescribeSmsTemplateList.
type APIError struct {
	// Action is the API action, such as "DescribeSmsTemplateList".
	Action string

	// Reason classifies the failure like otp.SendError.Reason.
	Reason otp.SendReason

	// Code and RequestID are Tencent's, when it responded.
	Code      string
	RequestID string

	// Message is Tencent's description of the error, redacted.
	Message string

	// Err is the underlying error, such as context.DeadlineExceeded.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tencent: %s failed: %s", e.Action, e.Reason)
	if e.Code != "" || e.RequestID != "" {
		b.WriteString(" (")
		if e.Code != "" {
			b.WriteString("code " + e.Code)
		}
		if e.RequestID != "" {
			if e.Code != "" {
				b.WriteString(", ")
			}
			b.WriteString("request ID " + e.RequestID)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Hint returns advice in plain words for common failures of the query
// APIs, or an empty string.
func (e *APIError) Hint() string {
	switch {
	case e.Code == "FailedOperation.NotEnterpriseCertification":
		return "accounts with individual identity verification cannot query templates or signatures through the API; check them in the SMS console instead"
	case e.Code == "FailedOperation.ProhibitSubAccountUse":
		return "this sub-account may not list templates; use a key of the main account or check the templates in the SMS console"
	case strings.HasPrefix(e.Code, "AuthFailure"):
		return "check accessKeyId and accessKeySecret, and that the server clock is correct"
	case strings.HasPrefix(e.Code, "UnauthorizedOperation"):
		return "the API key may not use SMS, or sdkAppId belongs to another account"
	}
	return ""
}

func (f *failure) apiError(action string) *APIError {
	return &APIError{Action: action, Reason: f.reason, Code: f.code, RequestID: f.requestID, Message: f.message, Err: f.err}
}

// classifySDKError converts an error of the SDK into a failure. The SDK
// reports local problems with "ClientError." codes and Tencent's errors
// with Tencent's codes.
func classifySDKError(err error, rt *callTransport, ctx context.Context) *failure {
	if err == nil {
		return nil
	}
	var sdkErr *tcerrors.TencentCloudSDKError
	if !errors.As(err, &sdkErr) {
		// Failed before a request was built, such as a JSON encoding error.
		return &failure{reason: otp.ReasonUnknown, outcome: otp.OutcomeNotSent, err: err}
	}
	f := &failure{reason: otp.ReasonUnavailable, outcome: otp.OutcomeUnknown}
	switch sdkErr.Code {
	case "ClientError.NetworkError":
		// Before a connection exists nothing can have reached Tencent.
		if !rt.connected.Load() {
			f.outcome = otp.OutcomeNotSent
		}
		f.err = ctx.Err()
		if f.err == nil {
			// The SDK's message holds the net/http error, whose text
			// names only the endpoint and the cause.
			f.err = errors.New(strings.TrimPrefix(sdkErr.Message, "Fail to get response because "))
		}
	case "ClientError.HttpStatusCodeError":
		// The body, often an HTML page of a gateway, stays out of the
		// error.
		f.message = fmt.Sprintf("HTTP status %d", rt.status.Load())
	case "ClientError.IOError":
		switch {
		case rt.tooLarge.Load():
			f.message = errBodyTooLarge.Error()
		case ctx.Err() != nil:
			f.err = ctx.Err()
		default:
			f.message = "reading the response failed"
		}
	case "ClientError.ParseJsonError":
		f.message = fmt.Sprintf("response with HTTP status %d is not Tencent's JSON", rt.status.Load())
	default:
		if strings.HasPrefix(sdkErr.Code, "ClientError.") {
			f.message = sdkErr.Code
			break
		}
		f.reason, f.outcome = classifyCode(sdkErr.Code)
		f.code = sdkErr.Code
		f.requestID = sdkErr.RequestId
		f.message = sdkErr.Message
	}
	return f
}

// codeReasons maps Tencent error codes, of the request or of a number's
// SendStatus, to reasons. Sources: the SendSms error codes of API version
// 2021-01-11 (tencentcloud-sdk-go, sms/v20210111/errors.go) and the common
// error codes of Tencent Cloud API 3.0.
var codeReasons = map[string]otp.SendReason{
	"InvalidParameterValue.IncorrectPhoneNumber": otp.ReasonInvalidNumber,
	"FailedOperation.PhoneNumberInBlacklist":     otp.ReasonInvalidNumber,
	"FailedOperation.PhoneNumberParseFail":       otp.ReasonInvalidNumber,

	// Tencent's SDK spells the first one "Unsuported"; accept both.
	"UnsupportedOperation.UnsuportedRegion":                           otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.UnsupportedRegion":                          otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": otp.ReasonUnsupportedRegion,

	"FailedOperation.InsufficientBalanceInSmsPackage":           otp.ReasonInsufficientBalance,
	"UnauthorizedOperation.SerivceSuspendDueToArrears":          otp.ReasonInsufficientBalance,
	"UnauthorizedOperation.ServiceSuspendDueToArrears":          otp.ReasonInsufficientBalance,
	"FailedOperation.TemplateIncorrectOrUnapproved":             otp.ReasonMisconfigured,
	"FailedOperation.SignatureIncorrectOrUnapproved":            otp.ReasonMisconfigured,
	"FailedOperation.MissingTemplateList":                       otp.ReasonMisconfigured,
	"FailedOperation.MissingSignatureList":                      otp.ReasonMisconfigured,
	"FailedOperation.MissingSignature":                          otp.ReasonMisconfigured,
	"FailedOperation.ContainSensitiveWord":                      otp.ReasonMisconfigured,
	"FailedOperation.FailResolvePacket":                         otp.ReasonMisconfigured,
	"FailedOperation.JsonParseFail":                             otp.ReasonMisconfigured,
	"FailedOperation.NotEnterpriseCertification":                otp.ReasonMisconfigured,
	"InvalidParameterValue.SdkAppIdNotExist":                    otp.ReasonMisconfigured,
	"InvalidParameterValue.TemplateParameterFormatError":        otp.ReasonMisconfigured,
	"InvalidParameterValue.TemplateParameterLengthLimit":        otp.ReasonMisconfigured,
	"InvalidParameterValue.ContentLengthLimit":                  otp.ReasonMisconfigured,
	"InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": otp.ReasonMisconfigured,
	"InvalidParameter.AppidAndBizId":                            otp.ReasonMisconfigured,
	"InternalError.RequestTimeException":                        otp.ReasonMisconfigured, // server clock off
	"InternalError.SigVerificationFail":                         otp.ReasonMisconfigured,
	"InternalError.SigFieldMissing":                             otp.ReasonMisconfigured,
	"InternalError.JsonParseFail":                               otp.ReasonMisconfigured,
	"InternalError.RestApiInterfaceNotExist":                    otp.ReasonMisconfigured,
	"IpInBlacklist":                                             otp.ReasonMisconfigured,
	"IpNotInWhitelist":                                          otp.ReasonMisconfigured,
	"InvalidAction":                                             otp.ReasonMisconfigured,
	"NoSuchVersion":                                             otp.ReasonMisconfigured,
	"ActionOffline":                                             otp.ReasonMisconfigured,
	"LimitExceeded.PhoneNumberCountLimit":                       otp.ReasonUnknown,
	"MissingParameter.EmptyPhoneNumberSet":                      otp.ReasonUnknown,
}

// definiteInternalErrors are InternalError codes that Tencent returns
// while checking a request, before anything is sent.
var definiteInternalErrors = map[string]bool{
	"InternalError.RequestTimeException":     true,
	"InternalError.SigVerificationFail":      true,
	"InternalError.SigFieldMissing":          true,
	"InternalError.JsonParseFail":            true,
	"InternalError.RestApiInterfaceNotExist": true,
}

// classifyCode returns the reason and outcome for a Tencent error code.
// Any error code means that Tencent refused, so nothing was sent, except
// for internal errors such as InternalError.Timeout ("request to send SMS
// timed out"), after which the message may still be delivered.
func classifyCode(code string) (otp.SendReason, otp.SendOutcome) {
	outcome := otp.OutcomeNotSent
	if (code == "InternalError" || strings.HasPrefix(code, "InternalError.")) && !definiteInternalErrors[code] {
		outcome = otp.OutcomeUnknown
	}
	if r, ok := codeReasons[code]; ok {
		return r, outcome
	}
	family, _, _ := strings.Cut(code, ".")
	switch family {
	case "LimitExceeded", "RequestLimitExceeded":
		return otp.ReasonRateLimited, outcome
	case "AuthFailure", "UnauthorizedOperation", "InvalidParameter", "InvalidParameterValue",
		"MissingParameter", "UnknownParameter", "InvalidRequest":
		return otp.ReasonMisconfigured, outcome
	case "InternalError", "ResourceUnavailable", "ServiceUnavailable":
		return otp.ReasonUnavailable, outcome
	case "ResourceInsufficient":
		return otp.ReasonInsufficientBalance, outcome
	}
	return otp.ReasonUnknown, outcome
}

// maxMessageLength bounds the provider message kept in an error.
const maxMessageLength = 200

// longDigitsRE matches runs of digits long enough to be a phone number.
var longDigitsRE = regexp.MustCompile(`\+?\d{7,}`)

// redact removes from the message the code, the given secrets and
// anything shaped like a phone number, and bounds its length, so that an
// error string is safe to log even when Tencent echoes the request.
func (f *failure) redact(code string, secrets ...string) {
	msg := f.message
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = longDigitsRE.ReplaceAllString(msg, "[number]")
	if len(code) >= 4 {
		msg = strings.ReplaceAll(msg, code, "[code]")
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	if r := []rune(msg); len(r) > maxMessageLength {
		msg = string(r[:maxMessageLength]) + "..."
	}
	f.message = msg
	if f.err != nil {
		errText := f.err.Error()
		cleaned := errText
		for _, s := range secrets {
			if len(s) >= 4 {
				cleaned = strings.ReplaceAll(cleaned, s, "[redacted]")
			}
		}
		if len(code) >= 4 {
			cleaned = strings.ReplaceAll(cleaned, code, "[code]")
		}
		cleaned = longDigitsRE.ReplaceAllString(cleaned, "[number]")
		if cleaned != errText {
			f.err = &redactedError{text: cleaned, err: f.err}
		}
	}
}

// redactedError keeps the chain of an error whose text was redacted.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
