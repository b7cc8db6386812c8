package tencent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
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

	// Logger receives failures, with phones masked and never a code or
	// secret. Nil means slog.Default().
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
	// transport needs no timeouts of its own.
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
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
// send succeeds only when the number's SendStatus code is "Ok".
func (s *Sender) Send(ctx context.Context, m otp.Message) error {
	templateID, ok := s.templates[m.Purpose]
	if !ok {
		return &otp.SendError{Provider: Provider, Reason: otp.ReasonMisconfigured, Outcome: otp.OutcomeNotSent,
			Message: fmt.Sprintf("no template for purpose %q", m.Purpose)}
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
	f := s.call(ctx, func(c *sms.Client) error {
		var err error
		resp, err = c.SendSms(req)
		return err
	})
	if f == nil {
		f = sendStatus(resp, m.Phone)
	}
	if f == nil {
		return nil
	}
	f.redact(m.Code, s.cfg.AccessKeySecret, s.cfg.AccessKeyID)
	return f.sendError()
}

// sendStatus finds the phone's entry in a SendSms response and returns a
// failure unless its code is "Ok".
func sendStatus(resp *sms.SendSmsResponse, phone string) *failure {
	if resp == nil || resp.Response == nil {
		return &failure{reason: otp.ReasonUnavailable, outcome: otp.OutcomeUnknown,
			message: "response has no Response object"}
	}
	requestID := deref(resp.Response.RequestId)
	var status *sms.SendStatus
	for _, st := range resp.Response.SendStatusSet {
		if st != nil && deref(st.PhoneNumber) == phone {
			status = st
		}
	}
	if status == nil && len(resp.Response.SendStatusSet) == 1 {
		// Tencent may write the number differently (for example without
		// the +86 of a domestic number); one entry is ours.
		status = resp.Response.SendStatusSet[0]
	}
	if status == nil {
		// The request reached Tencent, which may have sent the message.
		return &failure{reason: otp.ReasonUnavailable, outcome: otp.OutcomeUnknown, requestID: requestID,
			message: "response has no send status for the number"}
	}
	code := deref(status.Code)
	if strings.EqualFold(code, "Ok") {
		return nil
	}
	reason, outcome := classifyCode(code)
	return &failure{reason: reason, outcome: outcome, code: code, requestID: requestID, message: deref(status.Message)}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// apiClient is an SDK client whose transport carries the context of the
// call that holds it. A client serves one call at a time.
type apiClient struct {
	client *sms.Client
	rt     *callTransport
}

// sdkInit serializes creation of SDK clients. The SDK's Client.Init calls
// log.SetFlags on the standard logger; New restores the flags afterwards
// so the application's log output does not change.
var sdkInit sync.Mutex

func (s *Sender) newClient() (*apiClient, error) {
	rt := &callTransport{base: s.transport}
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = s.host
	prof.HttpProfile.Scheme = strings.ToUpper(s.scheme)
	prof.HttpProfile.ReqMethod = "POST"
	// The SDK's own timeout is in whole seconds; it is a backstop behind
	// the context deadline that call sets.
	prof.HttpProfile.ReqTimeout = int(math.Ceil(s.timeout.Seconds())) + 1
	prof.Language = "en-US"

	sdkInit.Lock()
	flags := log.Flags()
	client, err := sms.NewClient(common.NewCredential(s.cfg.AccessKeyID, s.cfg.AccessKeySecret), s.cfg.Region, prof)
	log.SetFlags(flags)
	sdkInit.Unlock()
	if err != nil {
		return nil, fmt.Errorf("tencent: create SDK client: %w", err)
	}
	client.WithHttpTransport(rt)
	return &apiClient{client: client, rt: rt}, nil
}

// call runs one API request with a client bound to ctx, bounded by the
// timeout, and converts an SDK error to a failure.
func (s *Sender) call(ctx context.Context, do func(*sms.Client) error) *failure {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	c, _ := s.clients.Get().(*apiClient)
	if c == nil {
		var err error
		if c, err = s.newClient(); err != nil {
			return &failure{reason: otp.ReasonUnknown, outcome: otp.OutcomeNotSent, err: err}
		}
	}
	c.rt.reset(ctx)
	err := do(c.client)
	f := classifySDKError(err, c.rt, ctx)
	c.rt.reset(nil)
	s.clients.Put(c)
	return f
}

// callTransport gives each request the context of the call. It records
// what classifySDKError needs: whether a connection was made, after which
// the request may have reached Tencent, the HTTP status, and whether the
// body exceeded maxResponseBytes.
type callTransport struct {
	base http.RoundTripper

	ctx       context.Context
	trips     int
	connected atomic.Bool
	status    atomic.Int32
	tooLarge  atomic.Bool
}

func (t *callTransport) reset(ctx context.Context) {
	t.ctx = ctx
	t.trips = 0
	t.connected.Store(false)
	t.status.Store(0)
	t.tooLarge.Store(false)
}

var errRedirect = errors.New("redirect not followed")

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.trips++
	if t.trips > 1 {
		// http.Client follows a redirect with a new request; the API
		// never redirects, so refuse to send the message elsewhere.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errRedirect
	}
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { t.connected.Store(true) },
	}
	resp, err := t.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		return nil, err
	}
	t.status.Store(int32(resp.StatusCode))
	resp.Body = &limitedBody{rc: resp.Body, left: maxResponseBytes, t: t}
	return resp, nil
}

var errBodyTooLarge = errors.New("response body larger than 1 MiB")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	t    *callTransport
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Read one more byte to tell a body of exactly the limit from a
		// longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			b.t.tooLarge.Store(true)
			return 0, errBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
