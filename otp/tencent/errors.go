package tencent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

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

	// malformed marks a response that breaks the shape Tencent
	// documents, which Send logs for the operator.
	malformed bool
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
		if rt.redirected.Load() {
			f.message = "response is a redirect, which the API never sends; not followed"
			f.malformed = true
		}
	case "ClientError.HttpStatusCodeError":
		// The body, often an HTML page of a gateway, stays out of the
		// error.
		f.message = fmt.Sprintf("HTTP status %d", rt.status.Load())
		f.malformed = true
	case "ClientError.IOError":
		switch {
		case rt.tooLarge.Load():
			f.message = errBodyTooLarge.Error()
			f.malformed = true
		case ctx.Err() != nil:
			f.err = ctx.Err()
		default:
			f.message = "reading the response failed"
		}
	case "ClientError.ParseJsonError":
		f.message = fmt.Sprintf("response with HTTP status %d is not Tencent's JSON", rt.status.Load())
		f.malformed = true
	default:
		if strings.HasPrefix(sdkErr.Code, "ClientError.") {
			f.message = sdkErr.Code
			break
		}
		f.message = sdkErr.Message
		f.requestID = cleanRequestID(sdkErr.RequestId)
		reason, outcome, ok := classifyCode(sdkErr.Code)
		switch {
		case !ok:
			// Not a code of Tencent's form: the SDK also takes the
			// "codeDesc" of API 2.0 errors, which may be empty.
			f.message = "response has a malformed error code " + quoteUntrusted(sdkErr.Code)
			f.malformed = true
		case f.requestID == "":
			// Tencent's API 3.0 gives every error a request ID, so this
			// error did not come from Tencent, and the request may still
			// have reached it.
			f.code = sdkErr.Code
			f.message = "response has an error without a request ID"
			f.malformed = true
		default:
			f.reason, f.outcome, f.code = reason, outcome, sdkErr.Code
		}
	}
	return f
}

// codeReasons maps Tencent error codes, of the request or of a number's
// SendStatus, to reasons where the family of the code (the part before
// the dot) gives the wrong one. Sources: the SmsErrorCode list of SendSms
// (API version 2021-01-11) in Tencent's SDKs, and the common error codes
// of Tencent Cloud API 3.0.
var codeReasons = map[string]otp.SendReason{
	"InvalidParameterValue.IncorrectPhoneNumber": otp.ReasonInvalidNumber,
	"FailedOperation.PhoneNumberInBlacklist":     otp.ReasonInvalidNumber,
	"FailedOperation.PhoneNumberParseFail":       otp.ReasonInvalidNumber,

	// Tencent's SDK spells the first one "Unsuported"; accept both.
	"UnsupportedOperation.UnsuportedRegion":                           otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.UnsupportedRegion":                          otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone":       otp.ReasonUnsupportedRegion,
	"UnsupportedOperation.GlobalTemplateToChineseMainlandPhone":       otp.ReasonUnsupportedRegion,
	// The region is outside the countries that the SMS console allows.
	"LimitExceeded.AppCountryOrRegionInBlacklist": otp.ReasonUnsupportedRegion,

	"FailedOperation.InsufficientBalanceInSmsPackage":          otp.ReasonInsufficientBalance,
	"UnauthorizedOperation.SerivceSuspendDueToArrears":         otp.ReasonInsufficientBalance,
	"UnauthorizedOperation.ServiceSuspendDueToArrears":         otp.ReasonInsufficientBalance,
	"FailedOperation.TemplateIncorrectOrUnapproved":            otp.ReasonMisconfigured,
	"FailedOperation.TemplateUnapprovedOrNotExist":             otp.ReasonMisconfigured,
	"FailedOperation.TemplateIdNotExist":                       otp.ReasonMisconfigured,
	"FailedOperation.TemplateParamSetNotMatchApprovedTemplate": otp.ReasonMisconfigured,
	"FailedOperation.SignatureIncorrectOrUnapproved":           otp.ReasonMisconfigured,
	"FailedOperation.SignIdNotExist":                           otp.ReasonMisconfigured,
	"FailedOperation.MissingTemplateList":                      otp.ReasonMisconfigured,
	"FailedOperation.MissingSignatureList":                     otp.ReasonMisconfigured,
	"FailedOperation.MissingSignature":                         otp.ReasonMisconfigured,
	"FailedOperation.ContainSensitiveWord":                     otp.ReasonMisconfigured,
	"FailedOperation.FailResolvePacket":                        otp.ReasonMisconfigured,
	"FailedOperation.JsonParseFail":                            otp.ReasonMisconfigured,
	"FailedOperation.MarketingSendTimeConstraint":              otp.ReasonMisconfigured,
	"FailedOperation.NotEnterpriseCertification":               otp.ReasonMisconfigured,
	"FailedOperation.ProhibitSubAccountUse":                    otp.ReasonMisconfigured,
	"InternalError.RequestTimeException":                       otp.ReasonMisconfigured, // server clock off
	"InternalError.SigVerificationFail":                        otp.ReasonMisconfigured,
	"InternalError.SigFieldMissing":                            otp.ReasonMisconfigured,
	"InternalError.JsonParseFail":                              otp.ReasonMisconfigured,
	"InternalError.RestApiInterfaceNotExist":                   otp.ReasonMisconfigured,
	"LimitExceeded.PhoneNumberCountLimit":                      otp.ReasonUnknown,
	"MissingParameter.EmptyPhoneNumberSet":                     otp.ReasonUnknown,
}

