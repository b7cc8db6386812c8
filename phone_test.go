package latch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store"
)

// codeSender records the codes it is asked to send, and fails on demand.
// It keeps the last message per number, so its memory stays bounded in
// the soak test.
type codeSender struct {
	mu      sync.Mutex
	lastMsg *otp.Message
	byPhone map[string]otp.Message
	sent    int
	fail    error
}

func (s *codeSender) Send(ctx context.Context, m otp.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.byPhone == nil {
		s.byPhone = map[string]otp.Message{}
	}
	s.byPhone[m.Phone] = m
	s.lastMsg = &m
	s.sent++
	return nil
}

func (s *codeSender) last(t *testing.T) otp.Message {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastMsg == nil {
		t.Fatal("no code was sent")
	}
	return *s.lastMsg
}

// codeFor returns the last code sent to an E.164 number.
func (s *codeSender) codeFor(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPhone[phone].Code
}

func (s *codeSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// phoneSite is a site with phone sign-in, and OpenID Connect unless
// phoneOnly.
type phoneSite struct {
	*site
	sender *codeSender
	codes  *otp.Service
}

func newPhoneSite(t *testing.T, phoneOnly bool, edit func(*Config, *otp.Config)) *phoneSite {
	t.Helper()
	ps := &phoneSite{sender: &codeSender{}}
	ps.site = newSite(t, func(c *Config) {
		oc := otp.Config{
			Sender:        ps.sender,
			Key:           []byte(strings.Repeat("k", 32)),
			DefaultRegion: "CN",
			Now:           c.Now,
			Logger:        c.Logger,
		}
		if phoneOnly {
			c.Issuer = ""
		}
		c.Phone = &PhoneConfig{}
		if edit != nil {
			edit(c, &oc)
		}
		codes, err := otp.New(oc)
		if err != nil {
			t.Fatalf("otp.New: %v", err)
		}
		ps.codes = codes
		c.Phone.Codes = codes
	})
	return ps
}

var flowPattern = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// sendCode posts a number to the phone page at path and returns the code
// page it leads to.
func (ps *phoneSite) sendCode(b *browser, path, number string) *response {
	ps.t.Helper()
	r := b.post(ps.srv.URL+path, url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}, "return_to": {"/private"}})
	r.expectStatus(ps.t, http.StatusSeeOther)
	return b.get(r.location(ps.t).String()).expectStatus(ps.t, http.StatusOK)
}

// flowOf returns the flow ID in a code page.
func flowOf(t *testing.T, page *response) string {
	t.Helper()
	m := flowPattern.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no flow field in page:\n%.800s", page.body)
	}
	return m[1]
}

func (ps *phoneSite) enterCode(b *browser, path, flow, code string) *response {
	ps.t.Helper()
	return b.post(ps.srv.URL+path, url.Values{"action": {"verify"}, "flow": {flow}, "code": {code}})
}

// phoneSignIn signs in through the phone pages and returns the final
// response of the code step.
func (ps *phoneSite) phoneSignIn(b *browser, number string) *response {
	ps.t.Helper()
	page := ps.sendCode(b, "/sign-in/phone", number)
	return ps.enterCode(b, "/sign-in/phone", flowOf(ps.t, page), ps.sender.last(ps.t).Code)
}

