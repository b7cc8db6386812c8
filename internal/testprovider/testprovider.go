package testprovider

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnableEnv is the environment variable that enables tests against the
// provider. Its value must be 1.
const EnableEnv = "LATCH_TEST_OIDC_PROVIDER"

// Default settings that [Start] applies to zero [Options] fields.
const (
	DefaultClientID        = "latch-test"
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultIDTokenTTL      = 10 * time.Minute
	DefaultRefreshTokenTTL = time.Hour
	DefaultSessionTTL      = time.Hour
	DefaultStartTimeout    = 30 * time.Second
)

// stopTimeout bounds the wait for node to exit after SIGTERM before it is
// killed.
const stopTimeout = 5 * time.Second

// Account is an end-user account of the provider. The claim fields are
// released by scope: Name and Picture with profile, Email and EmailVerified
// with email, PhoneNumber and PhoneNumberVerified with phone. An empty
// Email or PhoneNumber leaves out its _verified claim too.
type Account struct {
	Subject  string // sub claim, unique among accounts
	Login    string // value typed into the login form, unique among accounts
	Password string

	Name                string
	Picture             string
	Email               string
	EmailVerified       bool
	PhoneNumber         string // E.164, such as +8613800000000
	PhoneNumberVerified bool
}

// Alice is the first of the [DefaultAccounts]: every claim is set and
// verified.
var Alice = Account{
	Subject:             "3c3a1f8e-alice",
	Login:               "alice",
	Password:            "alice-password",
	Name:                "Alice Example",
	Picture:             "https://images.example.com/alice.png",
	Email:               "alice@example.com",
	EmailVerified:       true,
	PhoneNumber:         "+8613800000001",
	PhoneNumberVerified: true,
}

// Bob is the second of the [DefaultAccounts]: his email address is not
// verified and he has no phone number or picture.
var Bob = Account{
	Subject:       "9d0e4b27-bob",
	Login:         "bob",
	Password:      "bob-password",
	Name:          "Bob Example",
	Email:         "bob@example.com",
	EmailVerified: false,
}

// DefaultAccounts returns the accounts that [Start] registers when
// [Options.Accounts] is nil: [Alice] and [Bob].
func DefaultAccounts() []Account {
	return []Account{Alice, Bob}
}

// Rotation selects when the provider replaces a refresh token that a client
// uses.
type Rotation int

const (
	// RotateEveryUse issues a new refresh token on every refresh and
	// invalidates the one used.
	RotateEveryUse Rotation = iota

	// RotateProviderDefault keeps oidc-provider's default policy, which
	// Logto uses: for a confidential client the refresh token rotates only
	// once 70% of its lifetime has passed.
	RotateProviderDefault

	// RotateNever keeps the same refresh token for its whole lifetime.
	RotateNever
)

func (r Rotation) configValue() (string, error) {
	switch r {
	case RotateEveryUse:
		return "every_use", nil
	case RotateProviderDefault:
		return "oidc_provider_default", nil
	case RotateNever:
		return "never", nil
	}
	return "", fmt.Errorf("testprovider: invalid Rotation %d", int(r))
}

