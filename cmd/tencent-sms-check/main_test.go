package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

func runCheck(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func wantLines(t *testing.T, output string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(output, w) {
			t.Errorf("output lacks %q:\n%s", w, output)
		}
	}
}

func TestCheckReady(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	code, out, errOut := runCheck(t, string(srv.ConnectorJSON()),
		"-endpoint", srv.URL, "-phone", "138 0013 8000", "-region", "CN", "-sign-id", "9001")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	wantLines(t, out,
		"Connector JSON: valid",
		"SignIn, template 100002 (used for SignIn): approved domestic template",
		"Signature 9001: approved, named \"Latch\". OK.",
		"Test code: sent to +86*******8000 with template 100004 (Generic)",
		"Verdict: ready")
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("stand-in recorded %d messages, want 1", len(msgs))
	}
	if strings.Contains(out, msgs[0].Params[0]) {
		t.Errorf("output contains the test code %s", msgs[0].Params[0])
	}
}

func TestCheckFindsProblems(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateSignIn, Content: "Code {1} for {2}", Status: tencenttest.StatusApproved, UsageType: "SignIn"})
	srv.AddSign(tencenttest.Sign{ID: 9002, Name: "Latch", Status: tencenttest.StatusReview})
	srv.FailNumber("+8613800138000", "LimitExceeded.PhoneNumberDailyLimit", "daily limit")

	dir := t.TempDir()
	file := filepath.Join(dir, "connector.json")
	if err := os.WriteFile(file, append([]byte("\ufeff"), srv.ConnectorJSON()...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCheck(t, "", "-endpoint", srv.URL, "-phone", "+8613800138000", "-sign-id", "9002", file)
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	wantLines(t, out,
		"PROBLEM: content has 2 placeholders ({1} {2})",
		"PROBLEM: still under review",
		"PROBLEM: otp: send via tencent failed: rate limited by provider",
		"Hint: Tencent's frequency limits rejected the send",
		"Verdict: 3 problem(s) found")
	if strings.Contains(out, tencenttest.DefaultSecretKey) {
		t.Errorf("output contains the secret:\n%s", out)
	}
}

func TestCheckInvalidJSON(t *testing.T) {
	code, out, _ := runCheck(t, `{"accessKeyId": "AKID", "sdkAppId": 5, "templates": []}`, "-no-send")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	wantLines(t, out, "Connector JSON: invalid.", "PROBLEM: accessKeySecret: missing",
		"PROBLEM: sdkAppId: must be a string, not a number", "Verdict: ")
}

func TestCheckNoSendAndUnknownFields(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	input := strings.Replace(string(srv.ConnectorJSON()), "{", `{"comment": "x",`, 1)
	code, out, _ := runCheck(t, input, "-endpoint", srv.URL, "-no-send", "-")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, out)
	}
	wantLines(t, out, `ignored fields that the connector does not define: "comment"`, "Signature: not looked up",
		"Test code: not sent (-no-send).")
	if n := srv.Requests("SendSms"); n != 0 {
		t.Errorf("-no-send made %d SendSms requests, want 0", n)
	}
}

func TestCheckAPIErrorHint(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Action: "DescribeSmsTemplateList",
		Code: "FailedOperation.NotEnterpriseCertification", Message: "individual"})
	code, out, _ := runCheck(t, string(srv.ConnectorJSON()), "-endpoint", srv.URL, "-phone", "+8613800138000")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	wantLines(t, out, "Templates: could not be looked up.", "individual identity verification", "Test code: sent")
}

func TestCheckUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "-phone is required"},
		{[]string{"-phone", "12", "-region", "CN"}, "-phone: otp: invalid phone number"},
		{[]string{"-phone", "13800138000"}, "or name its region with -region"},
		{[]string{"-no-send", "-purpose", "Login"}, "-purpose \"Login\""},
		{[]string{"-no-send", "a.json", "b.json"}, "at most one"},
		{[]string{"-no-send", filepath.Join(t.TempDir(), "missing.json")}, "no such file"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		code, _, errOut := runCheck(t, "{}", tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

// TestCheckTemplateRegion checks that a template approved for the other
// side of Tencent's domestic and international split is reported before
// the test send.
func TestCheckTemplateRegion(t *testing.T) {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	code, out, _ := runCheck(t, string(srv.ConnectorJSON()), "-endpoint", srv.URL, "-phone", "+34 612 345 678")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	wantLines(t, out, "PROBLEM: template 100004 is a domestic template, but +34*****5678 is outside mainland China")

	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateGeneric, Content: "Your code is {1}.",
		Status: tencenttest.StatusApproved, International: true, UsageType: "Generic"})
	srv.AddSign(tencenttest.Sign{ID: 9002, Name: tencenttest.DefaultSignName, Status: tencenttest.StatusApproved, International: true})
	code, out, _ = runCheck(t, string(srv.ConnectorJSON()), "-endpoint", srv.URL, "-phone", "+8613800138000")
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s", code, out)
	}
	wantLines(t, out, "PROBLEM: template 100004 is an international template, but +86*******8000 is in mainland China")

	code, out, _ = runCheck(t, string(srv.ConnectorJSON()), "-endpoint", srv.URL, "-phone", "+34 612 345 678")
	if code != 0 {
		t.Errorf("international template to a Spanish number: exit status %d, want 0\n%s", code, out)
	}
}
