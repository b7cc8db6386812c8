package tencent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	sms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"github.com/latchkit/latch/otp"
)

// Provider is the name of this sender in otp.SendError and logs.
const Provider = "tencent"

// DefaultEndpoint is Tencent Cloud's SMS API endpoint.
const DefaultEndpoint = "https://sms.tencentcloudapi.com"

// DefaultTimeout bounds each API call when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// MaxCodeLength is the longest code Tencent delivers: verification-code
// templates take a parameter of 0 to 6 digits (error
// InvalidParameterValue.TemplateParameterFormatError otherwise).
const MaxCodeLength = 6

// maxResponseBytes bounds the response body read from the API. Tencent's
// responses are a few kilobytes, so a larger body is treated as invalid
// instead of being buffered whole by the SDK.
const maxResponseBytes = 1 << 20 // 1 MiB, the limit named in errBodyTooLarge

// maxResponseHeaderBytes bounds the response headers.
const maxResponseHeaderBytes = 64 << 10

// Options configures New.
type Options struct {
	// Endpoint is the API's URL. Empty means DefaultEndpoint. It must use
	// https, except for a loopback host such as 127.0.0.1, which tests use
	// with package tencenttest.
	Endpoint string

	// Timeout bounds each API call, including connecting and reading the
	// response. The caller's context can end a call sooner. Zero means
	// DefaultTimeout.
	Timeout time.Duration

	// Purposes lists the purposes the site sends codes for. New fails if
	// one has neither its own template nor a Generic one. Nil means all
	// four.
	Purposes []otp.Purpose

	// Logger receives a warning for each response that breaks the shape
	// Tencent documents, such as a SendSms response without a status for
	// the number, an HTTP error page or a redirect. Warnings mask the
	// phone and hold no code or secret. Refusals with a Tencent error code
	// are not logged here, because the error returned carries them. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Sender sends codes through Tencent Cloud SMS. It implements otp.Sender
// and otp.CodeLengthLimiter, and is safe for concurrent use.
type Sender struct {
	cfg       Config
	templates map[otp.Purpose]string
	scheme    string
	host      string
	timeout   time.Duration
	transport *http.Transport
	logger    *slog.Logger
	clients   sync.Pool // of *apiClient
}

var (
	_ otp.Sender            = (*Sender)(nil)
	_ otp.CodeLengthLimiter = (*Sender)(nil)
)

// New returns a Sender for cfg. It validates cfg and checks that every
// enabled purpose has a template; it does not contact Tencent (see
// CheckTemplates for that).
func New(cfg Config, opts Options) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Templates = append([]Template(nil), cfg.Templates...)
	s := &Sender{
		cfg:       cfg,
		templates: map[otp.Purpose]string{},
		timeout:   opts.Timeout,
		logger:    opts.Logger,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("tencent: Options.Timeout is %s, want 0 (default) or more", s.timeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}

	purposes := opts.Purposes
	if purposes == nil {
		purposes = otp.Purposes()
	}
	var missing []string
	for _, p := range purposes {
		if !p.Valid() {
			return nil, fmt.Errorf("tencent: Options.Purposes: unknown purpose %q", p)
		}
		code, _, ok := cfg.templateFor(p)
		if !ok {
			missing = append(missing, string(p))
			continue
		}
		s.templates[p] = code
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no template for %s and no Generic template to fall back on",
			ErrInvalidConfig, strings.Join(missing, ", "))
	}

	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	scheme, host, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	s.scheme, s.host = scheme, host

	// The context deadline of each call bounds the whole exchange, so the
	// transport needs no timeouts of its own. Tencent's response headers
	// take a few hundred bytes; the default bound is 10 MiB.
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
	s.transport.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return s, nil
}