func TestPhoneSignIn(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()

	form := b.get(ps.srv.URL+"/sign-in/phone?return_to=%2Fprivate").expectStatus(t, http.StatusOK)
	mustContain(t, "number page", form.text(),
		`<label for="phone">`, `id="phone"`, `autocomplete="tel"`, `type="tel"`, `name="country"`,
		`<option value="CN" selected>China (+86)</option>`, `name="return_to" value="/private"`,
		`aria-live`, `Continue with 127.0.0.1`, `href="/sign-in?return_to=%2Fprivate"`, `name="viewport"`)

	page := ps.sendCode(b, "/sign-in/phone", "138 0013 8000")
	mustContain(t, "code page", page.text(), `autocomplete="one-time-code"`, `inputmode="numeric"`,
		`<label for="code">`, "We sent a 6-digit code to +86\u00a0138\u00a00013\u00a08000.", `name="action" value="resend"`)
	msg := ps.sender.last(t)
	if msg.Phone != "+8613800138000" || msg.Purpose != otp.SignIn || len(msg.Code) != 6 || msg.Locale != "en" {
		t.Errorf("message sent = %+v, want the E.164 number, SignIn, 6 digits and locale en", msg)
	}
	before := ps.sessionCookie(b)

	r := ps.enterCode(b, "/sign-in/phone", flowOf(t, page), msg.Code).expectStatus(t, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "/private" {
		t.Errorf("after the code, Location = %q, want the return_to /private", got)
	}
	if after := ps.sessionCookie(b); after == before || after == "" {
		t.Errorf("session token not renewed at phone sign-in")
	}
	if got := b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusOK).body; got != "private for +8613800138000" {
		t.Errorf("GET /private = %q, want the phone user's page", got)
	}
	// Signed in, the sign-in and sign-up pages send the visitor on.
	for target, want := range map[string]string{"/sign-in/phone?return_to=%2Fprivate": "/private", "/sign-up/phone": "/"} {
		if got := b.get(ps.srv.URL+target).expectStatus(t, http.StatusFound).Header.Get("Location"); got != want {
			t.Errorf("GET %s signed in: Location %q, want %q", target, got, want)
		}
	}

	var u *User
	ps.srv.Config.Handler = ps.auth.Wrap(ps.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ = UserFrom(r.Context())
	})))
	b.get(ps.srv.URL+"/x").expectStatus(t, http.StatusOK)
	if u == nil || u.Method != MethodPhone || u.Phone != "+8613800138000" || !u.PhoneVerified || u.Issuer != "" {
		t.Errorf("UserFrom after phone sign-in = %+v", u)
	}
	var claims map[string]any
	if err := u.Claims(&claims); err != nil || claims["phone_number"] != "+8613800138000" || claims["sub"] != "+8613800138000" {
		t.Errorf("claims = %v, %v", claims, err)
	}
	if _, ok := TokensFrom(context.Background()); ok {
		t.Error("TokensFrom outside a request reported tokens")
	}

	// The code works once.
	again := ps.enterCode(b, "/sign-in/phone", flowOf(t, page), msg.Code)
	if again.StatusCode == http.StatusSeeOther {
		t.Error("the same code signed in twice")
	}
	logs := ps.logs.String()
	mustContain(t, "log", logs, "latch: signed in", "method=phone", "+86*******8000")
	for _, secret := range []string{msg.Code, "8613800138000"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestPhoneResolveHook(t *testing.T) {
	var seen []VerifiedPhone
	var verdict error
	ps := newPhoneSite(t, false, func(c *Config, _ *otp.Config) {
		c.Phone.Resolve = func(ctx context.Context, v VerifiedPhone) (*PhoneAccount, error) {
			seen = append(seen, v)
			if verdict != nil {
				return nil, verdict
			}
			return &PhoneAccount{Subject: "acct-7", Name: "Wang Fang", Claims: map[string]any{"roles": []string{"admin"}}}, nil
		}
	})
	b := ps.browser()
	ps.phoneSignIn(b, "13800138000").expectStatus(t, http.StatusSeeOther)
	if len(seen) != 1 || seen[0].Phone != "+8613800138000" || seen[0].Purpose != otp.SignIn || seen[0].Region != "CN" {
		t.Errorf("Resolve saw %+v", seen)
	}
	ps.srv.Config.Handler = ps.auth.Wrap(ps.auth.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		io.WriteString(w, u.Subject+"|"+u.Name+"|"+u.Phone)
	}), RequireClaim("roles", "admin")))
	if got := b.get(ps.srv.URL+"/x").expectStatus(t, http.StatusOK).body; got != "acct-7|Wang Fang|+8613800138000" {
		t.Errorf("user after Resolve = %q", got)
	}

	verdict = ErrPhoneRejected
	other := ps.browser()
	r := ps.phoneSignIn(other, "13800138001").expectStatus(t, http.StatusForbidden)
	mustContain(t, "page", r.text(), "This phone number cannot be used to sign in here.")
	other.get(ps.srv.URL+"/x").expectStatus(t, http.StatusFound)

	verdict = errors.New("database is down")
	third := ps.browser()
	ps.phoneSignIn(third, "13800138002").expectStatus(t, http.StatusServiceUnavailable)
	mustContain(t, "log", ps.logs.String(), "PhoneConfig.Resolve", "database is down")
}

