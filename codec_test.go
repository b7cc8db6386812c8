package latch

import (
	"bytes"
	"encoding/gob"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestCodecRoundTrip(t *testing.T) {
	deadline := time.Unix(1_800_000_000, 123456789).UTC()
	values := map[string]any{
		"s": "text", "empty": "", "b": []byte{0, 1, 2}, "t": true, "f": false,
		"i64": int64(-42), "i": 7, "fl": 3.25, "time": time.Unix(1_700_000_000, 5),
		"unicode": "ключ 键", "big": strings.Repeat("x", 70000),
	}
	enc, err := Codec{}.Encode(deadline, values)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if enc[0] != codecVersion {
		t.Fatalf("Encode of native types used format %q, want the native one", enc[0])
	}
	gotDeadline, got, err := Codec{}.Decode(enc)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !gotDeadline.Equal(deadline) {
		t.Errorf("deadline = %v, want %v", gotDeadline, deadline)
	}
	for k, want := range values {
		g := got[k]
		if wt, ok := want.(time.Time); ok {
			if gt, ok := g.(time.Time); !ok || !gt.Equal(wt) {
				t.Errorf("value %q = %v, want %v", k, g, want)
			}
			continue
		}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("value %q = %#v, want %#v", k, g, want)
		}
	}
}

func TestCodecCopiesBytes(t *testing.T) {
	enc, _ := Codec{}.Encode(time.Now(), map[string]any{"b": []byte("abc")})
	_, got, _ := Codec{}.Decode(enc)
	got["b"].([]byte)[0] = 'X'
	_, again, _ := Codec{}.Decode(enc)
	if string(again["b"].([]byte)) != "abc" {
		t.Error("changing a decoded byte slice changed the encoded session")
	}
}

type appValue struct{ N int }

func TestCodecFallsBackToGob(t *testing.T) {
	gob.Register(appValue{})
	enc, err := Codec{}.Encode(time.Unix(10, 0), map[string]any{"a": appValue{3}, "s": "x"})
	if err != nil {
		t.Fatalf("Encode with an application type: %v", err)
	}
	if enc[0] != codecGob {
		t.Errorf("format %q, want gob for a type the native format lacks", enc[0])
	}
	_, got, err := Codec{}.Decode(enc)
	if err != nil || got["a"] != (appValue{3}) || got["s"] != "x" {
		t.Errorf("Decode = %v, %v; want both values back", got, err)
	}
}

