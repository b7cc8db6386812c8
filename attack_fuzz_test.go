package latch

// Fuzz targets for the parsers of hostile input that other files do not
// fuzz: FuzzSafeReturnTo, FuzzCodecDecode, FuzzParseCallbackQuery and
// FuzzClientIP live beside their tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkit/latch/internal/oidctest"
	"github.com/latchkit/latch/otp"
)

func FuzzCookieValue(f *testing.F) {
	for _, seed := range [][2]string{
		{"latch_session=abc", "latch_session"},
		{"a=1; latch_session=abc; b=2", "latch_session"},
		{`latch_session="quoted"`, "latch_session"},
		{"latch_session=bad value; latch_session=good", "latch_session"},
		{" latch_session = spaced ", "latch_session"},
		{"latch_session=a;latch_session=b", "latch_session"},
		{"__Host-latch=x", "__Host-latch"},
		{"latch_session=\"\"", "latch_session"},
		{"latch_session=a\\b", "latch_session"},
		{";;;=;=x;latch_session", "latch_session"},
		{"latch_session=\r0", "latch_session"},
		{strings.Repeat("a=1;", maxCookies) + "latch_session=abc", "latch_session"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, header, name string) {
		h := http.Header{"Cookie": strings.Split(header, "\n")}
		got := cookieValue(h, name)
		if !validCookieValue(got) {
			t.Fatalf("cookieValue(%q, %q) = %q, which is not a valid cookie value", header, name, got)
		}
		if got != "" && !strings.Contains(header, got) {
			t.Fatalf("cookieValue(%q, %q) = %q, which the header does not contain", header, name, got)
		}
		// For the names latch uses, it reads a cookie that net/http reads
		// too, and the same one when net/http's first is a valid token.
		// latch is stricter about values: it skips any with spaces,
		// commas or quotes, which no session token has.
		if name != "latch_session" && name != "__Host-latch" {
			return
		}
		cookies := (&http.Request{Header: h}).CookiesNamed(name)
		if len(cookies) > 0 && cookies[0].Value != "" && validCookieValue(cookies[0].Value) && got != cookies[0].Value {
			t.Fatalf("cookieValue(%q, %q) = %q, net/http reads %q", header, name, got, cookies[0].Value)
		}
		found := got == ""
		for _, c := range cookies {
			found = found || strings.TrimSpace(c.Value) == got
		}
		if !found {
			t.Fatalf("cookieValue(%q, %q) = %q, which net/http does not read", header, name, got)
		}
	})
}

