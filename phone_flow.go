package latch

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/templates"
)

// maxPhoneForm bounds the body of a phone page POST.
const maxPhoneForm = 16 << 10

// phoneFlow handles one request to the phone pages.
type phoneFlow struct {
	a       *Auth
	w       http.ResponseWriter
	r       *http.Request
	purpose otp.Purpose
	next    http.Handler
	loc     *templates.Locale
}

func (f *phoneFlow) ctx() context.Context { return f.r.Context() }

func (f *phoneFlow) show() {
	q := f.r.URL.Query()
	if q.Get("step") == "code" {
		if p, ok := f.a.loadPendingPhone(f.ctx(), f.purpose); ok {
			notice := ""
			if q.Get("sent") == "again" {
				notice = f.loc.T("code.new_sent")
			}
			f.renderCode(http.StatusOK, p, "", notice)
			return
		}
	}
	returnTo := f.a.returnTo(q)
	// A signed-in visitor of the sign-in or sign-up page is sent on, as
	// the provider's sign-in route does. An application's own flow on
	// these pages (PhoneHandler) may serve signed-in users.
	if f.next == nil && (f.purpose == otp.SignIn || f.purpose == otp.Register) {
		if u, _ := UserFrom(f.ctx()); u != nil {
			redirect(f.w, returnTo, http.StatusFound)
			return
		}
	}
	f.renderNumber(http.StatusOK, numberState{ReturnTo: returnTo})
}

func (f *phoneFlow) post() {
	f.r.Body = http.MaxBytesReader(f.w, f.r.Body, maxPhoneForm)
	if err := f.r.ParseForm(); err != nil {
		f.a.fail(f.w, f.r, http.StatusBadRequest, pageBadRequest)
		return
	}
	switch f.r.PostForm.Get("action") {
	case "send":
		f.send()
	case "verify":
		f.verify()
	case "resend":
		f.resend()
	case "restart":
		f.restart()
	default:
		f.a.fail(f.w, f.r, http.StatusBadRequest, pageBadRequest)
	}
}

// send parses the number, sends a code and moves on to the code form. The
// response is the same for every valid number, because whether it has an
// account is decided only after the code is verified.
func (f *phoneFlow) send() {
	form := f.r.PostForm
	st := numberState{
		Number:   strings.TrimSpace(form.Get("phone")),
		Region:   form.Get("country"),
		ReturnTo: f.a.returnTo(url.Values{"return_to": form["return_to"]}),
	}
	if st.Number == "" {
		st.Error = f.loc.T("err.phone_missing")
		f.renderNumber(http.StatusBadRequest, st)
		return
	}
	var issued otp.Issued
	phone, err := f.a.phone.Codes.ParsePhoneIn(st.Number, st.Region)
	if err == nil {
		issued, err = f.issue(phone)
	}
	if err != nil {
		if status, msg, ok := f.refusal(err); ok {
			st.Error = msg
			f.renderNumber(status, st)
		}
		return
	}
	f.a.keepShort(f.ctx())
	f.a.savePendingPhone(f.ctx(), pendingPhone{
		Flow:     randomToken(),
		Purpose:  f.purpose,
		Phone:    phone.E164(),
		Region:   phone.Region(),
		ReturnTo: st.ReturnTo,
		ResendAt: issued.ResendAt,
		Expires:  issued.ExpiresAt,
	})
	redirect(f.w, f.codeURL(false), http.StatusSeeOther)
}

// issue sends a code to phone for the flow's purpose.
func (f *phoneFlow) issue(phone otp.Phone) (otp.Issued, error) {
	return f.a.phone.Codes.Issue(f.ctx(), otp.IssueRequest{
		Phone:    phone,
		Purpose:  f.purpose,
		ClientIP: clientIP(f.r, f.a.cfg.TrustedProxies),
		Locale:   f.loc.Tag,
	})
}

func (f *phoneFlow) verify() {
	p, ok := f.pending()
	if !ok {
		return
	}
	code := strings.TrimSpace(f.r.PostForm.Get("code"))
	if code == "" {
		f.renderCode(http.StatusBadRequest, p, f.loc.T("err.code_missing", f.a.phone.Codes.CodeLength()), "")
		return
	}
	phone, err := otp.ParsePhone(p.Phone, "")
	if err == nil {
		err = f.a.phone.Codes.Verify(f.ctx(), otp.VerifyRequest{Phone: phone, Purpose: f.purpose, Code: code})
	}
	if err != nil {
		if status, msg, ok := f.refusal(err); ok {
			f.renderCode(status, p, msg, "")
		}
		return
	}

	ctx := f.ctx()
	f.a.sm.Remove(ctx, phoneKey(f.purpose))
	v := VerifiedPhone{Phone: p.Phone, Region: p.Region, Purpose: f.purpose, Locale: f.loc.Tag}
	if f.next != nil {
		f.next.ServeHTTP(f.w, f.r.WithContext(context.WithValue(ctx, verifiedKey{}, v)))
		return
	}
	f.signIn(v, p.ReturnTo)
}

