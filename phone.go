package latch

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkit/latch/otp"
)

// PhoneConfig turns on sign-in with a phone number and a one-time code sent
// by SMS. See [Config.Phone].
type PhoneConfig struct {
	// Codes issues and verifies the codes. Required. It must allow the
	// SignIn purpose, and Register too unless DisableSignUp is set.
	Codes *otp.Service

	// Resolve decides who a verified phone number belongs to: it finds
	// the account, creates one for the Register purpose, or returns an
	// error wrapping [ErrPhoneRejected] to refuse. Any other error is
	// logged and shown as a temporary failure. Nil signs the user in with
	// the E.164 number as the subject.
	//
	// Resolve runs only after the code was verified, so the refusal it
	// causes reveals nothing to anyone but the phone's owner: the page
	// that sends the code behaves the same for every number.
	Resolve func(ctx context.Context, v VerifiedPhone) (*PhoneAccount, error)

	// DisableSignUp turns off the sign-up pages at Paths.PhoneSignUp.
	DisableSignUp bool
}

// VerifiedPhone is a phone number whose one-time code was verified.
type VerifiedPhone struct {
	// Phone is the number in E.164 form, such as "+8613800138000".
	Phone string
	// Region is the number's ISO 3166-1 region, such as "CN".
	Region string
	// Purpose is the purpose the code was issued for.
	Purpose otp.Purpose
	// Locale is the BCP 47 tag of the page's language.
	Locale string
}

// PhoneAccount is the account that [PhoneConfig.Resolve] chose for a
// verified phone.
type PhoneAccount struct {
	// Subject identifies the account; [User.Subject] reports it. Required.
	Subject string
	// Name and Email fill in [User.Name] and [User.Email].
	Name  string
	Email string
	// Claims are extra claims that [User.Claims] returns, such as roles.
	Claims map[string]any
}

// ErrPhoneRejected is returned, wrapped or not, by [PhoneConfig.Resolve]
// to refuse a verified phone number, such as one without an account on a
// site that does not allow sign-up.
var ErrPhoneRejected = errors.New("latch: phone number rejected")

// verifiedKey is the context key of the VerifiedPhone that [Auth.PhoneHandler]
// passes to its next handler.
type verifiedKey struct{}

// VerifiedPhoneFrom returns the phone number verified by the request's
// code, inside the next handler of [Auth.PhoneHandler].
func VerifiedPhoneFrom(ctx context.Context) (VerifiedPhone, bool) {
	v, ok := ctx.Value(verifiedKey{}).(VerifiedPhone)
	return v, ok
}

// PhoneHandler returns the phone pages for purpose, served at whatever path
// the application mounts them. Without next, a verified SignIn or Register
// code signs the user in, exactly as the built-in pages at
// Paths.PhoneSignIn and Paths.PhoneSignUp do. With next, a verified code
// calls next instead, with the number in the context (see
// [VerifiedPhoneFrom]) and the session untouched: that is how an
// application builds a ForgotPassword or Generic flow on these pages.
//
// PhoneHandler panics if phone sign-in is not configured or the otp service
// does not allow purpose, as a mistake in the program's setup.
func (a *Auth) PhoneHandler(purpose otp.Purpose, next http.Handler) http.Handler {
	if a.phone == nil {
		panic("latch: PhoneHandler needs Config.Phone")
	}
	if !a.phone.Codes.Allows(purpose) {
		panic(fmt.Sprintf("latch: PhoneHandler: the otp service does not allow purpose %q", purpose))
	}
	return a.Sessions(a.cop.Handler(a.phonePages(purpose, next)))
}

// phonePages serves one purpose's pages: the number form, the code form,
// and the POST steps between them.
func (a *Auth) phonePages(purpose otp.Purpose, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := &phoneFlow{a: a, w: w, r: r, purpose: purpose, next: next, loc: a.locale(r)}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			f.show()
		case http.MethodPost:
			f.post()
		default:
			a.methodNotAllowed(w, r, "GET, HEAD, POST")
		}
	})
}

// pendingPhone is the phone sign-in in progress in a session, between the
// send and the verification of a code.
type pendingPhone struct {
	Flow     string // random; the code form echoes it, so a stale form is caught
	Purpose  otp.Purpose
	Phone    string // E.164
	Region   string
	ReturnTo string
	ResendAt time.Time
	Expires  time.Time
}

