// Package tencenttest runs a local stand-in for the Tencent Cloud SMS API
// (version 2021-01-11), for tests of code that sends SMS through it.
//
// The stand-in listens on 127.0.0.1, checks the TC3-HMAC-SHA256 signature
// of every request as Tencent does, and serves SendSms,
// DescribeSmsTemplateList and DescribeSmsSignList with Tencent's response
// shapes. It records the messages it accepts for sending, so tests read
// codes back with LastCode, and every SendSms request, answered or not,
// with SendRequests. SetFault and FailNumber make it misbehave.
//
//	srv := tencenttest.NewServer(tencenttest.Options{})
//	defer srv.Close()
//	cfg, _ := tencent.ParseConfig(srv.ConnectorJSON())
//	sender, _ := tencent.New(cfg, tencent.Options{Endpoint: srv.URL})
//	// ... issue a code ...
//	code, ok := srv.LastCode("+8613800138000")
//
// It models what the tests of this module need, not all of Tencent's
// behaviour: rate limits, billing and delivery reports are not simulated.
package tencenttest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options, also used in the connector JSON of a new server.
const (
	DefaultSecretID  = "AKIDlatchtest00000000000000000000000"
	DefaultSecretKey = "latch-test-secret-key-not-for-production"
	DefaultSDKAppID  = "1400000000"
	DefaultRegion    = "ap-guangzhou"
	DefaultSignName  = "Latch"
	DefaultMaxHang   = 10 * time.Second
)

// Template IDs registered by NewServer, one approved verification template
// per usage type, each with the content "Your code is {1}.".
const (
	TemplateRegister       uint64 = 100001
	TemplateSignIn         uint64 = 100002
	TemplateForgotPassword uint64 = 100003
	TemplateGeneric        uint64 = 100004
)

// SignID is the ID of the approved signature DefaultSignName that NewServer
// registers.
const SignID uint64 = 9001

// Template statuses, as Tencent reports them in StatusCode.
const (
	StatusApproved int64 = 0
	StatusReview   int64 = 1
	StatusRejected int64 = -1
)

// Options configures NewServer. Zero fields take the defaults above.
type Options struct {
	// SecretID and SecretKey are the only credentials the server accepts.
	SecretID  string
	SecretKey string

	// SDKAppID is the only SmsSdkAppId that SendSms accepts.
	SDKAppID string

	// Now returns the server's time for the signature's 5-minute validity.
	// Nil means time.Now.
	Now func() time.Time

	// MaxHang bounds FaultHang when the fault gives no duration.
	MaxHang time.Duration

	// Addr is the loopback address to listen on, such as
	// "127.0.0.1:9110". Empty means a free port on 127.0.0.1.
	Addr string
}

// Template is an SMS body template as the stand-in keeps it.
type Template struct {
	ID            uint64
	Name          string
	Content       string // with placeholders {1}, {2}, ...
	Status        int64  // StatusApproved, StatusReview or StatusRejected
	ReviewReply   string
	International bool

	// UsageType, if set, lists the template in ConnectorJSON under this
	// Logto usage type, such as "SignIn".
	UsageType string
}

// Sign is an SMS signature as the stand-in keeps it.
type Sign struct {
	ID            uint64
	Name          string
	Status        int64
	ReviewReply   string
	International bool
}

// Message is one SMS that SendSms accepted.
type Message struct {
	Phone      string // E.164
	TemplateID string
	SignName   string
	SDKAppID   string
	Params     []string
	RequestID  string
	Time       time.Time
}

// FaultKind selects how the server misbehaves.
type FaultKind int