// signIn ends a verified SignIn or Register flow with a signed-in session.
func (f *phoneFlow) signIn(v VerifiedPhone, returnTo string) {
	ctx := f.ctx()
	u, err := f.a.signInPhone(ctx, v)
	var storeErr errStore
	switch {
	case errors.As(err, &storeErr):
		f.a.storeFailed(f.w, f.r, "renew", storeErr.err)
		return
	case errors.Is(err, ErrPhoneRejected):
		f.a.log.InfoContext(ctx, "latch: phone sign-in rejected by the application", "phone", otp.MaskPhone(v.Phone), "purpose", string(v.Purpose))
		f.renderNumber(http.StatusForbidden, numberState{ReturnTo: returnTo, Error: f.loc.T("err.rejected")})
		return
	case err != nil:
		f.a.log.ErrorContext(ctx, "latch: phone sign-in failed in PhoneConfig.Resolve", "phone", otp.MaskPhone(v.Phone), "purpose", string(v.Purpose), "error", err)
		f.a.fail(f.w, f.r, http.StatusServiceUnavailable, pageUnavailable)
		return
	}
	f.a.log.InfoContext(ctx, "latch: signed in", "method", string(MethodPhone), "subject", logSubject(u),
		"phone", otp.MaskPhone(v.Phone), "purpose", string(v.Purpose), "session", sessionID(f.a.sm.Token(ctx)))
	f.a.redirectLocal(f.w, returnTo, http.StatusSeeOther)
}

// logSubject returns the subject for a log line, masked when it is the
// phone number itself, as it is by default after a phone sign-in. Every
// log line that names a user goes through it.
func logSubject(u *User) string {
	if u.Subject == u.Phone {
		return otp.MaskPhone(u.Subject)
	}
	return u.Subject
}

func (f *phoneFlow) resend() {
	p, ok := f.pending()
	if !ok {
		return
	}
	var issued otp.Issued
	phone, err := otp.ParsePhone(p.Phone, "")
	if err == nil {
		issued, err = f.issue(phone)
	}
	if err != nil {
		if status, msg, ok := f.refusal(err); ok {
			f.renderCode(status, p, msg, "")
		}
		return
	}
	p.ResendAt, p.Expires = issued.ResendAt, issued.ExpiresAt
	f.a.savePendingPhone(f.ctx(), p)
	redirect(f.w, f.codeURL(true), http.StatusSeeOther)
}

func (f *phoneFlow) restart() {
	p, _ := f.a.loadPendingPhone(f.ctx(), f.purpose)
	f.a.sm.Remove(f.ctx(), phoneKey(f.purpose))
	redirect(f.w, f.withLang(f.a.phonePagePath(f.a.selfPath(f.r), p.ReturnTo)), http.StatusSeeOther)
}

// pending returns the flow's pending phone and checks that the submitted
// form belongs to it. When it does not, it renders the page that explains
// why and returns false.
func (f *phoneFlow) pending() (pendingPhone, bool) {
	p, ok := f.a.loadPendingPhone(f.ctx(), f.purpose)
	if !ok {
		f.renderNumber(http.StatusBadRequest, numberState{
			ReturnTo: f.a.cfg.Paths.AfterSignIn,
			Error:    f.loc.T("err.code_expired"),
		})
		return pendingPhone{}, false
	}
	if !sameFlow(f.r.PostForm.Get("flow"), p.Flow) {
		f.renderCode(http.StatusConflict, p, f.loc.T("err.flow_changed"), "")
		return pendingPhone{}, false
	}
	return p, true
}

// codeURL returns the address of the code form.
func (f *phoneFlow) codeURL(again bool) string {
	v := url.Values{"step": {"code"}}
	if again {
		v.Set("sent", "again")
	}
	if lang := f.r.URL.Query().Get("lang"); lang != "" {
		v.Set("lang", lang)
	}
	return f.a.selfPath(f.r) + "?" + v.Encode()
}