// familyReasons maps the family of a code, the part before the first dot,
// to a reason.
var familyReasons = map[string]otp.SendReason{
	"LimitExceeded":             otp.ReasonRateLimited,
	"RequestLimitExceeded":      otp.ReasonRateLimited,
	"AuthFailure":               otp.ReasonMisconfigured,
	"UnauthorizedOperation":     otp.ReasonMisconfigured,
	"InvalidParameter":          otp.ReasonMisconfigured,
	"InvalidParameterValue":     otp.ReasonMisconfigured,
	"MissingParameter":          otp.ReasonMisconfigured,
	"UnknownParameter":          otp.ReasonMisconfigured,
	"InvalidRequest":            otp.ReasonMisconfigured,
	"InvalidAction":             otp.ReasonMisconfigured,
	"ActionOffline":             otp.ReasonMisconfigured,
	"NoSuchVersion":             otp.ReasonMisconfigured,
	"NoSuchProduct":             otp.ReasonMisconfigured,
	"IpInBlacklist":             otp.ReasonMisconfigured,
	"IpNotInWhitelist":          otp.ReasonMisconfigured,
	"RequestSizeLimitExceeded":  otp.ReasonMisconfigured,
	"ResourceNotFound":          otp.ReasonMisconfigured,
	"UnsupportedProtocol":       otp.ReasonMisconfigured,
	"UnsupportedRegion":         otp.ReasonMisconfigured, // the API region of Config.Region
	"DryRunOperation":           otp.ReasonMisconfigured, // latch never sets DryRun
	"InternalError":             otp.ReasonUnavailable,
	"ResourceUnavailable":       otp.ReasonUnavailable,
	"ResourceInUse":             otp.ReasonUnavailable,
	"ServiceUnavailable":        otp.ReasonUnavailable,
	"ResponseSizeLimitExceeded": otp.ReasonUnavailable,
	"ResourceInsufficient":      otp.ReasonInsufficientBalance,
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

// codeRE is the form of Tencent's error codes: dot-separated words, such
// as "LimitExceeded.PhoneNumberDailyLimit". One code of the SMS API,
// "UnsupportedOperation.", ends with the dot.
var codeRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]*)*$`)

// maxCodeLength bounds an error code. The longest that Tencent lists for
// SendSms has 63 characters:
// UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber.
const maxCodeLength = 100

// classifyCode returns the reason and outcome for a Tencent error code,
// and false for a string that is not one. Any error code means that
// Tencent refused, so nothing was sent, except for internal errors such
// as InternalError.Timeout ("request to send SMS timed out") and for
// ResponseSizeLimitExceeded, after which the message may still be
// delivered.
func classifyCode(code string) (otp.SendReason, otp.SendOutcome, bool) {
	if len(code) > maxCodeLength || !codeRE.MatchString(code) {
		return otp.ReasonUnavailable, otp.OutcomeUnknown, false
	}
	family, _, _ := strings.Cut(code, ".")
	outcome := otp.OutcomeNotSent
	if (family == "InternalError" && !definiteInternalErrors[code]) || family == "ResponseSizeLimitExceeded" {
		outcome = otp.OutcomeUnknown
	}
	if r, ok := codeReasons[code]; ok {
		return r, outcome, true
	}
	if r, ok := familyReasons[family]; ok {
		return r, outcome, true
	}
	return otp.ReasonUnknown, outcome, true
}