// Faults.
const (
	// FaultError responds with HTTP 200 and a request-level error: Fault.Code
	// and Fault.Message in Tencent's error shape.
	FaultError FaultKind = iota + 1
	// FaultStatus responds with HTTP status Fault.Status (default 502) and
	// an HTML body, as a gateway in front of the API would.
	FaultStatus
	// FaultHTML responds with HTTP 200 and an HTML page.
	FaultHTML
	// FaultEmpty responds with HTTP 200 and an empty body.
	FaultEmpty
	// FaultHuge responds with HTTP 200 and 8 MiB that are not JSON.
	FaultHuge
	// FaultHang waits for Fault.Hang (default Options.MaxHang), until the
	// client gives up or until Close, then responds with 504.
	FaultHang
	// FaultBody responds with HTTP status Fault.Status (default 200), the
	// headers in Fault.Header and Fault.Body as it is, for responses that
	// the other kinds do not cover: JSON of the wrong shape, redirects,
	// compressed bodies.
	FaultBody
	// FaultReset reads the request and then resets the TCP connection
	// without responding, as a failing load balancer does.
	FaultReset
	// FaultStall responds with HTTP 200 and the first bytes of a JSON
	// body, then waits like FaultHang before closing the connection.
	FaultStall
)

// Fault makes the server misbehave. See SetFault.
type Fault struct {
	Kind    FaultKind
	Code    string        // for FaultError
	Message string        // for FaultError
	Status  int           // for FaultStatus and FaultBody
	Hang    time.Duration // for FaultHang and FaultStall

	// Body and Header are the response of FaultBody. Header may also set
	// Content-Type, which is application/json otherwise.
	Body   []byte
	Header http.Header

	// EchoRequest makes FaultError append the request's Authorization
	// header and body to Message, as a server that reflects its input
	// does, so that tests can check what a client redacts.
	EchoRequest bool

	// Action limits the fault to one API action, such as "SendSms". Empty
	// means every action.
	Action string
}

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint, such as "http://127.0.0.1:39041", to pass as
	// tencent.Options.Endpoint.
	URL string

	opts Options
	ts   *httptest.Server
	quit chan struct{}

	mu        sync.Mutex
	templates map[uint64]Template
	signs     map[uint64]Sign
	messages  []Message
	received  []Message
	failures  map[string]numberFailure
	fault     *Fault
	requests  map[string]int
	closeOnce sync.Once
}

type numberFailure struct{ code, message string }

// NewServer starts a stand-in on 127.0.0.1 with the signature DefaultSignName
// and four approved templates (TemplateRegister to TemplateGeneric). Call
// Close when done. It panics when it cannot listen; see [Start].
func NewServer(opts Options) *Server {
	s, err := Start(opts)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Start is NewServer for programs: it returns an error when Options.Addr
// is not a loopback address or cannot be listened on.
func Start(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tencenttest: Addr %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("tencenttest: Addr %q: the stand-in listens only on a loopback IP address, such as 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tencenttest: listen on %s: %v", addr, err)
	}

	if opts.SecretID == "" {
		opts.SecretID = DefaultSecretID
	}
	if opts.SecretKey == "" {
		opts.SecretKey = DefaultSecretKey
	}
	if opts.SDKAppID == "" {
		opts.SDKAppID = DefaultSDKAppID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxHang <= 0 {
		opts.MaxHang = DefaultMaxHang
	}
	s := &Server{
		opts:      opts,
		quit:      make(chan struct{}),
		templates: map[uint64]Template{},
		signs:     map[uint64]Sign{},
		failures:  map[string]numberFailure{},
		requests:  map[string]int{},
	}
	s.AddSign(Sign{ID: SignID, Name: DefaultSignName, Status: StatusApproved})
	for _, t := range []struct {
		id    uint64
		usage string
	}{
		{TemplateRegister, "Register"}, {TemplateSignIn, "SignIn"},
		{TemplateForgotPassword, "ForgotPassword"}, {TemplateGeneric, "Generic"},
	} {
		s.AddTemplate(Template{ID: t.id, Name: t.usage + " code", Content: "Your code is {1}.",
			Status: StatusApproved, UsageType: t.usage})
	}

	ts := httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	ts.Listener = l
	ts.Start()
	s.ts = ts
	s.URL = ts.URL
	return s, nil
}

// Close stops the server. Requests held by FaultHang return at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.quit) })
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// ConnectorJSON returns a Logto Tencent SMS connector configuration for
// this server: its credentials, app ID, region, DefaultSignName and every
// template that has a UsageType.
func (s *Server) ConnectorJSON() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	type tmpl struct {
		TemplateCode string `json:"templateCode"`
		UsageType    string `json:"usageType"`
	}
	ids := make([]uint64, 0, len(s.templates))
	for id := range s.templates {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var templates []tmpl
	for _, id := range ids {
		if t := s.templates[id]; t.UsageType != "" {
			templates = append(templates, tmpl{TemplateCode: strconv.FormatUint(id, 10), UsageType: t.UsageType})
		}
	}
	b, err := json.MarshalIndent(map[string]any{
		"accessKeyId":     s.opts.SecretID,
		"accessKeySecret": s.opts.SecretKey,
		"signName":        DefaultSignName,
		"region":          DefaultRegion,
		"sdkAppId":        s.opts.SDKAppID,
		"templates":       templates,
	}, "", "  ")
	if err != nil {
		panic(err) // only strings and slices of strings
	}
	return b
}

// AddTemplate registers t, replacing any template with its ID.
func (s *Server) AddTemplate(t Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates[t.ID] = t
}

// RemoveTemplate deletes the template with the given ID.
func (s *Server) RemoveTemplate(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.templates, id)
}