// Options configures the provider and its one client. Durations are sent to
// the provider in whole seconds.
type Options struct {
	// ClientID is the client_id of the registered client. Empty means
	// DefaultClientID.
	ClientID string

	// ClientSecret is the client secret. Empty means a random secret,
	// which [Provider.ClientSecret] returns.
	ClientSecret string

	// RedirectURIs are the client's registered redirect URIs. At least one
	// is required.
	RedirectURIs []string

	// PostLogoutRedirectURIs are the URIs the provider may redirect to
	// after RP-initiated logout. Empty means none.
	PostLogoutRedirectURIs []string

	// AccessTokenTTL is the access token lifetime. Zero means
	// DefaultAccessTokenTTL.
	AccessTokenTTL time.Duration

	// IDTokenTTL is the ID token lifetime. Zero means DefaultIDTokenTTL.
	IDTokenTTL time.Duration

	// RefreshTokenTTL is the refresh token lifetime. Zero means
	// DefaultRefreshTokenTTL.
	RefreshTokenTTL time.Duration

	// SessionTTL is the lifetime of the provider's own sign-in session.
	// Zero means DefaultSessionTTL.
	SessionTTL time.Duration

	// TLS serves the provider over https with a certificate for 127.0.0.1
	// signed by a CA made for this run. [Provider.CertPool] and
	// [Provider.HTTPClient] trust that CA.
	TLS bool

	// Accounts are the end-user accounts. Nil means [DefaultAccounts].
	Accounts []Account

	// AutoConsent grants the requested scopes and claims without showing
	// the consent form, as Logto does for first-party applications.
	AutoConsent bool

	// RefreshTokenRotation selects when refresh tokens rotate. The zero
	// value is RotateEveryUse.
	RefreshTokenRotation Rotation

	// OfflineAccessRequired issues refresh tokens only when the
	// offline_access scope was granted, oidc-provider's default. False
	// issues one on every code exchange, like Logto's "always issue
	// refresh token" setting. oidc-provider ignores offline_access unless
	// the request also carries prompt=consent.
	OfflineAccessRequired bool

	// IDTokenClaims puts the claims of the granted scopes in the ID token
	// as well as in userinfo (conformIdTokenClaims off, as Logto sets it).
	// False follows OpenID Connect Core 5.4: with an access token issued,
	// scope claims come from userinfo only.
	IDTokenClaims bool

	// ClockTolerance is how long the provider keeps accepting an expired
	// token, in whole seconds. Zero means none, so an access token fails at
	// userinfo as soon as it expires. oidc-provider's default, which Logto
	// keeps, is 15 seconds.
	ClockTolerance time.Duration

	// StartTimeout bounds the wait for the provider's READY line. Zero
	// means DefaultStartTimeout.
	StartTimeout time.Duration
}

// Provider is a running oidc-provider process. Its methods are safe for
// concurrent use.
type Provider struct {
	issuer       string
	issuerURL    *url.URL
	clientID     string
	clientSecret string
	accounts     []Account
	ca           *x509.Certificate // nil over http

	cmd     *exec.Cmd
	stdin   interface{ Close() error }
	output  *syncBuffer
	exited  chan struct{} // closed when node exits
	waitErr error         // set before exited is closed

	stopOnce sync.Once
}

// Available reports whether tests against the provider are enabled. When
// they are not, reason describes how to enable them.
func Available() (reason string, ok bool) {
	value := os.Getenv(EnableEnv)
	howTo := fmt.Sprintf("set %s=1 and run `npm ci --prefix %s` (or run .ci/run) to test against a real OpenID provider",
		EnableEnv, nodeDir())
	switch value {
	case "1":
		return "", true
	case "":
		return fmt.Sprintf("%s is not set: %s", EnableEnv, howTo), false
	default:
		return fmt.Sprintf("%s=%q is not 1: %s", EnableEnv, value, howTo), false
	}
}

