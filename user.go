package latch

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// Method is the way a user signed in.
type Method string

// Sign-in methods.
const (
	// MethodOIDC is an OpenID Connect sign-in at the configured provider.
	MethodOIDC Method = "oidc"
	// MethodPhone is a phone number verified with a one-time code.
	MethodPhone Method = "phone"
)

// User is the signed-in user of a request, as [UserFrom] returns it. latch
// keeps it in the server-side session; only the session token travels in
// the cookie. Handlers must treat a User as read-only.
type User struct {
	// Subject identifies the user: the ID token's "sub" claim for
	// [MethodOIDC], and for [MethodPhone] the subject that the
	// application's phone hook chose (the E.164 number by default).
	Subject string
	// Issuer is the provider's issuer URL for [MethodOIDC]; empty for
	// [MethodPhone].
	Issuer string
	// Method is the sign-in method.
	Method Method

	// Name, Email, Phone and Picture are the standard claims "name",
	// "email", "phone_number" and "picture", where the provider sent them.
	// Phone is in E.164 form after a phone sign-in.
	Name    string
	Email   string
	Phone   string
	Picture string
	// EmailVerified and PhoneVerified are the "email_verified" and
	// "phone_number_verified" claims. PhoneVerified is true after a phone
	// sign-in.
	EmailVerified bool
	PhoneVerified bool

	// SignedInAt is when the session was created.
	SignedInAt time.Time

	// claims is the JSON object of every claim from the ID token and the
	// UserInfo response; see [User.Claims].
	claims []byte
}

// Claims decodes every claim that the provider sent, from the ID token and
// the UserInfo response, into v as [json.Unmarshal] would. For a phone
// sign-in the claims are those the application's hook returned, if any.
func (u *User) Claims(v any) error {
	if len(u.claims) == 0 {
		return json.Unmarshal([]byte("{}"), v)
	}
	return json.Unmarshal(u.claims, v)
}

// RawClaims returns a copy of the JSON object that [User.Claims] decodes.
func (u *User) RawClaims() json.RawMessage {
	if len(u.claims) == 0 {
		return json.RawMessage("{}")
	}
	return append(json.RawMessage(nil), u.claims...)
}

// UserFrom returns the signed-in user of the request whose context is ctx,
// or false when the request is anonymous or did not pass through latch's
// session middleware ([Auth.Wrap], [Auth.Sessions], [Auth.RequireAuth] or
// one of the route handlers).
//
// UserFrom reports the session as it is; use [Auth.RequireAuth] where a
// handler also needs the access token refreshed and claims checked.
func UserFrom(ctx context.Context) (*User, bool) {
	st := stateFrom(ctx)
	if st == nil {
		return nil, false
	}
	u, err := st.user(ctx)
	if err != nil || u == nil {
		return nil, false
	}
	return u, true
}

// Tokens are the OAuth 2.0 tokens of an OpenID Connect sign-in, as
// [TokensFrom] returns them. The refresh token stays inside latch.
type Tokens struct {
	// AccessToken is the current access token, for calling the provider's
	// or a resource server's APIs.
	AccessToken string
	// TokenType is the access token's type, normally "Bearer".
	TokenType string
	// Expiry is the access token's expiry time, or zero if the token
	// response had no expires_in.
	Expiry time.Time
	// IDToken is the raw ID token from sign-in or the latest refresh.
	IDToken string
	// Scope is the space-separated scope that the provider granted, or the
	// requested scope when the token response had no scope.
	Scope string

	refreshToken string
	obtained     time.Time // when the access token was issued to latch
}

// TokensFrom returns the tokens of the signed-in user of the request, or
// false for an anonymous request or a phone sign-in. Behind
// [Auth.RequireAuth] an expired access token has already been refreshed
// where a refresh token allowed it.
func TokensFrom(ctx context.Context) (*Tokens, bool) {
	st := stateFrom(ctx)
	if st == nil {
		return nil, false
	}
	t, err := st.tokens(ctx)
	if err != nil || t == nil {
		return nil, false
	}
	return t, true
}

// The user and token records are stored in the session as byte strings in
// a small versioned binary format, so that reading them on every request
// costs no reflection.
const recordVersion = 1

var errCorruptRecord = errors.New("latch: corrupt session record")

// The user record starts with the time of the session's last recorded
// activity, in Unix seconds, at a fixed place, so that the idle timeout
// reads and updates it without decoding the rest: the session then holds
// one value fewer to decode on every request.
const seenEnd = 1 + 8