// AddSign registers sg, replacing any signature with its ID.
func (s *Server) AddSign(sg Sign) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signs[sg.ID] = sg
}

// FailNumber makes SendSms report code and message for phone (E.164) in
// its SendStatusSet, inside an HTTP 200 response, as Tencent does for a
// number it could not send to. An empty code removes the failure.
func (s *Server) FailNumber(phone, code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.failures, phone)
		return
	}
	s.failures[phone] = numberFailure{code: code, message: message}
}

// SetFault makes every following request (or every request of f.Action)
// misbehave as f specifies, until ClearFault. The request is still counted by
// Requests, but SendSms records no message.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = &f
}

// ClearFault ends the fault set by SetFault.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
}

// Messages returns a copy of the messages sent so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// LastCode returns the first template parameter of the last message sent
// to phone (E.164), which is the code for verification templates.
func (s *Server) LastCode(phone string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.messages) - 1; i >= 0; i-- {
		if m := s.messages[i]; m.Phone == phone && len(m.Params) > 0 {
			return m.Params[0], true
		}
	}
	return "", false
}

// SendRequests returns one Message for each number of every SendSms
// request whose body parsed as JSON, oldest first, including requests that
// a fault, a failed check or FailNumber answered. Tests use it to count the
// attempts to reach a number and to learn codes that were never delivered.
func (s *Server) SendRequests() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Requests returns how many requests of the given action arrived,
// including rejected ones; an empty action counts all.
func (s *Server) Requests(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if action == "" {
		n := 0
		for _, c := range s.requests {
			n += c
		}
		return n
	}
	return s.requests[action]
}

// apiError is a request-level error in Tencent's shape.
type apiError struct{ code, message string }

const maxRequestBody = 1 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	action := r.Header.Get("X-TC-Action")
	s.mu.Lock()
	s.requests[action]++
	fault := s.fault
	s.mu.Unlock()

	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return
	}
	if action == "SendSms" {
		s.recordSendRequest(body, requestID)
	}
	if fault != nil && (fault.Action == "" || fault.Action == action) {
		s.serveFault(w, r, *fault, requestID, body)
		return
	}
	if len(body) > maxRequestBody {
		writeError(w, requestID, apiError{"InvalidParameter", "The request body exceeds 1 MiB."})
		return
	}
	if e := s.checkRequest(r, body); e != nil {
		writeError(w, requestID, *e)
		return
	}

	var result any
	var e *apiError
	switch action {
	case "SendSms":
		result, e = s.sendSms(body, requestID)
	case "DescribeSmsTemplateList":
		result, e = s.describeTemplates(body)
	case "DescribeSmsSignList":
		result, e = s.describeSigns(body)
	default:
		e = &apiError{"InvalidAction", fmt.Sprintf("The action %q does not exist.", action)}
	}
	if e != nil {
		writeError(w, requestID, *e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"Response": withRequestID(result, requestID)})
}

// sendRequest is the body of a SendSms request, as the stand-in reads it.
type sendRequest struct {
	PhoneNumberSet   []string
	SmsSdkAppId      string
	TemplateId       string
	SignName         string
	TemplateParamSet []string
}