// Start runs node provider.mjs with opts and returns once the provider
// accepts connections. It skips the test unless [Available] reports true,
// fails it when node or its packages are missing or the provider does not
// start in time, and stops node in t.Cleanup.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	if reason, ok := Available(); !ok {
		t.Skip(reason)
	}
	p, err := start(t, nodeDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start does the work of Start with the node folder as a parameter, so
// tests can point it at a folder without packages.
func start(t testing.TB, dir string, opts Options) (*Provider, error) {
	t.Helper()

	p := &Provider{
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		accounts:     slices.Clone(opts.Accounts),
		output:       &syncBuffer{},
		exited:       make(chan struct{}),
	}
	if p.clientID == "" {
		p.clientID = DefaultClientID
	}
	if p.clientSecret == "" {
		p.clientSecret = randomSecret()
	}
	if p.accounts == nil {
		p.accounts = DefaultAccounts()
	}

	tmp := t.TempDir()
	config, err := p.configJSON(opts, tmp)
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(tmp, "config.json")
	if err := os.WriteFile(configFile, config, 0o600); err != nil {
		return nil, fmt.Errorf("testprovider: write config: %w", err)
	}

	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return nil, fmt.Errorf("testprovider: oidc-provider is not installed in %s: run `npm ci --prefix %s`: %w", dir, dir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("testprovider: node not found in PATH: install Node.js (tested with 20.20): %w", err)
	}

	ready := make(chan string, 1)
	p.cmd = exec.Command(node, filepath.Join(dir, "provider.mjs"), "--config", configFile)
	p.cmd.Dir = dir
	p.cmd.Stdout = &readyWriter{ready: ready, log: p.output}
	p.cmd.Stderr = p.output
	// node exits when this pipe closes, so a test binary that dies without
	// running its cleanups does not leave the provider running.
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("testprovider: stdin pipe: %w", err)
	}
	p.stdin = stdin
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testprovider: start %s: %w", node, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testprovider: provider output:\n%s", p.Output())
		}
	})

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = DefaultStartTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case issuer := <-ready:
		p.issuer = issuer
	case <-p.exited:
		return nil, fmt.Errorf("testprovider: provider exited before it was ready (%v); output:\n%s", p.waitErr, p.Output())
	case <-timer.C:
		p.Stop()
		return nil, fmt.Errorf("testprovider: provider not ready after %v; output:\n%s", timeout, p.Output())
	}

	p.issuerURL, err = url.Parse(p.issuer)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("testprovider: invalid issuer %q in READY line: %w", p.issuer, err)
	}
	return p, nil
}

// Issuer returns the issuer identifier, such as http://127.0.0.1:40123.
// Discovery is at Issuer() + "/.well-known/openid-configuration".
func (p *Provider) Issuer() string { return p.issuer }

// ClientID returns the registered client's client_id.
func (p *Provider) ClientID() string { return p.clientID }

// ClientSecret returns the registered client's secret.
func (p *Provider) ClientSecret() string { return p.clientSecret }

// Accounts returns a copy of the provider's accounts.
func (p *Provider) Accounts() []Account {
	return append([]Account(nil), p.accounts...)
}

// CertPool returns a new pool that contains the CA of an https provider,
// or nil for an http provider. Callers may add certificates to it, such as
// the one of an httptest TLS server.
func (p *Provider) CertPool() *x509.CertPool {
	if p.ca == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// HTTPClient returns a new client with an empty cookie jar that trusts the
// provider's CA, as a fresh browser would. It follows redirects like any
// http.Client, and its Timeout is 30 seconds.
func (p *Provider) HTTPClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		// cookiejar.New returns an error only for invalid options.
		panic(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if p.ca != nil {
		transport.TLSClientConfig.RootCAs = p.CertPool()
	}
	return &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second}
}

// Output returns what node wrote to stdout and stderr so far: oidc-provider
// warnings and the errors provider.mjs logs.
func (p *Provider) Output() string { return p.output.String() }

// Stop ends the provider: SIGTERM and closed stdin, then a kill after
// stopTimeout. It waits for node to exit and is idempotent. Start registers
// it with t.Cleanup, so tests call it only to test a provider outage.
func (p *Provider) Stop() {
	p.stopOnce.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			// Already exited, or a platform without SIGTERM.
			p.cmd.Process.Kill()
		}
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// nodeDir returns the folder of provider.mjs, found from this source
// file's path so that tests of any package can start the provider.
func nodeDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "node"
	}
	return filepath.Join(filepath.Dir(file), "node")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
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

// readyWriter receives node's stdout. It sends the issuer from the first
// "READY <issuer>" line to ready and copies every other line to log.
type readyWriter struct {
	ready   chan<- string
	log     *syncBuffer
	partial []byte
	sent    bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if issuer, ok := strings.CutPrefix(line, "READY "); ok && !w.sent {
			w.sent = true
			w.ready <- issuer
			continue
		}
		fmt.Fprintf(w.log, "stdout: %s\n", line)
	}
	return len(p), nil
}