func (u *User) marshal(seen time.Time) []byte {
	b := make([]byte, 0, 72+len(u.Subject)+len(u.Issuer)+len(u.Name)+len(u.Email)+len(u.Phone)+len(u.Picture)+len(u.claims))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(seen.Unix()))
	for _, s := range [...]string{u.Subject, u.Issuer, string(u.Method), u.Name, u.Email, u.Phone, u.Picture} {
		b = appendBytes(b, s)
	}
	var flags byte
	if u.EmailVerified {
		flags |= 1
	}
	if u.PhoneVerified {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, u.SignedInAt.Unix())
	return appendBytes(b, u.claims)
}

func unmarshalUser(b []byte) (*User, error) {
	if len(b) < seenEnd || b[0] != recordVersion {
		return nil, errCorruptRecord
	}
	r := reader{b: b[seenEnd:]}
	u := &User{
		Subject: string(r.bytes()),
		Issuer:  string(r.bytes()),
		Method:  Method(r.bytes()),
		Name:    string(r.bytes()),
		Email:   string(r.bytes()),
		Phone:   string(r.bytes()),
		Picture: string(r.bytes()),
	}
	flags := r.byte()
	u.EmailVerified = flags&1 != 0
	u.PhoneVerified = flags&2 != 0
	u.SignedInAt = time.Unix(r.varint(), 0)
	if c := r.bytes(); len(c) > 0 {
		u.claims = append([]byte(nil), c...)
	}
	if r.err != nil || len(r.b) != 0 || u.Subject == "" {
		return nil, errCorruptRecord
	}
	return u, nil
}

// checkUserRecord checks the structure of an encoded user record without
// decoding its strings, and reports whether it is of an OpenID Connect
// sign-in. It accepts exactly what unmarshalUser accepts.
func checkUserRecord(b []byte) (oidc, ok bool) {
	if len(b) < seenEnd || b[0] != recordVersion {
		return false, false
	}
	r := reader{b: b[seenEnd:]}
	subject := r.bytes()
	r.bytes() // issuer
	oidc = string(r.bytes()) == string(MethodOIDC)
	for range 4 { // name, email, phone, picture
		r.bytes()
	}
	r.byte()
	r.varint()
	r.bytes() // claims
	return oidc, r.err == nil && len(r.b) == 0 && len(subject) > 0
}

// recordSeen returns the activity time of an encoded user record.
func recordSeen(b []byte) (time.Time, bool) {
	if len(b) < seenEnd || b[0] != recordVersion {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[1:seenEnd])), 0), true
}

// withSeen returns a copy of an encoded user record with its activity time
// set to seen.
func withSeen(b []byte, seen time.Time) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint64(c[1:seenEnd], uint64(seen.Unix()))
	return c
}

// tokenTimes reads the expiry, the time of issue and whether a refresh
// token is held from an encoded token record, without decoding its
// strings.
func tokenTimes(b []byte) (expiry, obtained time.Time, refreshable, ok bool) {
	if len(b) == 0 || b[0] != recordVersion {
		return time.Time{}, time.Time{}, false, false
	}
	r := reader{b: b[1:]}
	for range 4 { // access token, type, ID token, scope
		r.bytes()
	}
	refreshable = len(r.bytes()) > 0
	if ms := r.varint(); ms != 0 {
		expiry = time.UnixMilli(ms)
	}
	obtained = time.UnixMilli(r.varint())
	return expiry, obtained, refreshable, r.err == nil && len(r.b) == 0
}

func (t *Tokens) marshal() []byte {
	b := make([]byte, 0, 32+len(t.AccessToken)+len(t.TokenType)+len(t.IDToken)+len(t.Scope)+len(t.refreshToken))
	b = append(b, recordVersion)
	for _, s := range [...]string{t.AccessToken, t.TokenType, t.IDToken, t.Scope, t.refreshToken} {
		b = appendBytes(b, s)
	}
	var expiry int64
	if !t.Expiry.IsZero() {
		expiry = t.Expiry.UnixMilli()
	}
	b = binary.AppendVarint(b, expiry)
	return binary.AppendVarint(b, t.obtained.UnixMilli())
}

func unmarshalTokens(b []byte) (*Tokens, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return nil, errCorruptRecord
	}
	r := reader{b: b[1:]}
	t := &Tokens{
		AccessToken:  string(r.bytes()),
		TokenType:    string(r.bytes()),
		IDToken:      string(r.bytes()),
		Scope:        string(r.bytes()),
		refreshToken: string(r.bytes()),
	}
	if ms := r.varint(); ms != 0 {
		t.Expiry = time.UnixMilli(ms)
	}
	t.obtained = time.UnixMilli(r.varint())
	if r.err != nil || len(r.b) != 0 {
		return nil, errCorruptRecord
	}
	return t, nil
}