// parseEndpoint splits an endpoint URL into the scheme and host the SDK's
// profile takes.
func parseEndpoint(endpoint string) (scheme, host string, err error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("tencent: Options.Endpoint %q: %w", endpoint, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("tencent: Options.Endpoint %q: want scheme and host only, such as %q", endpoint, DefaultEndpoint)
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain HTTP would expose codes and phone numbers on the network.
		if !isLoopback(u.Hostname()) {
			return "", "", fmt.Errorf("tencent: Options.Endpoint %q: http is allowed only for loopback hosts; use https", endpoint)
		}
	default:
		return "", "", fmt.Errorf("tencent: Options.Endpoint %q: scheme must be https", endpoint)
	}
	return u.Scheme, u.Host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MaxCodeLength returns MaxCodeLength, for otp.New.
func (s *Sender) MaxCodeLength() int { return MaxCodeLength }

// TemplateFor returns the template ID that s uses for purpose, which is
// the Generic template when the purpose has none of its own.
func (s *Sender) TemplateFor(p otp.Purpose) (string, bool) {
	code, ok := s.templates[p]
	return code, ok
}

// CloseIdleConnections closes the sender's idle connections to the API.
func (s *Sender) CloseIdleConnections() { s.transport.CloseIdleConnections() }

// Send sends m.Code with the template for m.Purpose to m.Phone. It makes
// one SendSms request and never retries it. Failures are *otp.SendError
// values. Tencent responds with HTTP 200 even when the number failed, so a
// send succeeds only when the response holds exactly one SendStatus for
// the number and its code is "Ok".
//
// m.Phone must be one number in E.164 form and m.Code 1 to MaxCodeLength
// ASCII digits. Anything else fails without contacting Tencent, so no
// input can add recipients or template text to the request.
func (s *Sender) Send(ctx context.Context, m otp.Message) error {
	templateID, ok := s.templates[m.Purpose]
	if !ok {
		return &otp.SendError{Provider: Provider, Reason: otp.ReasonMisconfigured, Outcome: otp.OutcomeNotSent,
			Message: fmt.Sprintf("no template for purpose %s", quoteUntrusted(string(m.Purpose)))}
	}
	if !e164RE.MatchString(m.Phone) {
		return &otp.SendError{Provider: Provider, Reason: otp.ReasonInvalidNumber, Outcome: otp.OutcomeNotSent,
			Message: "phone number must be one number in E.164 form: '+' and at most 15 digits"}
	}
	if len(m.Code) == 0 || len(m.Code) > MaxCodeLength || strings.Trim(m.Code, "0123456789") != "" {
		return &otp.SendError{Provider: Provider, Reason: otp.ReasonMisconfigured, Outcome: otp.OutcomeNotSent,
			Message: fmt.Sprintf("code must be 1 to %d digits for Tencent's verification templates", MaxCodeLength)}
	}
	if err := ctx.Err(); err != nil {
		return &otp.SendError{Provider: Provider, Reason: otp.ReasonUnavailable, Outcome: otp.OutcomeNotSent, Err: err}
	}

	req := sms.NewSendSmsRequest()
	req.PhoneNumberSet = []*string{&m.Phone}
	req.SmsSdkAppId = &s.cfg.SDKAppID
	req.SignName = &s.cfg.SignName
	req.TemplateId = &templateID
	req.TemplateParamSet = []*string{&m.Code}

	var resp *sms.SendSmsResponse
	var status int32
	f := s.call(ctx, func(c *sms.Client) error {
		var err error
		resp, err = c.SendSms(req)
		return err
	}, &status)
	if f == nil {
		f = sendStatus(resp, m.Phone)
	}
	if f == nil {
		return nil
	}
	f.redact(m.Code, s.cfg.AccessKeySecret, s.cfg.AccessKeyID)
	if f.malformed {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "tencent: unexpected SendSms response",
			slog.String("phone", otp.MaskPhone(m.Phone)), slog.String("request_id", f.requestID),
			slog.Int("http_status", int(status)), slog.String("problem", f.message),
			slog.String("outcome", f.outcome.String()))
	}
	return f.sendError()
}

// e164RE matches one phone number in E.164 form: '+', a country calling
// code that does not start with 0, and at most 15 digits in all.
var e164RE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
