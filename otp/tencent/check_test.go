package tencent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
	"github.com/latchkit/latch/otp/tencent/tencenttest"
)

func TestCheckTemplatesAllApproved(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	statuses, err := s.CheckTemplates(context.Background())
	if err != nil {
		t.Fatalf("CheckTemplates: %v", err)
	}
	if len(statuses) != 4 {
		t.Fatalf("CheckTemplates returned %d statuses, want 4", len(statuses))
	}
	for _, st := range statuses {
		if !st.OK() || !st.Found || st.Content != "Your code is {1}." {
			t.Errorf("status %+v, want found, approved, no problems", st)
		}
		if len(st.Purposes) != 1 || string(st.Purposes[0]) != st.UsageType {
			t.Errorf("status of %s: purposes %v, want [%s]", st.UsageType, st.Purposes, st.UsageType)
		}
	}
}

func TestCheckTemplatesFindsProblems(t *testing.T) {
	srv := newServer(t)
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateSignIn, Content: "Code {1}, valid {2} minutes", Status: tencenttest.StatusApproved, UsageType: "SignIn"})
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateRegister, Content: "Code {1}", Status: tencenttest.StatusRejected, ReviewReply: "missing company name", UsageType: "Register"})
	srv.AddTemplate(tencenttest.Template{ID: tencenttest.TemplateForgotPassword, Content: "Code {2}", Status: tencenttest.StatusReview, UsageType: "ForgotPassword"})
	srv.AddTemplate(tencenttest.Template{ID: 100005, Content: "Your code: {1}", Status: tencenttest.StatusApproved, International: true, UsageType: "MfaVerification"})
	s := newSender(t, srv, tencent.Options{})
	srv.RemoveTemplate(tencenttest.TemplateGeneric)

	statuses, err := s.CheckTemplates(context.Background())
	if !errors.Is(err, tencent.ErrTemplateNotUsable) {
		t.Fatalf("CheckTemplates: %v, want ErrTemplateNotUsable", err)
	}
	want := map[string][]string{
		"Register":        {`rejected in review: "missing company name"`},
		"SignIn":          {"2 placeholders ({1} {2})"},
		"ForgotPassword":  {"still under review", "placeholder is {2}"},
		"Generic":         {"not found"},
		"MfaVerification": nil,
	}
	for _, st := range statuses {
		w, ok := want[st.UsageType]
		if !ok {
			t.Errorf("unexpected status for %s", st.UsageType)
			continue
		}
		if len(w) == 0 && !st.OK() {
			t.Errorf("%s: problems %q, want none", st.UsageType, st.Problems)
		}
		joined := strings.Join(st.Problems, "; ")
		for _, p := range w {
			if !strings.Contains(joined, p) {
				t.Errorf("%s: problems %q, want one containing %q", st.UsageType, st.Problems, p)
			}
		}
		if st.UsageType == "MfaVerification" && (!st.International || len(st.Purposes) != 0) {
			t.Errorf("MfaVerification: international %v, purposes %v; want true and none", st.International, st.Purposes)
		}
	}
	if n := srv.Requests("DescribeSmsTemplateList"); n != 2 {
		t.Errorf("DescribeSmsTemplateList requests: %d, want 2 (domestic, then international)", n)
	}
}

func TestCheckTemplatesAPIError(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	srv.SetFault(tencenttest.Fault{Kind: tencenttest.FaultError, Code: "FailedOperation.NotEnterpriseCertification", Message: "individual"})
	_, err := s.CheckTemplates(context.Background())
	var ae *tencent.APIError
	if !errors.As(err, &ae) || ae.Action != "DescribeSmsTemplateList" || ae.Code != "FailedOperation.NotEnterpriseCertification" {
		t.Fatalf("CheckTemplates: %v, want *APIError for DescribeSmsTemplateList", err)
	}
	if !strings.Contains(ae.Hint(), "individual identity verification") {
		t.Errorf("Hint() = %q, want advice for individual accounts", ae.Hint())
	}
}

func TestCheckSignature(t *testing.T) {
	srv := newServer(t)
	srv.AddSign(tencenttest.Sign{ID: 42, Name: "Other", Status: tencenttest.StatusReview})
	srv.AddSign(tencenttest.Sign{ID: 43, Name: tencenttest.DefaultSignName, Status: tencenttest.StatusApproved, International: true})
	s := newSender(t, srv, tencent.Options{})
	ctx := context.Background()

	if st, err := s.CheckSignature(ctx, tencenttest.SignID); err != nil || !st.OK() || st.Name != tencenttest.DefaultSignName {
		t.Errorf("CheckSignature(%d) = %+v, %v; want approved %s", tencenttest.SignID, st, err, tencenttest.DefaultSignName)
	}
	if st, err := s.CheckSignature(ctx, 43); err != nil || !st.International {
		t.Errorf("CheckSignature(43) = %+v, %v; want an approved international signature", st, err)
	}
	st, err := s.CheckSignature(ctx, 42)
	if !errors.Is(err, tencent.ErrSignatureNotUsable) {
		t.Fatalf("CheckSignature(42): %v, want ErrSignatureNotUsable", err)
	}
	joined := strings.Join(st.Problems, "; ")
	for _, want := range []string{"under review", fmt.Sprintf(`named "Other", but signName is %q`, tencenttest.DefaultSignName)} {
		if !strings.Contains(joined, want) {
			t.Errorf("CheckSignature(42): problems %q, want %q", st.Problems, want)
		}
	}
	if st, err := s.CheckSignature(ctx, 777); err == nil || st.Found {
		t.Errorf("CheckSignature(777) = %+v, %v; want not found", st, err)
	}
}

func TestTemplateForAllPurposes(t *testing.T) {
	srv := newServer(t)
	s := newSender(t, srv, tencent.Options{})
	for _, p := range otp.Purposes() {
		if id, ok := s.TemplateFor(p); !ok || id == "" {
			t.Errorf("TemplateFor(%s) = %q, %v; want a template", p, id, ok)
		}
	}
}