// withLang adds the request's lang parameter to target.
func (f *phoneFlow) withLang(target string) string {
	lang := f.r.URL.Query().Get("lang")
	if lang == "" {
		return target
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + url.Values{"lang": {lang}}.Encode()
}

// phonePagePath returns path with a return_to when it is not the default.
func (a *Auth) phonePagePath(path, returnTo string) string {
	if returnTo == "" || returnTo == a.cfg.Paths.AfterSignIn {
		return path
	}
	return path + "?" + url.Values{"return_to": {returnTo}}.Encode()
}

// refusal returns the status and message for an error from package otp.
// A store failure is no refusal: refusal sends the 503 page itself and
// reports false.
func (f *phoneFlow) refusal(err error) (status int, msg string, ok bool) {
	if isStoreError(err) {
		f.a.storeFailed(f.w, f.r, "otp", err)
		return 0, "", false
	}
	status, msg = f.explain(err)
	return status, msg, true
}

// isStoreError reports whether err comes from the otp state store, not
// from a refusal, so the request gets the 503 page.
func isStoreError(err error) bool {
	var (
		pe *otp.PhoneError
		le *otp.LimitError
		ve *otp.VerifyError
		se *otp.SendError
	)
	switch {
	case errors.As(err, &pe), errors.As(err, &le), errors.As(err, &ve), errors.As(err, &se),
		errors.Is(err, otp.ErrInvalidCode), errors.Is(err, otp.ErrInvalidPurpose):
		return false
	}
	return true
}

// explain turns an error from package otp into the status and the message
// a person reads in the form where it happened.
func (f *phoneFlow) explain(err error) (int, string) {
	loc, now := f.loc, f.a.cfg.Now()
	var (
		pe *otp.PhoneError
		le *otp.LimitError
		ve *otp.VerifyError
		se *otp.SendError
	)
	switch {
	case errors.As(err, &pe):
		switch {
		case errors.Is(err, otp.ErrRegionNotAllowed):
			return http.StatusBadRequest, loc.T("err.phone_region")
		case errors.Is(err, otp.ErrNotMobile):
			return http.StatusBadRequest, loc.T("err.phone_not_mobile")
		}
		return http.StatusBadRequest, loc.T("err.phone_invalid")

	case errors.As(err, &le):
		f.retryAfter(le.RetryAfter)
		wait := waitText(loc, le.RetryAfter)
		switch le.Limit {
		case otp.LimitCooldown:
			return http.StatusTooManyRequests, loc.T("err.wait", wait)
		case otp.LimitAttempts:
			return http.StatusTooManyRequests, loc.T("err.code_burnt", wait)
		case otp.LimitGlobalDaily, otp.LimitCountryHourly:
			return http.StatusServiceUnavailable, loc.T("err.sms_unavailable")
		}
		return http.StatusTooManyRequests, loc.T("err.too_many_sends", wait)

	case errors.As(err, &ve):
		switch {
		case errors.Is(err, otp.ErrCodeMismatch) && ve.AttemptsLeft > 0:
			return http.StatusBadRequest, loc.N("err.code_wrong", ve.AttemptsLeft)
		case errors.Is(err, otp.ErrCodeMismatch), errors.Is(err, otp.ErrTooManyAttempts):
			f.retryAfter(ve.RetryAfter)
			return http.StatusTooManyRequests, loc.T("err.code_burnt", waitText(loc, ve.RetryAfter))
		}
		return http.StatusBadRequest, loc.T("err.code_expired")

	case errors.Is(err, otp.ErrInvalidCode):
		return http.StatusBadRequest, loc.T("err.code_format", f.a.phone.Codes.CodeLength())

	case errors.As(err, &se):
		switch se.Reason {
		case otp.ReasonInvalidNumber, otp.ReasonUnsupportedRegion:
			return http.StatusBadRequest, loc.T("err.sms_number")
		case otp.ReasonRateLimited:
			return http.StatusTooManyRequests, loc.T("err.sms_rate")
		}
		if !se.RetryAt.IsZero() && se.RetryAt.After(now) {
			f.retryAfter(se.RetryAt.Sub(now))
		}
		return http.StatusServiceUnavailable, loc.T("err.sms_unavailable")
	}
	return http.StatusServiceUnavailable, loc.T("error.unavailable.message")
}

func (f *phoneFlow) retryAfter(d time.Duration) {
	if d > 0 {
		f.w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// waitText formats a wait in the largest unit that keeps it readable,
// rounded up.
func waitText(loc *templates.Locale, d time.Duration) string {
	switch {
	case d < 90*time.Second:
		return loc.N("time.seconds", int(max((d+time.Second-1)/time.Second, 1)))
	case d < 90*time.Minute:
		return loc.N("time.minutes", int((d+time.Minute-1)/time.Minute))
	}
	return loc.N("time.hours", int((d+time.Hour-1)/time.Hour))
}
