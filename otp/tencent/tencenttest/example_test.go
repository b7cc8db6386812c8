package tencenttest_test

import (
	"fmt"

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
