package testprovider

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validOptions() Options {
	return Options{RedirectURIs: []string{"http://127.0.0.1:1/callback"}}
}

func TestStartRejectsOptions(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Options)
		wantErr string
	}{
		{"no redirect URI", func(o *Options) { o.RedirectURIs = nil }, "RedirectURIs is empty"},
		{"fractional TTL", func(o *Options) { o.AccessTokenTTL = 1500 * time.Millisecond }, "AccessTokenTTL 1.5s is not"},
		{"sub-second TTL", func(o *Options) { o.SessionTTL = time.Millisecond }, "SessionTTL 1ms is not"},
		{"negative TTL", func(o *Options) { o.RefreshTokenTTL = -time.Second }, "RefreshTokenTTL -1s is not"},
		{"fractional tolerance", func(o *Options) { o.ClockTolerance = time.Second / 2 }, "ClockTolerance 500ms"},
		{"invalid rotation", func(o *Options) { o.RefreshTokenRotation = 7 }, "invalid Rotation 7"},
		{"empty accounts", func(o *Options) { o.Accounts = []Account{} }, "Accounts is empty"},
		{"account without password", func(o *Options) { o.Accounts = []Account{{Subject: "s", Login: "l"}} }, `Accounts[0] (login "l")`},
		{"duplicate login", func(o *Options) { o.Accounts = []Account{Alice, {Subject: "other", Login: "alice", Password: "p"}} }, `duplicate Subject "other" or Login "alice"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := validOptions()
			tt.modify(&opts)
			_, err := start(t, nodeDir(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("start(%+v) = %v, want an error containing %q", opts, err, tt.wantErr)
			}
		})
	}
}

func TestStartWithoutPackages(t *testing.T) {
	dir := t.TempDir()
	_, err := start(t, dir, validOptions())
	want := "run `npm ci --prefix " + dir + "`"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("start in a folder without node_modules = %v, want an error containing %q", err, want)
	}
}

func TestStartReportsProviderFailure(t *testing.T) {
	if reason, ok := Available(); !ok {
		t.Skip(reason)
	}
	opts := Options{RedirectURIs: []string{"not a url"}}
	_, err := start(t, nodeDir(), opts)
	for _, want := range []string{"exited before it was ready", "redirect_uris must only contain valid uris"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("start with redirect URI %q = %v, want an error containing %q", opts.RedirectURIs[0], err, want)
		}
	}
}

func TestReadyWriter(t *testing.T) {
	tests := []struct {
		name       string
		chunks     []string
		wantIssuer string
		wantLog    string
	}{
		{"one write", []string{"READY http://127.0.0.1:1\n"}, "http://127.0.0.1:1", ""},
		{"split line", []string{"REA", "DY https://127.0.0.1:2", "\n"}, "https://127.0.0.1:2", ""},
		{"other lines logged", []string{"hello\nREADY http://127.0.0.1:3\nbye\n"}, "http://127.0.0.1:3", "stdout: hello\nstdout: bye\n"},
		{"second READY logged", []string{"READY http://a\nREADY http://b\n"}, "http://a", "stdout: READY http://b\n"},
		{"no newline yet", []string{"READY http://127.0.0.1:4"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready := make(chan string, 1)
			log := &syncBuffer{}
			w := &readyWriter{ready: ready, log: log}
			for _, c := range tt.chunks {
				if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write(%q) = %d, %v, want %d, nil", c, n, err, len(c))
				}
			}
			var issuer string
			select {
			case issuer = <-ready:
			default:
			}
			if issuer != tt.wantIssuer {
				t.Errorf("issuer = %q, want %q", issuer, tt.wantIssuer)
			}
			if got := log.String(); got != tt.wantLog {
				t.Errorf("log = %q, want %q", got, tt.wantLog)
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:9/interaction/abc")
	body := `<!DOCTYPE html><html><head><title> Sign in </title></head><body>
<p id="error">invalid <b>login</b></p>
<form id="login" method="post" action="/interaction/abc/login">
<input type="hidden" name="csrf" value="t&amp;1">
<input name="login">
</form>
<form id="op.logoutForm" method="POST" action="../session/end/confirm"></form>
<input type="HIDDEN" form="op.logoutForm" name="xsrf" value="x">
<form><input type="hidden" name="code" value="c"></form>
</body></html>`
	page, err := parsePage([]byte(body), base)
	if err != nil {
		t.Fatalf("parsePage() = %v", err)
	}
	if page.title != "Sign in" {
		t.Errorf("title = %q, want %q", page.title, "Sign in")
	}
	if got := page.texts["error"]; got != "invalid login" {
		t.Errorf("texts[error] = %q, want %q", got, "invalid login")
	}

	tests := []struct {
		id         string
		wantMethod string
		wantAction string
		wantValues url.Values
	}{
		{"login", http.MethodPost, "http://127.0.0.1:9/interaction/abc/login", url.Values{"csrf": {"t&1"}}},
		{"op.logoutForm", http.MethodPost, "http://127.0.0.1:9/session/end/confirm", url.Values{"xsrf": {"x"}}},
		{"", http.MethodGet, base.String(), url.Values{"code": {"c"}}},
	}
	if len(page.forms) != len(tests) {
		t.Fatalf("parsePage() found %d forms, want %d", len(page.forms), len(tests))
	}
	for i, tt := range tests {
		f := page.forms[i]
		if f.id != tt.id {
			t.Errorf("form %d id = %q, want %q", i, f.id, tt.id)
		}
		if f.method != tt.wantMethod {
			t.Errorf("form %q method = %q, want %q", tt.id, f.method, tt.wantMethod)
		}
		if f.action.String() != tt.wantAction {
			t.Errorf("form %q action = %q, want %q", tt.id, f.action, tt.wantAction)
		}
		if got := f.values(); !reflect.DeepEqual(got, tt.wantValues) {
			t.Errorf("form %q values = %v, want %v", tt.id, got, tt.wantValues)
		}
	}
}

func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`<form id="login" method="post" action="/x"><input type="hidden" name="a" value="b"></form>`))
	f.Add([]byte(`<form id="f"></form><input form="f" type="hidden" name="n" value="v"><input form="missing" type="hidden" name="n">`))
	f.Add([]byte(`<title>t</title><p id="error">e</p><p id="error_description">d</p>`))
	f.Add([]byte(`<form action="http://[::1"><form action="%zz">`))
	f.Add([]byte(``))
	base, _ := url.Parse("https://127.0.0.1:9/auth/x")
	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := parsePage(body, base)
		if err != nil {
			return
		}
		for _, form := range page.forms {
			if form.action == nil {
				t.Fatalf("form %q has a nil action", form.id)
			}
			if form.method != http.MethodGet && form.method != http.MethodPost {
				t.Fatalf("form %q method = %q, want GET or POST", form.id, form.method)
			}
			if _, err := formRequest(form, form.values()); err != nil {
				t.Fatalf("formRequest(%q) = %v", form.id, err)
			}
		}
	})
}

func TestSignInWrongPassword(t *testing.T) {
	op := Start(t, validOptions())
	q := url.Values{
		"client_id":             {op.ClientID()},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"redirect_uri":          {validOptions().RedirectURIs[0]},
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	authURL := op.Issuer() + "/auth?" + q.Encode()
	f := flow{kind: flowSignIn, login: Alice.Login, password: "wrong-password"}
	_, err := op.browse(op.HTTPClient(), authURL, f, true)
	want := `provider rejected login "alice" (status 401): invalid login or password`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("browse with a wrong password = %v, want an error containing %q", err, want)
	}
}

func TestSignInUnknownLogin(t *testing.T) {
	op := &Provider{accounts: DefaultAccounts()}
	_, err := op.SignIn(http.DefaultClient, "http://127.0.0.1:1/login", "carol")
	want := `no account with login "carol"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("SignIn(carol) = %v, want an error containing %q", err, want)
	}
}