func FuzzParseKeySet(f *testing.F) {
	idp := oidctest.New(f)
	rsa := idp.SigningKey().Public()
	ec := idp.AddKey(jose.ES256).Public()
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsa, ec}})
	f.Add(set)
	enc := rsa
	enc.Use = "enc"
	encSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{enc}})
	f.Add(encSet)
	for _, s := range []string{
		`{"keys":[]}`, `{"keys":null}`, `{}`, `[]`, `null`, ``, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, `{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"unknown"},{"kty":"RSA"}]}`, `{"keys":[1,"x",null,{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := parseKeySet(body)
		if err != nil {
			if keys != nil {
				t.Fatalf("parseKeySet returned keys with error %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("parseKeySet returned no keys and no error")
		}
		for _, k := range keys {
			if !k.IsPublic() || !k.Valid() || (k.Use != "" && k.Use != "sig") {
				t.Fatalf("parseKeySet kept key %q: public %v, valid %v, use %q", k.KeyID, k.IsPublic(), k.Valid(), k.Use)
			}
			if _, symmetric := k.Key.([]byte); symmetric {
				t.Fatalf("parseKeySet kept symmetric key %q", k.KeyID)
			}
		}
	})
}

func FuzzPendingPhone(f *testing.F) {
	good := encodePendingPhone(pendingPhone{
		Flow: "flow", Purpose: otp.SignIn, Phone: "+8613800138000", Region: "CN", ReturnTo: "/private",
		ResendAt: time.Unix(1_800_000_000, 0), Expires: time.Unix(1_800_000_300, 0),
	})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte{recordVersion})
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := decodePendingPhone(b, otp.SignIn)
		if !ok {
			return
		}
		if p.Purpose != otp.SignIn {
			t.Fatalf("decodePendingPhone accepted a record of purpose %q for SignIn", p.Purpose)
		}
		again, ok := decodePendingPhone(encodePendingPhone(p), otp.SignIn)
		if !ok || !reflect.DeepEqual(again, p) {
			t.Fatalf("pending phone %+v does not survive a round trip: %+v", p, again)
		}
	})
}

func FuzzPendingSignIns(f *testing.F) {
	good := marshalPending([]pendingSignIn{
		{State: "s1", Nonce: "n1", Verifier: "v1", ReturnTo: "/a", Created: time.Unix(1_800_000_000, 0)},
		{State: "s2", Nonce: "n2", Verifier: "v2", ReturnTo: "/b", Created: time.Unix(1_800_000_001, 0)},
	})
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, ok := unmarshalPending(b)
		if !ok {
			return
		}
		if len(list) > maxPendingSignIns*2 {
			t.Fatalf("unmarshalPending accepted %d attempts", len(list))
		}
		again, ok := unmarshalPending(marshalPending(list))
		if !ok || (len(list) > 0 && !reflect.DeepEqual(again, list)) {
			t.Fatalf("attempts %+v do not survive a round trip: %+v", list, again)
		}
	})
}

func FuzzPhoneForm(f *testing.F) {
	sender := &codeSender{}
	codes, err := otp.New(otp.Config{Sender: sender, Key: []byte(strings.Repeat("k", 32)), DefaultRegion: "CN", Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	auth, err := New(context.Background(), Config{BaseURL: "http://127.0.0.1", Phone: &PhoneConfig{Codes: codes}, Logger: discardLogger()})
	if err != nil {
		f.Fatal(err)
	}
	h := auth.Wrap(http.NotFoundHandler())
	// newSession returns the token of a new session holding a pending
	// phone sign-in with the flow ID "FLOW", so that inputs reach the code
	// form's actions without sending a code first.
	newSession := func(t *testing.T) string {
		ctx, err := auth.sm.Load(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		auth.savePendingPhone(ctx, pendingPhone{Flow: "FLOW", Purpose: otp.SignIn, Phone: "+8613800138000", Region: "CN",
			ReturnTo: "/private", ResendAt: now, Expires: now.Add(5 * time.Minute)})
		token, _, err := auth.sm.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}

	for _, seed := range [][2]string{
		{"", "action=send&phone=13800138000&country=CN&return_to=%2Fprivate"},
		{"lang=es", "action=verify&flow=FLOW&code=123456"},
		{"step=code&lang=zh-Hans", "action=resend&flow=FLOW"},
		{"", "action=restart&flow=FLOW"},
		{"return_to=%2F%2Fevil.example", "action=send&phone=%2B12015550123&country=US&return_to=%2F%2Fevil"},
		{"", "action=verify&flow=FLOW&code=" + strings.Repeat("9", 100)},
		{"", "action=send&action=verify&phone=1&phone=2"},
		{"lang=%0A", "action=send&phone=%0A&country=%00"},
		{"", "%zz"},
		{"", strings.Repeat("a", 20<<10)},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		req := httptest.NewRequest(http.MethodPost, "/sign-in/phone", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Cookie", auth.sm.Cookie.Name+"="+newSession(t))
		before := sender.count()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST ?%q %q: status %d", query, body, rec.Code)
		}
		if n := sender.count() - before; n > 1 {
			t.Fatalf("POST ?%q %q sent %d codes, want at most 1", query, body, n)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || u.Scheme != "" || !hasLocalPrefix(loc) || strings.ContainsAny(loc, "\r\n") {
				t.Fatalf("POST ?%q %q redirects to %q, off the site", query, body, loc)
			}
		}
		if strings.Contains(rec.Body.String(), "<script") {
			t.Fatalf("POST ?%q %q: page contains a script", query, body)
		}
	})
}
