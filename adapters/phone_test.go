package adapters_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/adapters/internal/adaptertest"
	"github.com/latchkit/latch/otp"
)

// phoneRows are the phone sign-in behaviours that must not depend on the
// framework.
var phoneRows = []row{
	{"phone page renders", expect(anonymous, page("/sign-in/phone"), status(http.StatusOK), contentType("text/html"), body(`autocomplete="tel"`))},
	{"phone sign-up page renders", expect(anonymous, page("/sign-up/phone"), status(http.StatusOK), body("Create an account"))},
	{"phone page rejects PUT", expect(anonymous, adaptertest.Request{Method: http.MethodPut, Path: "/sign-in/phone", Header: adaptertest.Navigation}, status(http.StatusMethodNotAllowed))},
	{"cross-site phone post rejected", expect(anonymous, phonePost(adaptertest.CrossSitePost, "send", "13800138000"), status(http.StatusForbidden))},
	{"invalid number explained", expect(anonymous, phonePost(adaptertest.SameOriginPost, "send", "12"), status(http.StatusBadRequest), body("not a valid phone number"))},
	{"phone sign-in reaches the private page", phoneSignIn},
}

func TestConformancePhone(t *testing.T) {
	runConformance(t, phoneRows, withPhone)
}

// phonePost returns a form post to the phone page.
func phonePost(kind func(string) adaptertest.Request, action, number string) adaptertest.Request {
	req := kind("/sign-in/phone")
	req.Form = url.Values{"action": {action}, "phone": {number}, "country": {"CN"}, "return_to": {"/private"}}
	return req
}

// sentCodes keeps the last code per number for the phone rows. Rows run in
// parallel on many sites, so each phoneSignIn uses a number of its own.
type sentCodes struct {
	mu    sync.Mutex
	codes map[string]string
}

func (s *sentCodes) Send(ctx context.Context, m otp.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[m.Phone] = m.Code
	return nil
}

func (s *sentCodes) code(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[phone]
}

var (
	sender     = &sentCodes{codes: map[string]string{}}
	nextNumber atomic.Int64
)

func withPhone(c *latch.Config) {
	codes, err := otp.New(otp.Config{Sender: sender, Key: make([]byte, 32), DefaultRegion: "CN",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	c.Phone = &latch.PhoneConfig{Codes: codes}
}

var flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// phoneSignIn signs in by phone and checks that the user reaches the
// private page with the phone sign-in method.
func phoneSignIn(t *testing.T, s *site) {
	b := s.Browser()
	national := fmt.Sprintf("1380013%04d", nextNumber.Add(1))
	sent := b.Send(phonePost(adaptertest.SameOriginPost, "send", national))
	status(http.StatusSeeOther)(t, s, sent)
	page := b.Send(adaptertest.Page(sent.Header.Get("Location")))
	m := flowField.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no code form after sending the number: %.300s", page.Body)
	}
	code := sender.code("+86" + national)
	verify := adaptertest.SameOriginPost("/sign-in/phone")
	verify.Form = url.Values{"action": {"verify"}, "flow": {m[1]}, "code": {code}}
	r := b.Send(verify)
	status(http.StatusSeeOther)(t, s, r)
	header("Location", "/private")(t, s, r)

	private := b.Send(adaptertest.Page("/private"))
	status(http.StatusOK)(t, s, private)
	if !strings.Contains(private.Body, "+86"+national) {
		t.Errorf("private page after phone sign-in: %.300s", private.Body)
	}
}