func TestPhoneSignUpPurpose(t *testing.T) {
	var purposes []otp.Purpose
	ps := newPhoneSite(t, false, func(c *Config, _ *otp.Config) {
		c.Phone.Resolve = func(ctx context.Context, v VerifiedPhone) (*PhoneAccount, error) {
			purposes = append(purposes, v.Purpose)
			return &PhoneAccount{Subject: "new-1"}, nil
		}
	})
	b := ps.browser()
	form := b.get(ps.srv.URL+"/sign-up/phone").expectStatus(t, http.StatusOK)
	mustContain(t, "sign-up page", form.text(), "Create an account with your phone", "Already have an account?")
	page := ps.sendCode(b, "/sign-up/phone", "13800138000")
	if p := ps.sender.last(t).Purpose; p != otp.Register {
		t.Errorf("sign-up code purpose = %s, want Register", p)
	}
	// A Register code does not work on the sign-in page.
	ps.enterCode(b, "/sign-in/phone", flowOf(t, page), ps.sender.last(t).Code).expectStatus(t, http.StatusBadRequest)
	ps.enterCode(b, "/sign-up/phone", flowOf(t, page), ps.sender.last(t).Code).expectStatus(t, http.StatusSeeOther)
	if len(purposes) != 1 || purposes[0] != otp.Register {
		t.Errorf("Resolve purposes = %v, want [Register]", purposes)
	}
}

func TestPhoneNumberErrors(t *testing.T) {
	tests := []struct {
		name, number, country string
		status                int
		message               string
	}{
		{"empty", "  ", "CN", 400, "Enter your phone number."},
		{"letters", "call me", "CN", 400, "This is not a valid phone number."},
		{"too short", "123", "CN", 400, "This is not a valid phone number."},
		{"fixed line", "010 6552 9988", "CN", 400, "Enter a mobile number that can receive text messages."},
		{"other region", "+1 201 555 0123", "CN", 400, "cannot be used here"},
		{"region not offered", "201 555 0123", "US", 400, "cannot be used here"},
		{"markup kept escaped", `<script>alert(1)</script>`, "CN", 400, `value="&lt;script&gt;alert(1)&lt;/script&gt;"`},
	}
	ps := newPhoneSite(t, false, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := ps.browser()
			r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {tt.number}, "country": {tt.country}})
			r.expectStatus(t, tt.status)
			mustContain(t, "page", r.body, tt.message, `aria-invalid="true"`, `aria-describedby="phone-error phone-hint"`)
			if strings.TrimSpace(tt.number) != "" && !strings.Contains(tt.name, "markup") {
				mustContain(t, "page keeps the input", r.text(), `value="`+tt.number+`"`)
			}
		})
	}
	if n := ps.sender.count(); n != 0 {
		t.Errorf("%d codes sent for invalid numbers, want 0", n)
	}
}

func TestPhoneCodeErrors(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	page := ps.sendCode(b, "/sign-in/phone", "13800138000")
	flow := flowOf(t, page)
	code := ps.sender.last(t).Code
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}

	r := ps.enterCode(b, "/sign-in/phone", flow, "").expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.text(), "Enter the 6-digit code.")
	r = ps.enterCode(b, "/sign-in/phone", flow, "12ab").expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.text(), "The code has 6 digits.")
	r = ps.enterCode(b, "/sign-in/phone", "stale-flow", code).expectStatus(t, http.StatusConflict)
	mustContain(t, "page", r.text(), "out of date")
	r = ps.enterCode(b, "/sign-in/phone", flow, wrong).expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.text(), "That code is not correct. You have 4 attempts left.", `aria-invalid="true"`, `aria-describedby="code-error code-hint"`)
	if strings.Contains(r.body, wrong) {
		t.Errorf("code page renders the submitted code back")
	}
	for range 3 {
		ps.enterCode(b, "/sign-in/phone", flow, wrong)
	}
	r = ps.enterCode(b, "/sign-in/phone", flow, wrong).expectStatus(t, http.StatusTooManyRequests)
	mustContain(t, "page", r.text(), "Too many wrong codes. You can ask for a new code in 5 minutes.")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The right code no longer works once burnt.
	ps.enterCode(b, "/sign-in/phone", flow, code).expectStatus(t, http.StatusTooManyRequests)
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

