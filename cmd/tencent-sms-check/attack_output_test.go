package main

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

// wantCleanOutput fails if the output holds a secret or a character that
// could rewrite the operator's terminal: escape sequences, bidirectional
// controls or control characters other than the line breaks between
// lines.
func wantCleanOutput(t *testing.T, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(output, s) {
			t.Errorf("output contains %q:\n%s", s, output)
		}
	}
	for _, line := range strings.Split(output, "\n") {
		if i := strings.IndexFunc(line, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }); i >= 0 {
			t.Errorf("output line %q contains the control character %U", line, []rune(line[i:])[0])
		}
	}
	if regexp.MustCompile(`[0-9a-f]{64}`).MatchString(output) {
		t.Errorf("output contains a hexadecimal string as long as a TC3 signature:\n%s", output)
	}
}

func TestAttackOutputHidesSecrets(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Action: "SendSms", Code: "FailedOperation.OtherError",
		Message: "echo \x1b[2J\u202e", EchoRequest: true})
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateRegister, Content: "Code {1}\x1b[31m\n",
		Status: tencenttest.StatusRejected, ReviewReply: "no\x1b[0m\nway", UsageType: "Register"})
	code, out, _ := runCheck(t, string(srv.ConnectorJSON()), "-endpoint", srv.URL, "-phone", "+8613800138000")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	var codes []string
	for _, m := range srv.SendRequests() {
		codes = append(codes, m.Params...)
	}
	if len(codes) != 1 {
		t.Fatalf("stand-in saw %d codes, want 1", len(codes))
	}
	wantCleanOutput(t, out, append(codes, tencenttest.DefaultSecretKey, "13800138000")...)
}

func TestAttackHostileConnectorJSON(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	input := strings.Replace(string(srv.ConnectorJSON()), "{",
		`{"\u001b[2Jnote": 1, "a\nVerdict: ready": 2, "\u202eevil": 3,`, 1)
	_, out, _ := runCheck(t, input, "-endpoint", srv.URL, "-no-send")
	wantLines(t, out, "ignored fields that the connector does not define")
	wantCleanOutput(t, out, tencenttest.DefaultSecretKey)
	verdicts := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Verdict:") {
			verdicts++
		}
	}
	if verdicts != 1 {
		t.Errorf("output has %d verdict lines, want 1: a field name forged one\n%s", verdicts, out)
	}
}