func TestCodecRejectsCorruptData(t *testing.T) {
	good, _ := Codec{}.Encode(time.Now(), map[string]any{"k": "value", "n": int64(5)})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"unknown":       {0x01, 0x02},
		"truncated":     good[:len(good)-2],
		"trailing":      append(append([]byte{}, good...), 0),
		"huge count":    {codecVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad tag":       {codecVersion, 0, 1, 1, 'k', 99},
		"gob garbage":   {codecGob, 1, 2, 3},
		"huge length":   {codecVersion, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":    {codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"missing value": {codecVersion, 0, 1, 1, 'k'},
	} {
		if _, _, err := (Codec{}).Decode(b); err == nil {
			t.Errorf("Decode(%s) succeeded, want an error", name)
		}
	}
}

func TestCodecMatchesScsSemantics(t *testing.T) {
	// A session encoded by latch behaves in scs like one encoded by gob.
	sm := scs.New()
	sm.Codec = Codec{}
	ctx, err := sm.Load(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	sm.Put(ctx, "n", 5)
	sm.Put(ctx, "s", "x")
	token, _, err := sm.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, err := sm.Load(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	if sm.GetInt(ctx2, "n") != 5 || sm.GetString(ctx2, "s") != "x" {
		t.Errorf("values after a round trip through scs: n=%d s=%q", sm.GetInt(ctx2, "n"), sm.GetString(ctx2, "s"))
	}
}

func TestUserRecordRoundTrip(t *testing.T) {
	u := &User{Subject: "s", Issuer: "https://id", Method: MethodOIDC, Name: "N", Email: "e@x", Phone: "+1",
		Picture: "p", EmailVerified: true, SignedInAt: time.Unix(1_700_000_000, 0), claims: []byte(`{"a":1}`)}
	got, err := unmarshalUser(u.marshal(time.Time{}))
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("user round trip = %+v, %v; want %+v", got, err, u)
	}
	if _, err := unmarshalUser([]byte{recordVersion}); !errors.Is(err, errCorruptRecord) {
		t.Errorf("truncated user record = %v, want errCorruptRecord", err)
	}
	tok := &Tokens{AccessToken: "a", TokenType: "Bearer", IDToken: "i", Scope: "openid", refreshToken: "r",
		Expiry: time.UnixMilli(1_700_000_000_123), obtained: time.UnixMilli(1_700_000_000_000)}
	gotTok, err := unmarshalTokens(tok.marshal())
	if err != nil || !reflect.DeepEqual(gotTok, tok) {
		t.Errorf("token round trip = %+v, %v; want %+v", gotTok, err, tok)
	}
}

func FuzzCodecDecode(f *testing.F) {
	good, _ := Codec{}.Encode(time.Unix(5, 0), map[string]any{"k": "v", "b": []byte{1}, "t": true, "i": 3, "x": 1.5})
	f.Add(good)
	f.Add([]byte{codecGob})
	f.Add([]byte{})
	u := (&User{Subject: "s", claims: []byte("{}")}).marshal(time.Time{})
	f.Add(u)
	f.Fuzz(func(t *testing.T, b []byte) {
		deadline, values, err := Codec{}.Decode(b)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same values.
		enc, err := Codec{}.Encode(deadline, values)
		if err != nil {
			t.Fatalf("re-encoding decoded values: %v", err)
		}
		_, again, err := Codec{}.Decode(enc)
		if err != nil || len(again) != len(values) {
			t.Fatalf("second decode = %d values, %v; want %d", len(again), err, len(values))
		}
		_, _ = unmarshalUser(b)
		_, _ = unmarshalTokens(b)
		_, _ = unmarshalPending(b)
		if _, ok := checkUserRecord(b); ok {
			if _, err := unmarshalUser(b); err != nil {
				t.Fatalf("checkUserRecord accepts what unmarshalUser rejects: %v", err)
			}
		}
		if _, _, _, ok := tokenTimes(b); ok {
			if _, err := unmarshalTokens(b); err != nil {
				t.Fatalf("tokenTimes accepts what unmarshalTokens rejects: %v", err)
			}
		}
	})
}

func FuzzParseCallbackQuery(f *testing.F) {
	for _, s := range []string{
		"code=abc&state=xyz", "code=a&state=b&iss=https%3A%2F%2Fid.example",
		"error=access_denied&state=s&error_description=User+said+no", "state=a&state=b",
		"code=%zz", "code=a;state=b", "state=" + strings.Repeat("s", maxCallbackParam+1), "code=\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseCallbackQuery(raw)
		if err != nil {
			if p != (callbackParams{}) {
				t.Fatalf("parseCallbackQuery(%q) returned values with an error", raw)
			}
			return
		}
		for name, v := range map[string]string{"code": p.Code, "state": p.State, "iss": p.Iss, "error": p.Error} {
			if len(v) > maxCallbackParam || !isPrintableASCII(v) {
				t.Fatalf("parseCallbackQuery(%q) accepted %s %q", raw, name, v)
			}
		}
	})
}

func TestCheckUserRecordMatchesUnmarshal(t *testing.T) {
	good := (&User{Subject: "s", Method: MethodOIDC, claims: []byte("{}")}).marshal(time.Time{})
	for i := 0; i <= len(good); i++ {
		b := good[:i]
		_, ok := checkUserRecord(b)
		_, err := unmarshalUser(b)
		if ok != (err == nil) {
			t.Errorf("record cut at %d: checkUserRecord ok=%v, unmarshalUser err=%v", i, ok, err)
		}
	}
	if oidc, ok := checkUserRecord(good); !oidc || !ok {
		t.Errorf("checkUserRecord(OIDC record) = %v, %v", oidc, ok)
	}
	phone := (&User{Subject: "+1", Method: MethodPhone}).marshal(time.Time{})
	if oidc, ok := checkUserRecord(phone); oidc || !ok {
		t.Errorf("checkUserRecord(phone record) = %v, %v", oidc, ok)
	}
}

// FuzzPeekSession checks that peekSession accepts exactly the sessions
// that the codec decodes, and finds in them the records that scs would
// return, since latch reads unchanged sessions with it and hands the rest
// to scs.
func FuzzPeekSession(f *testing.F) {
	user := (&User{Subject: "s", claims: []byte("{}")}).marshal(time.Unix(9, 0))
	for _, values := range []map[string]any{
		{keyUser: user, keyTokens: []byte{recordVersion}, "app": "v"},
		{keyUser: "not bytes", "n": 3, "f": 1.5, "t": true, "at": time.Unix(1, 0)},
		{keyUser: []byte{}},
		{},
	} {
		b, _ := Codec{}.Encode(time.Unix(5, 0), values)
		f.Add(b)
	}
	f.Add([]byte{codecGob, 1, 2})
	f.Add([]byte{codecVersion, 2, 2, 10, 'l', 'a', 't', 'c', 'h', '.', 'u', 's', 'e', 'r', tagBytes, 0, 1, 'x', tagTrue})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		user, tokens, native, err := peekSession(b)
		_, values, decodeErr := Codec{}.Decode(b)
		switch {
		case err != nil:
			if decodeErr == nil {
				t.Fatalf("peekSession rejects (%v) what Decode accepts", err)
			}
			return
		case !native:
			if b[0] != codecGob {
				t.Fatalf("peekSession calls a session of format %#x gob", b[0])
			}
			return
		case decodeErr != nil:
			t.Fatalf("peekSession accepts what Decode rejects (%v)", decodeErr)
		}
		for key, got := range map[string][]byte{keyUser: user, keyTokens: tokens} {
			want, _ := values[key].([]byte)
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("peekSession's %s = %q, Decode's = %q", key, got, want)
			}
		}
	})
}
