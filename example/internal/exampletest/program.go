package exampletest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/testprovider"
)

// RunProgram builds the example program in the test's working directory,
// runs it against oidc-provider (see package testprovider) with its
// environment variables, and signs in and out through it as a person with
// a browser would. It then stops the program with an interrupt and expects
// a clean exit. It skips the test unless testprovider.Available reports
// true.
func RunProgram(t *testing.T) {
	t.Helper()
	if reason, ok := testprovider.Available(); !ok {
		t.Skip(reason)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	op := testprovider.Start(t, testprovider.Options{
		RedirectURIs:           []string{base + "/callback"},
		PostLogoutRedirectURIs: []string{base + "/"},
		AutoConsent:            true,
	})

	bin := filepath.Join(t.TempDir(), "example")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"OIDC_ISSUER="+op.Issuer(),
		"OIDC_CLIENT_ID="+op.ClientID(),
		"OIDC_CLIENT_SECRET="+op.ClientSecret(),
		"LATCH_BASE_URL="+base,
		"LATCH_ADDR="+addr,
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the program: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("program output:\n%s\nprovider output:\n%s", log.String(), op.Output())
		}
	})
	waitForListener(t, addr, exited)

	alice := testprovider.Alice
	browser := op.HTTPClient()
	res, err := op.SignIn(browser, base+"/sign-in?return_to=%2Fdashboard", alice.Login)
	if err != nil {
		t.Fatalf("sign-in through oidc-provider: %v", err)
	}
	if want := "Signed in as <strong>" + alice.Name + "</strong>"; res.Response.StatusCode != http.StatusOK || !strings.Contains(string(res.Body), want) {
		t.Errorf("page after sign-in: status %d, body %.300q; want the dashboard with %q", res.Response.StatusCode, res.Body, want)
	}

	var me map[string]string
	code, body := get(t, browser, base+"/api/me", "application/json")
	if err := json.Unmarshal([]byte(body), &me); code != http.StatusOK || err != nil || me["subject"] != alice.Subject || me["email"] != alice.Email {
		t.Errorf("GET /api/me: status %d, body %.300q; want 200 with subject %q and email %q", code, body, alice.Subject, alice.Email)
	}

	// The sign-out form posts to latch, which sends the browser to the
	// provider's end-session endpoint and on to the home page.
	noRedirects := *browser
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodPost, base+"/sign-out", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", base)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("POST /sign-out: %v", err)
	}
	resp.Body.Close()
	end, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(end.String(), op.Issuer()) {
		t.Fatalf("POST /sign-out: status %d to %v, want 303 to the provider", resp.StatusCode, end)
	}
	out, err := op.SignOut(browser, end.String())
	if err != nil {
		t.Fatalf("end-session at oidc-provider: %v", err)
	}
	if !strings.Contains(string(out.Body), "You are not signed in") {
		t.Errorf("after end-session: returned to %v with %.300q, want the anonymous home page", out.ReturnURL, out.Body)
	}

	stopped = true
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupting the program: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("program exit after an interrupt: %v, want a clean exit", err)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("program still running 15s after an interrupt")
	}
}

// freeAddr returns a loopback address with a port that is free now. The
// program binds it a moment later; another process could take it first,
// which would fail the test rather than pass it wrongly.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitForListener waits until addr accepts connections, for at most 60
// seconds, which covers the provider discovery the program does first.
func waitForListener(t *testing.T, addr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("program exited before serving: %v", err)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("program not listening on %s after 60s", addr)
}

func get(t *testing.T, client *http.Client, url, accept string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// syncBuffer collects a process's output from two pipes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
