package tencenttest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

func ExampleNewServer() {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()

	// Make the next sends to one number fail inside an HTTP 200 response,
	// as Tencent reports a number over its daily limit.
	srv.FailNumber("+8613800138000", "LimitExceeded.PhoneNumberDailyLimit", "daily limit reached")

	// Make every DescribeSmsTemplateList call hang until the client gives up.
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultHang, Action: "DescribeSmsTemplateList"})

	_, ok := srv.LastCode("+8613800138000")
	fmt.Println("messages:", len(srv.Messages()), "code:", ok)
	// Output: messages: 0 code: false
}

func ExampleServer_SendRequests() {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	cfg, _ := tencent.ParseConfig(srv.ConnectorJSON())
	sender, _ := tencent.New(cfg, tencent.Options{Endpoint: srv.URL, Logger: slog.New(slog.DiscardHandler)})

	// The connection breaks after the request arrived: the code may have
	// been sent, so the sender reports an unknown outcome and does not
	// try again.
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultReset})
	err := sender.Send(context.Background(), otp.Message{Phone: "+8613800138000", Code: "123456", Purpose: otp.SignIn})
	var se *otp.SendError
	if errors.As(err, &se) {
		fmt.Println("outcome:", se.Outcome)
	}
	fmt.Println("requests:", len(srv.SendRequests()), "accepted:", len(srv.Messages()))
	// Output:
	// outcome: outcome unknown
	// requests: 1 accepted: 0
}

func ExampleStart() {
	// A program that serves the stand-in at a fixed loopback address, as
	// cmd/tencent-sms-standin does, gets an error rather than a panic
	// when the address is not usable.
	if _, err := tencenttest.Start(tencenttest.Options{Addr: "0.0.0.0:9110"}); err != nil {
		fmt.Println(err)
	}
	srv, err := tencenttest.Start(tencenttest.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	fmt.Println("templates in the connector JSON:", len(mustParse(srv.ConnectorJSON()).Templates))
	// Output:
	// tencenttest: Addr "0.0.0.0:9110": the stand-in listens only on a loopback IP address, such as 127.0.0.1
	// templates in the connector JSON: 4
}

func mustParse(b []byte) tencent.Config {
	cfg, err := tencent.ParseConfig(b)
	if err != nil {
		panic(err)
	}
	return cfg
}
