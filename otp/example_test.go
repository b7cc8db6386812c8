package otp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"time"

	"github.com/latchkit/latch/otp"
)

func Example() {
	// The console sender writes codes to a buffer instead of sending SMS.
	var out bytes.Buffer
	svc, err := otp.New(otp.Config{
		Key:           []byte("an example key of at least 32 bytes, random in production"),
		Sender:        otp.NewConsoleSender(&out),
		DefaultRegion: "CN",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	phone, err := svc.ParsePhone("138 0013 8000")
	if err != nil {
		panic(err)
	}
	fmt.Println("phone:", phone) // printed masked

	_, err = svc.Issue(ctx, otp.IssueRequest{
		Phone:    phone,
		Purpose:  otp.SignIn,
		ClientIP: netip.MustParseAddr("192.0.2.1"),
		Locale:   "zh-Hans",
	})
	if err != nil {
		panic(err)
	}
	firstLine, _ := bufio.NewReader(bytes.NewReader(out.Bytes())).ReadString('\n')
	fmt.Print(firstLine)

	// A second code within the cooldown is refused with a retry time.
	_, err = svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.SignIn, ClientIP: netip.MustParseAddr("192.0.2.1")})
	var limit *otp.LimitError
	if errors.As(err, &limit) {
		fmt.Println("refused by:", limit.Limit, "retry within a minute:", limit.RetryAfter <= time.Minute)
	}

	// Read the code back from the console output, as a developer would.
	code := regexp.MustCompile(`code (\d+)`).FindStringSubmatch(out.String())[1]

	err = svc.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: otp.SignIn, Code: code})
	fmt.Println("first verify:", err)
	err = svc.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: otp.SignIn, Code: code})
	fmt.Println("second verify:", err)
	// Output:
	// phone: +86*******8000
	// latch/otp: DEVELOPMENT SENDER, NO SMS SENT. Do not use otp.ConsoleSender in production.
	// refused by: cooldown retry within a minute: true
	// first verify: <nil>
	// second verify: otp: no pending code
}

func ExampleParsePhone() {
	for _, input := range []string{"+86 138-0013-8000", "００８６１３８００１３８０００", "+44 90 1234 5678"} {
		p, err := otp.ParsePhone(input, "CN")
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(p.E164(), p.Region(), p.Masked())
	}
	// Output:
	// +8613800138000 CN +86*******8000
	// +8613800138000 CN +86*******8000
	// error: otp: not a mobile number: premium-rate number of region GB
}

func ExampleMaskPhone() {
	fmt.Println(otp.MaskPhone("+8613800000000"))
	// Output: +86*******0000
}

func ExampleGenerateCode() {
	code, err := otp.GenerateCode(6)
	fmt.Println(len(code), err)
	// Output: 6 <nil>
}

func ExampleNewConsoleSender() {
	var out bytes.Buffer
	sender := otp.NewConsoleSender(&out)
	_ = sender.Send(context.Background(), otp.Message{Phone: "+8613800138000", Code: "123456", Purpose: otp.Register})
	fmt.Print(out.String())
	// Output:
	// latch/otp: DEVELOPMENT SENDER, NO SMS SENT. Do not use otp.ConsoleSender in production.
	// latch/otp: code 123456 for +8613800138000 (purpose Register, locale "")
}
