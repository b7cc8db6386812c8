package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/multitest"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
)

// waitFor polls out until re matches, and returns the first submatch.
func waitFor(t *testing.T, out *multitest.LogBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("output never matched %s:\n%s", re, out)
	return ""
}

func TestStandInSendsWithItsConnector(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	config := filepath.Join(t.TempDir(), "tencent.json")
	var out, errOut multitest.LogBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-config", config}, &out, &errOut) }()

	endpoint := waitFor(t, &out, regexp.MustCompile(`endpoint (http://127\.0\.0\.1:\d+)`))
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tencent.ParseConfig(data)
	if err != nil {
		t.Fatalf("the connector JSON the stand-in wrote does not parse: %v", err)
	}
	sender, err := tencent.New(cfg, tencent.Options{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.CloseIdleConnections()
	if err := sender.Send(ctx, otp.Message{Phone: "+8613800138000", Code: "482913", Purpose: otp.SignIn}); err != nil {
		t.Fatalf("send through the stand-in: %v", err)
	}
	waitFor(t, &out, regexp.MustCompile(`(SMS to \+8613800138000, template 100002, signature "Latch", parameters \["482913"\])`))
	mustContain(t, out.String(), "no SMS leaves this machine")
	mustContain(t, out.String(), `signature "Latch" with ID 9001`)

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status %d after interrupt, want 0; stderr: %s", code, errOut.String())
	}
}

func TestStandInRejectsOtherAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9110", ":9110", "example.com:80", "nonsense"} {
		var out, errOut multitest.LogBuffer
		if code := run(context.Background(), []string{"-addr", addr}, &out, &errOut); code != 1 {
			t.Errorf("-addr %s: exit status %d, want 1", addr, code)
		}
		mustContain(t, errOut.String(), "tencenttest: Addr")
	}
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("output lacks %q:\n%s", sub, s)
	}
}
