// Command loadserver serves the variants that bench/load.sh compares under
// load, each on its own loopback port:
//
//   - the bare handler, alone and sent a cookie like latch's;
//   - scs's own middleware with its default gob codec and an idle timeout;
//   - the same at its cheapest (latch's codec, no idle timeout);
//   - the handler behind latch's RequireAuth with the in-memory store, and
//     with the Redis store when LATCH_REDIS_URL is set.
//
// Each variant gets a signed-in session first.
//
// It prints one line per variant, "name URL Cookie-header", then a line
// "READY", and serves until interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	_ "net/http/pprof" // served on LATCH_PPROF_ADDR when set
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store/redis"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
})

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadserver:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if addr := os.Getenv("LATCH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
	if err := serve("bare", ok, ""); err != nil {
		return err
	}
	// The bare handler again, sent a session cookie of the same size as
	// latch's, which a signed-in browser sends whether or not the site
	// reads it.
	if err := serve("bare-cookie", ok, "latch_session="+strings.Repeat("x", 43)); err != nil {
		return err
	}
	if err := serveScs("scs-gob", scs.GobCodec{}, 2*time.Hour); err != nil {
		return err
	}
	// scs's own middleware at its cheapest: latch's codec and no idle
	// timeout, so nothing is written back. It shows what scs itself costs.
	if err := serveScs("scs-floor", latch.Codec{}, 0); err != nil {
		return err
	}
	if err := serveLatch("latch-memory", nil); err != nil {
		return err
	}
	if u := os.Getenv("LATCH_REDIS_URL"); u != "" {
		rs, err := redis.New(ctx, redis.Options{URL: u, KeyPrefix: "latch-load:"})
		if err != nil {
			return err
		}
		if err := serveLatch("latch-redis", rs.Sessions()); err != nil {
			return err
		}
	}
	fmt.Println("READY")
	<-ctx.Done()
	return nil
}

// serve starts h on a free loopback port and prints its line.
func serve(name string, h http.Handler, cookie string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, h)
	fmt.Printf("%s http://%s/dashboard %s\n", name, ln.Addr(), cookie)
	return nil
}

func serveScs(name string, codec scs.Codec, idle time.Duration) error {
	sm := scs.New()
	sm.Codec = codec
	sm.IdleTimeout = idle
	ctx, _ := sm.Load(context.Background(), "")
	sm.Put(ctx, "user", "+8613800138000")
	token, _, err := sm.Commit(ctx)
	if err != nil {
		return err
	}
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user") == "" {
			http.Error(w, "no user", http.StatusUnauthorized)
			return
		}
		ok.ServeHTTP(w, r)
	}))
	return serve(name, h, "session="+token)
}

// codeCatcher is a Sender that keeps the last code, so the load server can
// sign itself in.
type codeCatcher struct {
	mu   sync.Mutex
	code string
}

func (c *codeCatcher) Send(ctx context.Context, m otp.Message) error {
	c.mu.Lock()
	c.code = m.Code
	c.mu.Unlock()
	return nil
}

func serveLatch(name string, sessions scs.Store) error {
	catcher := &codeCatcher{}
	codes, err := otp.New(otp.Config{Sender: catcher, Key: make([]byte, 32), DefaultRegion: "CN",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	auth, err := latch.New(context.Background(), latch.Config{
		BaseURL:      base,
		Phone:        &latch.PhoneConfig{Codes: codes},
		SessionStore: sessions,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	// The same handler as the bare variant, with nothing but latch in
	// front of it: Wrap serves latch's routes and passes the rest on.
	go http.Serve(ln, auth.Wrap(auth.RequireAuth(ok)))

	cookie, err := signIn(base, catcher)
	if err != nil {
		return fmt.Errorf("%s: signing in: %w", name, err)
	}
	fmt.Printf("%s %s/dashboard %s\n", name, base, cookie)
	return nil
}

var flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)

// signIn signs in through the phone pages and returns the session cookie.
func signIn(base string, catcher *codeCatcher) (string, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(form url.Values) (string, error) {
		resp, err := client.PostForm(base+"/sign-in/phone", form)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	page, err := post(url.Values{"action": {"send"}, "phone": {"13800138000"}, "country": {"CN"}})
	if err != nil {
		return "", err
	}
	m := flowField.FindStringSubmatch(page)
	if m == nil {
		return "", errors.New("no code form after sending the number")
	}
	catcher.mu.Lock()
	code := catcher.code
	catcher.mu.Unlock()
	if _, err := post(url.Values{"action": {"verify"}, "flow": {m[1]}, "code": {code}}); err != nil {
		return "", err
	}
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "latch") || strings.HasPrefix(c.Name, "__Host-latch") {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", errors.New("no session cookie after sign-in")
}
