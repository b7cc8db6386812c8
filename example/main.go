// Command example is a small site that shows latch at work: a home page
// that shows who is signed in, a /dashboard behind RequireAuth, phone
// sign-in and sign-up pages, and OpenID Connect sign-in when a provider is
// configured.
//
//	go run ./example
//
// With no settings it offers phone sign-in and prints each code to the
// terminal instead of sending an SMS. Environment variables switch on the
// real parts:
//
//	OIDC_ISSUER           OpenID provider issuer URL, such as https://tenant.logto.app/oidc
//	OIDC_CLIENT_ID        client ID (Logto: App ID)
//	OIDC_CLIENT_SECRET    client secret (Logto: App secret)
//	OIDC_PROVIDER_NAME    the provider's name on the sign-in button (default: the issuer's host)
//	LATCH_BASE_URL        the site's external URL (default http://localhost:3000)
//	LATCH_ADDR            listen address (default localhost:3000)
//	LATCH_OTP_KEY         key for code MACs, 64 hex digits (default: a random key per run)
//	LATCH_TRUSTED_PROXIES addresses or CIDR prefixes of reverse proxies in front of the site, comma-separated
//	LATCH_PHONE_REGIONS   regions that may receive codes, the first being the
//	                      default for national numbers (default CN,US,GB,ES)
//	TENCENT_SMS_CONFIG    Logto's Tencent SMS connector JSON, or a file holding it
//	TENCENT_SMS_ENDPOINT  Tencent API URL with scheme (default the real one),
//	                      such as http://127.0.0.1:9110 for a local stand-in
//	LATCH_REDIS_URL       keep codes, counters and sessions in Redis, such as
//	                      redis://127.0.0.1:6379/0, to run several instances
//	LATCH_POSTGRES_URL    the same in PostgreSQL, such as
//	                      postgres://user@127.0.0.1/db (tables are created at start)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latchkit/latch"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("example: " + err.Error())
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	settings := settingsFromEnv()
	shared, err := openSharedStore(ctx, settings, logger)
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.close()
		settings.shared = shared
		logger.Info("example: codes and sessions are kept in a shared store", "store", shared.name)
	}
	auth, err := newAuth(ctx, settings, logger)
	if err != nil {
		return err
	}
	defer auth.Close()

	srv := &http.Server{
		Addr:              settings.addr,
		Handler:           auth.Wrap(routes(auth, settings.issuer != "")),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	logger.Info("example: serving", "addr", settings.addr, "url", settings.baseURL)

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("example: stopped")
	return nil
}

// settings are the example's environment variables.
type settings struct {
	issuer, clientID, clientSecret string
	providerName                   string
	baseURL, addr                  string
	otpKey                         string
	regions                        []string
	tencentConfig, tencentEndpoint string
	redisURL, postgresURL          string
	trustedProxies                 string

	// console receives the codes of the development sender.
	console io.Writer
	// shared is the store opened from redisURL or postgresURL, if any.
	shared *sharedStore
}

func settingsFromEnv() settings {
	return settings{
		issuer:          os.Getenv("OIDC_ISSUER"),
		clientID:        os.Getenv("OIDC_CLIENT_ID"),
		clientSecret:    os.Getenv("OIDC_CLIENT_SECRET"),
		providerName:    os.Getenv("OIDC_PROVIDER_NAME"),
		baseURL:         envOr("LATCH_BASE_URL", "http://localhost:3000"),
		addr:            envOr("LATCH_ADDR", "localhost:3000"),
		otpKey:          os.Getenv("LATCH_OTP_KEY"),
		regions:         strings.Split(envOr("LATCH_PHONE_REGIONS", "CN,US,GB,ES"), ","),
		tencentConfig:   os.Getenv("TENCENT_SMS_CONFIG"),
		tencentEndpoint: os.Getenv("TENCENT_SMS_ENDPOINT"),
		redisURL:        os.Getenv("LATCH_REDIS_URL"),
		postgresURL:     os.Getenv("LATCH_POSTGRES_URL"),
		trustedProxies:  os.Getenv("LATCH_TRUSTED_PROXIES"),
		console:         os.Stderr,
	}
}

// parseProxies reads LATCH_TRUSTED_PROXIES: addresses or CIDR prefixes,
// separated by commas.
func parseProxies(list string) ([]netip.Prefix, error) {
	var proxies []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			proxies = append(proxies, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("LATCH_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", item)
		}
		proxies = append(proxies, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return proxies, nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func newAuth(ctx context.Context, s settings, logger *slog.Logger) (*latch.Auth, error) {
	codes, err := newCodes(s, logger)
	if err != nil {
		return nil, err
	}
	proxies, err := parseProxies(s.trustedProxies)
	if err != nil {
		return nil, err
	}
	cfg := latch.Config{
		TrustedProxies: proxies,
		Issuer:         s.issuer,
		ClientID:       s.clientID,
		ClientSecret:   s.clientSecret,
		ProviderName:   s.providerName,
		BaseURL:        s.baseURL,
		Logger:         logger,
		Pages:          templatesOptions(),
		Phone:          &latch.PhoneConfig{Codes: codes},
	}
	if s.shared != nil {
		cfg.SessionStore = s.shared.sessions
	}
	if s.issuer != "" && isLocalHTTP(s.issuer) {
		// A provider on this machine, such as the bundled oidc-provider,
		// may use plain http; anything else must use https.
		logger.Warn("example: accepting an http issuer on a loopback address", "issuer", s.issuer)
		cfg.InsecureAllowHTTPIssuer = true
	}
	discover, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	auth, err := latch.New(discover, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting up sign-in: %w", err)
	}
	return auth, nil
}