func TestPhoneResendAndExpiry(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	page := ps.sendCode(b, "/sign-in/phone", "13800138000")
	mustContain(t, "code page", page.text(), "You can ask for a new code in 60 seconds.")
	flow := flowOf(t, page)
	first := ps.sender.last(t).Code

	r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"resend"}, "flow": {flow}}).expectStatus(t, http.StatusTooManyRequests)
	mustContain(t, "page", r.text(), "Please wait 60 seconds before asking for another code.")
	if r.Header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60", r.Header.Get("Retry-After"))
	}

	ps.clock.Advance(61 * time.Second)
	r = b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"resend"}, "flow": {flow}}).expectStatus(t, http.StatusSeeOther)
	page = b.get(r.location(t).String()).expectStatus(t, http.StatusOK)
	mustContain(t, "code page", page.text(), "We sent you a new code.")
	second := ps.sender.last(t).Code
	if ps.sender.count() != 2 {
		t.Fatalf("codes sent = %d, want 2", ps.sender.count())
	}
	if first != second {
		// The old code is invalid after a resend.
		ps.enterCode(b, "/sign-in/phone", flow, first).expectStatus(t, http.StatusBadRequest)
	}

	ps.clock.Advance(5*time.Minute + time.Second)
	r = ps.enterCode(b, "/sign-in/phone", flow, second).expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.text(), "This code has expired or was already used.")

	// Changing the number starts over.
	r = b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"restart"}, "flow": {flow}}).expectStatus(t, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != "/sign-in/phone?return_to=%2Fprivate" {
		t.Errorf("restart goes to %q, want the number form with the return_to kept", got)
	}
	r = ps.enterCode(b, "/sign-in/phone", flow, second).expectStatus(t, http.StatusBadRequest)
	mustContain(t, "page", r.text(), "This code has expired")
}

func TestPhoneSendFailures(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		message string
	}{
		{"provider down", &otp.SendError{Provider: "test", Reason: otp.ReasonUnavailable, Outcome: otp.OutcomeUnknown}, 503, "could not send a text message right now"},
		{"misconfigured", &otp.SendError{Provider: "test", Reason: otp.ReasonMisconfigured, Outcome: otp.OutcomeNotSent}, 503, "could not send a text message right now"},
		{"number rejected", &otp.SendError{Provider: "test", Reason: otp.ReasonInvalidNumber, Outcome: otp.OutcomeNotSent}, 400, "could not send a text message to this number"},
		{"provider limit", &otp.SendError{Provider: "test", Reason: otp.ReasonRateLimited, Outcome: otp.OutcomeNotSent}, 429, "Too many messages were sent to this number"},
		{"plain error", errors.New("boom"), 503, "could not send a text message right now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPhoneSite(t, false, nil)
			ps.sender.fail = tt.err
			r := ps.browser().post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}})
			r.expectStatus(t, tt.status)
			mustContain(t, "page", r.text(), tt.message, `value="13800138000"`)
		})
	}
}

func TestPhoneSendLimits(t *testing.T) {
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) {
		oc.Limits.ClientHourly = 2
		oc.Limits.GlobalDaily = 1000
	})
	b := ps.browser()
	ps.sendCode(b, "/sign-in/phone", "13800138000")
	ps.sendCode(b, "/sign-in/phone", "13800138001")
	r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138002"}, "country": {"CN"}})
	r.expectStatus(t, http.StatusTooManyRequests)
	mustContain(t, "page", r.text(), "Too many codes were requested. Try again in")
}

func TestPhoneSameAnswerForEveryNumber(t *testing.T) {
	ps := newPhoneSite(t, false, func(c *Config, _ *otp.Config) {
		c.Phone.Resolve = func(ctx context.Context, v VerifiedPhone) (*PhoneAccount, error) {
			if v.Phone == "+8613800138000" {
				return &PhoneAccount{Subject: "known"}, nil
			}
			return nil, ErrPhoneRejected
		}
	})
	send := func(number string) (*response, *response) {
		b := ps.browser()
		r := b.post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {number}, "country": {"CN"}})
		return r, b.get(r.location(t).String())
	}
	known, knownPage := send("13800138000")
	unknown, unknownPage := send("13900139000")
	if known.StatusCode != unknown.StatusCode || known.Header.Get("Location") != unknown.Header.Get("Location") {
		t.Errorf("send answers differ: %d %q vs %d %q", known.StatusCode, known.Header.Get("Location"), unknown.StatusCode, unknown.Header.Get("Location"))
	}
	norm := func(r *response) string {
		s := flowPattern.ReplaceAllString(r.text(), "FLOW")
		return strings.NewReplacer("+86\u00a0138\u00a00013\u00a08000", "NUMBER", "+86\u00a0139\u00a00013\u00a09000", "NUMBER").Replace(s)
	}
	if norm(knownPage) != norm(unknownPage) {
		t.Errorf("code pages differ between a known and an unknown number")
	}
}

