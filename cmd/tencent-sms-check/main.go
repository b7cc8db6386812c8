// Command tencent-sms-check checks a Logto Tencent SMS connector
// configuration against Tencent Cloud before a site uses it, like the
// "send a test code" button of Logto's connector page.
//
// Usage:
//
//	tencent-sms-check [flags] [connector.json]
//
// It reads the connector JSON from the file, or from standard input when
// the file is omitted or "-". It validates the JSON, looks up every
// template with DescribeSmsTemplateList (approved, exactly one {1}), looks
// up the signature with DescribeSmsSignList when -sign-id is given, and
// sends one test code to -phone unless -no-send is set. It prints the
// verdict in plain words and exits with status 0 when everything is
// usable, 1 when a problem was found and 2 for wrong usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// checker accumulates the output and the number of problems.
type checker struct {
	out      io.Writer
	problems int
	// international records, for each template found, whether Tencent
	// approved it for numbers outside mainland China.
	international map[string]bool
}

func (c *checker) printf(format string, args ...any) { fmt.Fprintf(c.out, format+"\n", args...) }

func (c *checker) problem(format string, args ...any) {
	c.problems++
	c.printf("  PROBLEM: "+format, args...)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tencent-sms-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	phone := fs.String("phone", "", "phone `number` that receives the test code, such as +8613800138000")
	region := fs.String("region", "", "ISO 3166-1 `region`, such as CN, for a -phone without country calling code")
	endpoint := fs.String("endpoint", tencent.DefaultEndpoint, "API endpoint `URL`; http only for loopback hosts")
	signID := fs.Uint64("sign-id", 0, "`ID` of the signature in the SMS console, to check its review status and name")
	noSend := fs.Bool("no-send", false, "skip sending the test code")
	purpose := fs.String("purpose", string(otp.Generic), "purpose whose template sends the test code: Register, SignIn, ForgotPassword or Generic")
	timeout := fs.Duration("timeout", tencent.DefaultTimeout, "timeout of each API call")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tencent-sms-check [flags] [connector.json]\n\n"+
			"Checks a Logto Tencent SMS connector configuration, read from the file or from\n"+
			"standard input, and sends one test code.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "tencent-sms-check: give at most one connector JSON file")
		return 2
	}
	p := otp.Purpose(*purpose)
	if !p.Valid() {
		fmt.Fprintf(stderr, "tencent-sms-check: -purpose %q is not one of Register, SignIn, ForgotPassword, Generic\n", *purpose)
		return 2
	}
	var to otp.Phone
	if !*noSend {
		if *phone == "" {
			fmt.Fprintln(stderr, "tencent-sms-check: -phone is required to send the test code; use -no-send to skip sending")
			return 2
		}
		var err error
		if to, err = otp.ParsePhone(*phone, *region); err != nil {
			hint := ""
			if *region == "" {
				hint = " (write the number with + and its country calling code, or name its region with -region)"
			}
			fmt.Fprintf(stderr, "tencent-sms-check: -phone: %v%s\n", err, hint)
			return 2
		}
	}

	source := "standard input"
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "tencent-sms-check: %v\n", err)
			return 2
		}
		defer f.Close()
		in, source = f, name
	}
	data, err := io.ReadAll(io.LimitReader(in, tencent.MaxConfigSize+1))
	if err != nil {
		fmt.Fprintf(stderr, "tencent-sms-check: read %s: %v\n", source, err)
		return 2
	}

	c := &checker{out: stdout}
	sender := c.checkConfig(data, *endpoint, *timeout)
	if sender != nil {
		defer sender.CloseIdleConnections()
		c.checkTemplates(ctx, sender)
		c.checkSignature(ctx, sender, *signID)
		if *noSend {
			c.printf("Test code: not sent (-no-send).")
		} else {
			c.sendTestCode(ctx, sender, to, p)
		}
	}

	if c.problems == 0 {
		c.printf("Verdict: ready. The configuration can send codes.")
		return 0
	}
	c.printf("Verdict: %d problem(s) found. Fix them before enabling phone sign-in.", c.problems)
	return 1
}

// checkConfig parses and validates the connector JSON and returns a
// sender, or nil after printing why there is none.
func (c *checker) checkConfig(data []byte, endpoint string, timeout time.Duration) *tencent.Sender {
	cfg, err := tencent.ParseConfig(data)
	var ce *tencent.ConfigError
	if errors.As(err, &ce) {
		c.printf("Connector JSON: invalid.")
		for _, p := range ce.Problems {
			c.problem("%s", p)
		}
		return nil
	}
	c.printf("Connector JSON: valid, signature %q, region %s, app %s, %d template(s).",
		cfg.SignName, cfg.Region, cfg.SDKAppID, len(cfg.Templates))
	if unknown, _ := tencent.UnknownFields(data); len(unknown) > 0 {
		// Quoted, because a field name may hold escape sequences or line
		// breaks that would rewrite the terminal or forge a verdict.
		quoted := make([]string, len(unknown))
		for i, name := range unknown {
			quoted[i] = strconv.QuoteToASCII(name)
		}
		c.printf("  Note: ignored fields that the connector does not define: %s", strings.Join(quoted, ", "))
	}
	sender, err := tencent.New(cfg, tencent.Options{Endpoint: endpoint, Timeout: timeout})
	if err != nil {
		c.problem("%v", err)
		return nil
	}
	return sender
}