// recordSendRequest adds the numbers of a SendSms body to s.received.
func (s *Server) recordSendRequest(body []byte, requestID string) {
	var req sendRequest
	if json.Unmarshal(body, &req) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, phone := range req.PhoneNumberSet {
		s.received = append(s.received, Message{
			Phone: phone, TemplateID: req.TemplateId, SignName: req.SignName, SDKAppID: req.SmsSdkAppId,
			Params: slices.Clone(req.TemplateParamSet), RequestID: requestID, Time: s.opts.Now(),
		})
	}
}

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault, requestID string, body []byte) {
	switch f.Kind {
	case FaultError:
		msg := f.Message
		if f.EchoRequest {
			msg += " Authorization: " + r.Header.Get("Authorization") + " Body: " + string(body)
		}
		writeError(w, requestID, apiError{f.Code, msg})
	case FaultStatus:
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!DOCTYPE html><html><body>Maintenance</body></html>")
	case FaultEmpty:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	case FaultHuge:
		w.Header().Set("Content-Type", "application/json")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 128 { // 8 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case FaultHang:
		if s.hang(r, f.Hang) {
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	case FaultBody:
		for k, vs := range f.Header {
			w.Header()[k] = vs
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		w.Write(f.Body)
	case FaultReset:
		resetConnection(w)
	case FaultStall:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"Response":{"SendStatusSet":[`)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		s.hang(r, f.Hang)
		resetConnection(w)
	default:
		writeError(w, requestID, apiError{"InternalError", fmt.Sprintf("Unknown fault kind %d.", f.Kind)})
	}
}

// hang waits for d (at most Options.MaxHang), for the client to give up or
// for Close. It reports whether d passed.
func (s *Server) hang(r *http.Request, d time.Duration) bool {
	if d <= 0 || d > s.opts.MaxHang {
		d = s.opts.MaxHang
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-s.quit:
		return false
	case <-timer.C:
		return true
	}
}

// resetConnection closes the connection of w with a TCP reset (SO_LINGER
// 0), so the client reads ECONNRESET instead of a clean end of stream.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}

// authorizationRE matches the Authorization header of TC3-HMAC-SHA256.
var authorizationRE = regexp.MustCompile(
	`^TC3-HMAC-SHA256 Credential=([^/\s]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9]+)/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// checkRequest checks the common headers and the TC3-HMAC-SHA256 signature
// the way Tencent's API gateway does.
func (s *Server) checkRequest(r *http.Request, body []byte) *apiError {
	if r.Method != http.MethodPost {
		return &apiError{"InvalidRequest", "The stand-in accepts only POST requests."}
	}
	if r.URL.Path != "/" {
		return &apiError{"InvalidRequest", "The request path must be /."}
	}
	if v := r.Header.Get("X-TC-Version"); v != "2021-01-11" {
		return &apiError{"NoSuchVersion", fmt.Sprintf("The API version %q does not exist.", v)}
	}
	if r.Header.Get("X-TC-Region") == "" {
		return &apiError{"MissingParameter", "The X-TC-Region header is missing."}
	}

	m := authorizationRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return &apiError{"AuthFailure.InvalidAuthorization", "The Authorization header is not in the TC3-HMAC-SHA256 format."}
	}
	secretID, date, service, signedHeaders, signature := m[1], m[2], m[3], m[4], m[5]
	if secretID != s.opts.SecretID {
		return &apiError{"AuthFailure.SecretIdNotFound", "The SecretId is not found."}
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return &apiError{"AuthFailure.InvalidAuthorization", "The X-TC-Timestamp header is not a Unix time."}
	}
	if skew := s.opts.Now().Sub(time.Unix(ts, 0)); skew > 5*time.Minute || skew < -5*time.Minute {
		return &apiError{"AuthFailure.SignatureExpire", "The request timestamp differs from the server time by more than 5 minutes."}
	}
	if time.Unix(ts, 0).UTC().Format("2006-01-02") != date {
		return &apiError{"AuthFailure.SignatureFailure", "The credential scope date does not match X-TC-Timestamp."}
	}
	if service != "sms" {
		return &apiError{"AuthFailure.SignatureFailure", fmt.Sprintf("The credential scope names service %q, not sms.", service)}
	}
	headers := strings.Split(signedHeaders, ";")
	if !slices.Contains(headers, "content-type") || !slices.Contains(headers, "host") {
		return &apiError{"AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host."}
	}

	var canonicalHeaders strings.Builder
	for _, h := range headers {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canonicalHeaders.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	payloadHash := sha256.Sum256(body)
	canonicalRequest := strings.Join([]string{
		r.Method, r.URL.Path, r.URL.RawQuery, canonicalHeaders.String(), signedHeaders,
		hex.EncodeToString(payloadHash[:]),
	}, "\n")
	requestHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := strings.Join([]string{
		"TC3-HMAC-SHA256", strconv.FormatInt(ts, 10), date + "/" + service + "/tc3_request",
		hex.EncodeToString(requestHash[:]),
	}, "\n")
	key := hmacSHA256([]byte("TC3"+s.opts.SecretKey), date)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "tc3_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return &apiError{"AuthFailure.SignatureFailure", "The request signature does not match the one the server computed."}
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

var placeholderRE = regexp.MustCompile(`\{(\d+)\}`)

// e164RE is the number shape that SendSms accepts here.
var e164RE = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

func (s *Server) sendSms(body []byte, requestID string) (any, *apiError) {
	var req sendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &apiError{"FailedOperation.JsonParseFail", "The request body is not valid JSON."}
	}
	if req.SmsSdkAppId != s.opts.SDKAppID {
		return nil, &apiError{"UnauthorizedOperation.SmsSdkAppIdVerifyFail", "The SmsSdkAppId does not belong to this account."}
	}
	if len(req.PhoneNumberSet) == 0 {
		return nil, &apiError{"MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty."}
	}
	if len(req.PhoneNumberSet) > 200 {
		return nil, &apiError{"LimitExceeded.PhoneNumberCountLimit", "PhoneNumberSet has more than 200 numbers."}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := strconv.ParseUint(req.TemplateId, 10, 64)
	tmpl, ok := s.templates[id]
	if !ok || tmpl.Status != StatusApproved {
		return nil, &apiError{"FailedOperation.TemplateIncorrectOrUnapproved", "The template is not approved or does not exist."}
	}
	if !tmpl.International || req.SignName != "" {
		found := false
		for _, sg := range s.signs {
			if sg.Name == req.SignName && sg.Status == StatusApproved && sg.International == tmpl.International {
				found = true
			}
		}
		if !found {
			return nil, &apiError{"FailedOperation.SignatureIncorrectOrUnapproved", "The signature is not approved or does not exist."}
		}
	}
	if n := len(placeholderRE.FindAllString(tmpl.Content, -1)); n != len(req.TemplateParamSet) {
		return nil, &apiError{"FailedOperation.TemplateIncorrectOrUnapproved",
			fmt.Sprintf("The template has %d parameters, the request gives %d.", n, len(req.TemplateParamSet))}
	}
	for _, p := range req.TemplateParamSet {
		if len(p) > 6 || strings.Trim(p, "0123456789") != "" {
			return nil, &apiError{"InvalidParameterValue.TemplateParameterFormatError",
				"Verification code templates take parameters of 0 to 6 digits."}
		}
	}

	// One request goes either to mainland China or abroad, and numbers
	// abroad need an international template.
	domestic, abroad := false, false
	for _, phone := range req.PhoneNumberSet {
		if e164RE.MatchString(phone) {
			domestic = domestic || strings.HasPrefix(phone, "+86")
			abroad = abroad || !strings.HasPrefix(phone, "+86")
		}
	}
	if domestic && abroad {
		return nil, &apiError{"UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
			"PhoneNumberSet mixes numbers in mainland China and abroad."}
	}
	if (domestic || abroad) && tmpl.International != abroad {
		// NOTE: Tencent documents the rule but not the error code that
		// breaking it returns; this one is the closest documented code.
		return nil, &apiError{"FailedOperation.TemplateIncorrectOrUnapproved",
			"Numbers abroad take an international template, and numbers in mainland China a domestic one."}
	}

	statuses := make([]map[string]any, 0, len(req.PhoneNumberSet))
	for i, phone := range req.PhoneNumberSet {
		st := map[string]any{
			"SerialNo":       fmt.Sprintf("%s-%d", requestID[:8], i),
			"PhoneNumber":    phone,
			"Fee":            0,
			"SessionContext": "",
			"IsoCode":        isoCode(phone),
		}
		switch f, failed := s.failures[phone]; {
		case failed:
			st["Code"], st["Message"] = f.code, f.message
		case !e164RE.MatchString(phone):
			st["Code"], st["Message"] = "InvalidParameterValue.IncorrectPhoneNumber", "The phone number is malformed."
		default:
			st["Code"], st["Message"], st["Fee"] = "Ok", "send success", 1
			s.messages = append(s.messages, Message{
				Phone: phone, TemplateID: req.TemplateId, SignName: req.SignName, SDKAppID: req.SmsSdkAppId,
				Params: slices.Clone(req.TemplateParamSet), RequestID: requestID, Time: s.opts.Now(),
			})
		}
		statuses = append(statuses, st)
	}
	return map[string]any{"SendStatusSet": statuses}, nil
}

func isoCode(phone string) string {
	for prefix, iso := range map[string]string{"+86": "CN", "+852": "HK", "+853": "MO", "+886": "TW", "+44": "GB", "+1": "US"} {
		if strings.HasPrefix(phone, prefix) {
			return iso
		}
	}
	return "DEF" // Tencent's code for an unrecognized region
}

type describeRequest struct {
	TemplateIdSet []uint64
	SignIdSet     []uint64
	International *uint64
}

func parseDescribe(body []byte, ids func(describeRequest) []uint64) (describeRequest, *apiError) {
	var req describeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, &apiError{"FailedOperation.JsonParseFail", "The request body is not valid JSON."}
	}
	if req.International == nil || *req.International > 1 {
		return req, &apiError{"InvalidParameterValue.InvalidInternational", "International must be 0 or 1."}
	}
	if n := len(ids(req)); n == 0 || n > 100 {
		return req, &apiError{"InvalidParameter", "The ID set must have 1 to 100 IDs."}
	}
	return req, nil
}

func (s *Server) describeTemplates(body []byte) (any, *apiError) {
	req, e := parseDescribe(body, func(r describeRequest) []uint64 { return r.TemplateIdSet })
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := []map[string]any{}
	for _, id := range req.TemplateIdSet {
		t, ok := s.templates[id]
		if !ok || t.International != (*req.International == 1) {
			continue
		}
		set = append(set, map[string]any{
			"TemplateId": t.ID, "International": *req.International, "StatusCode": t.Status,
			"ReviewReply": t.ReviewReply, "TemplateName": t.Name, "CreateTime": 1700000000,
			"TemplateContent": t.Content,
		})
	}
	return map[string]any{"DescribeTemplateStatusSet": set}, nil
}

func (s *Server) describeSigns(body []byte) (any, *apiError) {
	req, e := parseDescribe(body, func(r describeRequest) []uint64 { return r.SignIdSet })
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := []map[string]any{}
	for _, id := range req.SignIdSet {
		sg, ok := s.signs[id]
		if !ok || sg.International != (*req.International == 1) {
			continue
		}
		set = append(set, map[string]any{
			"SignId": sg.ID, "International": *req.International, "StatusCode": sg.Status,
			"ReviewReply": sg.ReviewReply, "SignName": sg.Name, "CreateTime": 1700000000,
		})
	}
	return map[string]any{"DescribeSignListStatusSet": set}, nil
}

func withRequestID(result any, requestID string) any {
	m, _ := result.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m["RequestId"] = requestID
	return m
}

func writeError(w http.ResponseWriter, requestID string, e apiError) {
	writeJSON(w, http.StatusOK, map[string]any{"Response": map[string]any{
		"Error":     map[string]string{"Code": e.code, "Message": e.message},
		"RequestId": requestID,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