// phoneKey returns the session key of the pending phone sign-in of a
// purpose, so that a sign-up and a password reset in two tabs do not meet.
func phoneKey(purpose otp.Purpose) string { return "latch.phone." + string(purpose) }

func (a *Auth) loadPendingPhone(ctx context.Context, purpose otp.Purpose) (pendingPhone, bool) {
	b, _ := a.sm.Get(ctx, phoneKey(purpose)).([]byte)
	return decodePendingPhone(b, purpose)
}

// decodePendingPhone decodes the record that encodePendingPhone makes, and
// reports false for a corrupt record or one of another purpose.
func decodePendingPhone(b []byte, purpose otp.Purpose) (pendingPhone, bool) {
	if len(b) == 0 || b[0] != recordVersion {
		return pendingPhone{}, false
	}
	r := reader{b: b[1:]}
	p := pendingPhone{
		Flow:     string(r.bytes()),
		Purpose:  otp.Purpose(r.bytes()),
		Phone:    string(r.bytes()),
		Region:   string(r.bytes()),
		ReturnTo: string(r.bytes()),
		ResendAt: time.Unix(r.varint(), 0),
		Expires:  time.Unix(r.varint(), 0),
	}
	if r.err != nil || len(r.b) != 0 || p.Purpose != purpose {
		return pendingPhone{}, false
	}
	return p, true
}

func (a *Auth) savePendingPhone(ctx context.Context, p pendingPhone) {
	a.sm.Put(ctx, phoneKey(p.Purpose), encodePendingPhone(p))
}

func encodePendingPhone(p pendingPhone) []byte {
	b := []byte{recordVersion}
	for _, s := range []string{p.Flow, string(p.Purpose), p.Phone, p.Region, p.ReturnTo} {
		b = appendBytes(b, s)
	}
	b = binary.AppendVarint(b, p.ResendAt.Unix())
	return binary.AppendVarint(b, p.Expires.Unix())
}

// signInPhone signs in the owner of a verified phone, as the application's
// Resolve hook decides.
func (a *Auth) signInPhone(ctx context.Context, v VerifiedPhone) (*User, error) {
	account := &PhoneAccount{Subject: v.Phone}
	if a.phone.Resolve != nil {
		var err error
		if account, err = a.phone.Resolve(ctx, v); err != nil {
			return nil, err
		}
		if account == nil || account.Subject == "" {
			return nil, errors.New("latch: PhoneConfig.Resolve returned no account and no error")
		}
	}

	claims := map[string]any{}
	for k, val := range account.Claims {
		claims[k] = val
	}
	claims["sub"] = account.Subject
	claims["phone_number"] = v.Phone
	claims["phone_number_verified"] = true
	if account.Name != "" {
		claims["name"] = account.Name
	}
	if account.Email != "" {
		claims["email"] = account.Email
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("latch: PhoneAccount.Claims cannot be encoded as JSON: %w", err)
	}

	u := &User{
		Subject:       account.Subject,
		Method:        MethodPhone,
		Name:          account.Name,
		Email:         account.Email,
		Phone:         v.Phone,
		PhoneVerified: true,
		SignedInAt:    a.cfg.Now(),
		claims:        raw,
	}
	if err := a.startSession(ctx, u, nil); err != nil {
		return nil, errStore{err}
	}
	return u, nil
}

// errStore marks a session store failure inside the phone flow, which gets
// the 503 page rather than a form message.
type errStore struct{ err error }

func (e errStore) Error() string { return e.err.Error() }
func (e errStore) Unwrap() error { return e.err }

// phonePath returns the path of the built-in page for purpose, with a
// return_to when it is not the default.
func (a *Auth) phonePath(purpose otp.Purpose, returnTo string) string {
	if purpose == otp.Register {
		return a.phonePagePath(a.cfg.Paths.PhoneSignUp, returnTo)
	}
	return a.phonePagePath(a.cfg.Paths.PhoneSignIn, returnTo)
}

// sameFlow reports whether a submitted flow ID is the pending one.
func sameFlow(submitted, pending string) bool {
	return subtle.ConstantTimeCompare([]byte(submitted), []byte(pending)) == 1
}
