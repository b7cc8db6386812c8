package tencent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	sms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"github.com/latchkit/latch/otp"
)

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
// timeout, and converts an SDK error to a failure. If status is not nil,
// it receives the HTTP status of the response, or 0 without one.
func (s *Sender) call(ctx context.Context, do func(*sms.Client) error, status *int32) *failure {
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
	if status != nil {
		*status = c.rt.status.Load()
	}
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

	ctx        context.Context
	trips      int
	connected  atomic.Bool
	redirected atomic.Bool
	status     atomic.Int32
	tooLarge   atomic.Bool
}

func (t *callTransport) reset(ctx context.Context) {
	t.ctx = ctx
	t.trips = 0
	t.connected.Store(false)
	t.redirected.Store(false)
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
		t.redirected.Store(true)
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
