package tencent_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

func ExampleParseConfig() {
	cfg, err := tencent.ParseConfig([]byte(`{
	  "accessKeyId": "AKIDexample000000000000000000000000",
	  "accessKeySecret": "example-secret",
	  "signName": "Latch",
	  "region": "ap-guangzhou",
	  "sdkAppId": "1400006666",
	  "templates": [{"usageType": "Generic", "templateCode": "1110"}]
	}`))
	fmt.Println(cfg, err)

	_, err = tencent.ParseConfig([]byte(`{"accessKeyId": "", "sdkAppId": 1400006666}`))
	fmt.Println(err)
	// Output:
	// tencent.Config{AccessKeyID: AKID***************************0000, AccessKeySecret: [hidden], SignName: "Latch", Region: "ap-guangzhou", SDKAppID: "1400006666", Templates: [Generic:1110]} <nil>
	// tencent: invalid connector config: accessKeySecret: missing; signName: missing; region: missing; sdkAppId: must be a string, not a number; templates: missing; accessKeyId: empty
}

func ExampleNew() {
	// The stand-in plays Tencent on 127.0.0.1; in production, leave
	// Endpoint empty and paste the connector JSON from the Logto console.
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()

	cfg, err := tencent.ParseConfig(srv.ConnectorJSON())
	if err != nil {
		panic(err)
	}
	sender, err := tencent.New(cfg, tencent.Options{Endpoint: srv.URL})
	if err != nil {
		panic(err)
	}
	svc, err := otp.New(otp.Config{
		Key:           bytes.Repeat([]byte("k"), 32), // random in production
		Sender:        sender,
		DefaultRegion: "CN",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	phone, _ := svc.ParsePhone("13800138000")
	_, err = svc.Issue(ctx, otp.IssueRequest{Phone: phone, Purpose: otp.SignIn, ClientIP: netip.MustParseAddr("192.0.2.1")})
	fmt.Println("issued:", err)

	code, _ := srv.LastCode(phone.E164())
	err = svc.Verify(ctx, otp.VerifyRequest{Phone: phone, Purpose: otp.SignIn, Code: code})
	fmt.Println("verified:", err)
	// Output:
	// issued: <nil>
	// verified: <nil>
}

func ExampleSender_CheckTemplates() {
	srv := tencenttest.NewServer(tencenttest.Options{})
	defer srv.Close()
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateSignIn, Content: "Code {1}, valid for {2} minutes",
		Status: tencenttest.StatusApproved, UsageType: "SignIn"})

	cfg, _ := tencent.ParseConfig(srv.ConnectorJSON())
	sender, _ := tencent.New(cfg, tencent.Options{Endpoint: srv.URL})
	statuses, err := sender.CheckTemplates(context.Background())
	for _, st := range statuses {
		fmt.Println(st.UsageType, st.TemplateCode, st.OK())
	}
	fmt.Println(err)
	// Output:
	// Register 100001 true
	// SignIn 100002 false
	// ForgotPassword 100003 true
	// Generic 100004 true
	// tencent: template not usable: SignIn template 100002: content has 2 placeholders ({1} {2}), but latch sends only the code; use a template with exactly one, {1}
}