func TestPhoneCrossSitePosts(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	for _, action := range []string{"send", "verify", "resend", "restart"} {
		r := b.do(http.MethodPost, ps.srv.URL+"/sign-in/phone", url.Values{"action": {action}, "phone": {"13800138000"}},
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST action=%s: status %d, want 403", action, r.StatusCode)
		}
	}
	if ps.sender.count() != 0 {
		t.Errorf("a cross-site post sent %d codes", ps.sender.count())
	}
}

func TestPhonePageHeaders(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	r := ps.browser().get(ps.srv.URL + "/sign-in/phone")
	want := map[string]string{
		"Cache-Control":   "no-store",
		"Referrer-Policy": "no-referrer",
		"X-Frame-Options": "DENY",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	mustContain(t, "CSP", r.Header.Get("Content-Security-Policy"), "default-src 'none'", "frame-ancestors 'none'", "form-action 'self'")
	for _, asset := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(r.body, asset) {
			t.Errorf("phone page contains %q; it must load no script or external asset", asset)
		}
	}
}

func TestPhoneLocale(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	b.header.Set("Accept-Language", "es-ES,es;q=0.9")
	r := b.get(ps.srv.URL + "/sign-in/phone")
	mustContain(t, "Spanish page", r.text(), `lang="es"`, "Inicia sesión con tu teléfono", "China (+86)", `hreflang="zh-Hans"`)
	ps.sendCode(b, "/sign-in/phone", "13800138000")
	if got := ps.sender.last(t).Locale; got != "es" {
		t.Errorf("SMS locale = %q, want es", got)
	}

	r = b.get(ps.srv.URL + "/sign-in/phone?lang=zh-Hans")
	mustContain(t, "Chinese page", r.text(), `lang="zh-Hans"`, "使用手机号登录", "中国 (+86)", `action="/sign-in/phone?lang=zh-Hans"`)
	r = b.post(ps.srv.URL+"/sign-in/phone?lang=zh-Hans", url.Values{"action": {"send"}, "phone": {"12"}, "country": {"CN"}})
	mustContain(t, "Chinese error", r.text(), "手机号码无效")
}

func TestPhoneOnly(t *testing.T) {
	ps := newPhoneSite(t, true, nil)
	b := ps.browser()
	if r := b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusFound); r.Header.Get("Location") != "/sign-in/phone?return_to=%2Fprivate" {
		t.Errorf("anonymous /private redirects to %q, want the phone page", r.Header.Get("Location"))
	}
	if r := b.get(ps.srv.URL+"/sign-in?return_to=/private").expectStatus(t, http.StatusFound); r.Header.Get("Location") != "/sign-in/phone?return_to=%2Fprivate" {
		t.Errorf("/sign-in without a provider redirects to %q, want the phone page", r.Header.Get("Location"))
	}
	page := b.get(ps.srv.URL+"/sign-in/phone").expectStatus(t, http.StatusOK)
	if strings.Contains(page.body, "Continue with") {
		t.Error("phone-only page offers a provider button")
	}
	b.get(ps.srv.URL+"/callback?code=x&state=y").expectStatus(t, http.StatusOK) // not a route: the app's home
	ps.phoneSignIn(b, "13800138000").expectStatus(t, http.StatusSeeOther)
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusOK)

	r := b.post(ps.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != ps.srv.URL+"/" {
		t.Errorf("phone sign-out redirects to %q, want the post sign-out URL", got)
	}
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

func TestPhoneSignOutAfterBoth(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	b := ps.browser()
	ps.phoneSignIn(b, "13800138000")
	r := b.post(ps.srv.URL+"/sign-out", nil).expectStatus(t, http.StatusSeeOther)
	if strings.HasPrefix(r.Header.Get("Location"), ps.idp.Issuer) {
		t.Errorf("phone user sent to the provider's end-session endpoint")
	}
}

func TestPhoneHandlerOtherPurpose(t *testing.T) {
	ps := newPhoneSite(t, false, nil)
	var got VerifiedPhone
	mux := http.NewServeMux()
	mux.Handle("/reset", ps.auth.PhoneHandler(otp.ForgotPassword, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = VerifiedPhoneFrom(r.Context())
		io.WriteString(w, "choose a new password")
	})))
	mux.Handle("/private", ps.auth.RequireAuth(http.NotFoundHandler()))
	ps.srv.Config.Handler = ps.auth.Wrap(mux)

	b := ps.browser()
	mustContain(t, "page", b.get(ps.srv.URL+"/reset").body, "Confirm your phone number")
	r := b.post(ps.srv.URL+"/reset", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}})
	page := b.get(r.location(t).String()).expectStatus(t, http.StatusOK)
	if p := ps.sender.last(t).Purpose; p != otp.ForgotPassword {
		t.Errorf("code purpose = %s, want ForgotPassword", p)
	}
	r = ps.enterCode(b, "/reset", flowOf(t, page), ps.sender.last(t).Code).expectStatus(t, http.StatusOK)
	if r.body != "choose a new password" || got.Phone != "+8613800138000" || got.Purpose != otp.ForgotPassword {
		t.Errorf("next handler: body %q, verified %+v", r.body, got)
	}
	b.get(ps.srv.URL+"/private").expectStatus(t, http.StatusFound)
}

func TestPhoneHandlerPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("PhoneHandler %s did not panic", name)
			}
		}()
		f()
	}
	s := newSite(t, nil)
	mustPanic("without Config.Phone", func() { s.auth.PhoneHandler(otp.SignIn, nil) })
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) { oc.Purposes = []otp.Purpose{otp.SignIn, otp.Register} })
	mustPanic("for a purpose the service does not allow", func() { ps.auth.PhoneHandler(otp.Generic, nil) })
}

func TestPhoneConfigErrors(t *testing.T) {
	codes, err := otp.New(otp.Config{Sender: &codeSender{}, InsecureDevelopmentKey: true, DefaultRegion: "CN",
		Purposes: []otp.Purpose{otp.SignIn}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	base := Config{BaseURL: "https://app.example"}
	for name, p := range map[string]*PhoneConfig{
		"no service":  {},
		"no register": {Codes: codes},
	} {
		c := base
		c.Phone = p
		if _, err := New(context.Background(), c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New with phone config %s = %v, want ErrInvalidConfig", name, err)
		}
	}
	c := base
	c.Phone = &PhoneConfig{Codes: codes, DisableSignUp: true}
	a, err := New(context.Background(), c)
	if err != nil {
		t.Fatalf("New, phone only without sign-up: %v", err)
	}
	for _, r := range a.Routes() {
		if r.Path == "/sign-up/phone" || r.Path == "/callback" {
			t.Errorf("route %s served with sign-up off and no provider", r.Path)
		}
	}
}

func TestPhoneStoreDown(t *testing.T) {
	failing := &failingOTPStore{}
	ps := newPhoneSite(t, false, func(c *Config, oc *otp.Config) { oc.Store = failing })
	r := ps.browser().post(ps.srv.URL+"/sign-in/phone", url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}})
	r.expectStatus(t, http.StatusServiceUnavailable)
	mustContain(t, "page", r.text(), "Temporarily unavailable")
	mustContain(t, "log", ps.logs.String(), "session store failed", "otp store unreachable")
}

type failingOTPStore struct{}

var errOTPStore = errors.New("otp store unreachable")

func (failingOTPStore) Reserve(context.Context, string, store.Challenge, []store.Limit, time.Time) (store.Reservation, error) {
	return store.Reservation{}, errOTPStore
}
func (failingOTPStore) Release(context.Context, string, string, []store.Limit, time.Time, time.Time) error {
	return errOTPStore
}
func (failingOTPStore) Verify(context.Context, string, []byte, time.Time) (store.VerifyResult, error) {
	return store.VerifyResult{}, errOTPStore
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.7:5000", nil, "203.0.113.7"},
		{"203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},          // not from a proxy: header ignored
		{"10.1.2.3:5000", []string{"198.51.100.1"}, "198.51.100.1"},            // one proxy
		{"10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},   // forged left entry ignored
		{"10.1.2.3:5000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},  // two proxies
		{"10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"}, // two header lines
		{"10.1.2.3:5000", []string{"garbage"}, "10.1.2.3"},
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"[::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
		{"not an address", nil, "invalid IP"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, proxies).String(); got != tt.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}