func (c *checker) checkTemplates(ctx context.Context, sender *tencent.Sender) {
	statuses, err := sender.CheckTemplates(ctx)
	var ae *tencent.APIError
	if errors.As(err, &ae) {
		c.printf("Templates: could not be looked up.")
		c.problem("%v", ae)
		if hint := ae.Hint(); hint != "" {
			c.printf("  Hint: %s.", hint)
		}
		return
	}
	c.printf("Templates:")
	c.international = map[string]bool{}
	for _, st := range statuses {
		if st.Found {
			c.international[st.TemplateCode] = st.International
		}
		use := "not used by latch"
		if len(st.Purposes) > 0 {
			names := make([]string, len(st.Purposes))
			for i, p := range st.Purposes {
				names[i] = string(p)
			}
			use = "used for " + strings.Join(names, ", ")
		}
		where := "domestic"
		if st.International {
			where = "international"
		}
		if st.OK() {
			c.printf("  %s, template %s (%s): approved %s template %q. OK.", st.UsageType, st.TemplateCode, use, where, st.Content)
			continue
		}
		c.printf("  %s, template %s (%s):", st.UsageType, st.TemplateCode, use)
		for _, p := range st.Problems {
			if len(st.Purposes) > 0 {
				c.problem("%s", p)
			} else {
				c.printf("  Note: %s (harmless, since latch does not use it).", p)
			}
		}
	}
}

func (c *checker) checkSignature(ctx context.Context, sender *tencent.Sender, id uint64) {
	if id == 0 {
		c.printf("Signature: not looked up, because Tencent's API finds signatures by ID and the connector JSON has only the name. " +
			"Pass -sign-id with the ID from the SMS console to check it; the test code below also fails if the signature is not approved.")
		return
	}
	st, err := sender.CheckSignature(ctx, id)
	var ae *tencent.APIError
	switch {
	case errors.As(err, &ae):
		c.printf("Signature: could not be looked up.")
		c.problem("%v", ae)
		if hint := ae.Hint(); hint != "" {
			c.printf("  Hint: %s.", hint)
		}
	case err != nil:
		c.printf("Signature %d:", id)
		for _, p := range st.Problems {
			c.problem("%s", p)
		}
	default:
		c.printf("Signature %d: approved, named %q. OK.", id, st.Name)
	}
}

// sendAdvice explains a send failure reason to an operator.
var sendAdvice = map[otp.SendReason]string{
	otp.ReasonInvalidNumber:       "Tencent rejected the number: check it, or it may be on a do-not-disturb list",
	otp.ReasonUnsupportedRegion:   "the account cannot send to this region; international SMS needs international templates and signatures",
	otp.ReasonRateLimited:         "Tencent's frequency limits rejected the send; wait, or raise the limits in the SMS console",
	otp.ReasonMisconfigured:       "check accessKeyId, accessKeySecret, sdkAppId, signName and the template, as the error code says",
	otp.ReasonInsufficientBalance: "the SMS package is used up or the account is in arrears; top it up in the Tencent Cloud console",
	otp.ReasonUnavailable:         "Tencent could not be reached or sent an invalid response; check the network and try again",
}

func (c *checker) sendTestCode(ctx context.Context, sender *tencent.Sender, to otp.Phone, p otp.Purpose) {
	code, err := otp.GenerateCode(tencent.MaxCodeLength)
	if err != nil {
		c.problem("generate test code: %v", err)
		return
	}
	template, _ := sender.TemplateFor(p)
	if international, found := c.international[template]; found && international != (to.Region() != "CN") {
		if international {
			c.problem("template %s is an international template, but %s is in mainland China, where Tencent sends only with domestic templates", template, to.Masked())
		} else {
			c.problem("template %s is a domestic template, but %s is outside mainland China, where Tencent sends only with international templates", template, to.Masked())
		}
	}
	err = sender.Send(ctx, otp.Message{Phone: to.E164(), Code: code, Purpose: p})
	if err == nil {
		c.printf("Test code: sent to %s with template %s (%s). Check that the phone received it.", to.Masked(), template, p)
		return
	}
	c.printf("Test code: sending to %s with template %s (%s) failed.", to.Masked(), template, p)
	c.problem("%v", err)
	var se *otp.SendError
	if errors.As(err, &se) {
		if advice := sendAdvice[se.Reason]; advice != "" {
			c.printf("  Hint: %s.", advice)
		}
		if se.Outcome == otp.OutcomeUnknown {
			c.printf("  Note: the request may have reached Tencent, so the message may still arrive.")
		}
	}
}
