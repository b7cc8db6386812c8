// Package tencent sends one-time codes through Tencent Cloud SMS (API
// version 2021-01-11), with Tencent's Go SDK.
//
// Its [Config] is the configuration of Logto's Tencent SMS connector, so
// the JSON shown in the Logto console can be pasted into [ParseConfig].
// [New] returns a [Sender] for otp.Config.Sender. Each purpose uses the
// template of its Logto usage type, or the Generic template when it has
// none. Templates must be verification-code templates with exactly one
// placeholder, {1}; they take codes of at most 6 digits.
//
// Send makes one SendSms request for one E.164 number with the code as the
// only template parameter, bounded by Options.Timeout and the caller's
// context, and never retries it or follows a redirect. Tencent responds
// with HTTP 200 even when the number failed, so Send reads the number's
// SendStatus. Failures are *otp.SendError values with Tencent's error code
// and request ID, classified into otp.SendReason values. A failure is
// otp.OutcomeNotSent only when Tencent refused with a well-formed error
// code and a request ID. Any other response (a timeout, a reset, an HTTP
// error, a body that is not Tencent's, a status for another number) is
// otp.OutcomeUnknown, since the message may still arrive. No secret, code,
// TC3 signature or full phone number appears in errors or logs.
//
// [Sender.CheckTemplates] and [Sender.CheckSignature] check the
// configuration against Tencent's DescribeSmsTemplateList and
// DescribeSmsSignList; the command cmd/tencent-sms-check runs them for
// operators. Package tencenttest is a local stand-in for the API, for
// tests.
package tencent
