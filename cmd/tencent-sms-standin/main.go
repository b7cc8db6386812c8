// Command tencent-sms-standin runs, on a loopback address, the stand-in
// for the Tencent Cloud SMS API that latch's tests use, so that a site
// can try its Tencent configuration without a Tencent account and without
// sending a real message.
//
// Usage:
//
//	tencent-sms-standin [-addr 127.0.0.1:9110] [-config file]
//
// The stand-in checks each request's TC3-HMAC-SHA256 signature as Tencent
// does, and serves SendSms, DescribeSmsTemplateList and
// DescribeSmsSignList. It writes a Logto Tencent SMS connector JSON that
// matches it to the -config file, or to standard output, and prints every
// message it accepts, code included, until it is interrupted. Point a
// site at it with the connector JSON and the endpoint URL it prints:
//
//	TENCENT_SMS_CONFIG=/tmp/tencent.json TENCENT_SMS_ENDPOINT=http://127.0.0.1:9110 go run ./example
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// pollInterval is how often new messages are printed.
const pollInterval = 200 * time.Millisecond

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tencent-sms-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9110", "loopback `address` to listen on")
	config := fs.String("config", "", "`file` to write the connector JSON to; empty means standard output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "tencent-sms-standin: unexpected arguments:", strings.Join(fs.Args(), " "))
		return 2
	}

	srv, err := tencenttest.Start(tencenttest.Options{Addr: *addr})
	if err != nil {
		fmt.Fprintln(stderr, "tencent-sms-standin:", err)
		return 1
	}
	defer srv.Close()

	connector := append(srv.ConnectorJSON(), '\n')
	if *config == "" {
		stdout.Write(connector)
	} else if err := os.WriteFile(*config, connector, 0o600); err != nil {
		fmt.Fprintln(stderr, "tencent-sms-standin:", err)
		return 1
	}
	fmt.Fprintf(stdout, "tencent-sms-standin: a development stand-in; no SMS leaves this machine.\n")
	fmt.Fprintf(stdout, "tencent-sms-standin: endpoint %s, signature %q with ID %d", srv.URL, tencenttest.DefaultSignName, tencenttest.SignID)
	if *config != "" {
		fmt.Fprintf(stdout, ", connector JSON in %s", *config)
	}
	fmt.Fprintln(stdout)

	printed := 0
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		msgs := srv.Messages()
		for _, m := range msgs[printed:] {
			fmt.Fprintf(stdout, "tencent-sms-standin: SMS to %s, template %s, signature %q, parameters %q\n",
				m.Phone, m.TemplateID, m.SignName, m.Params)
		}
		printed = len(msgs)
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
	}
}
