package tencent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	sms "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/sms/v20210111"

	"github.com/latchkit/latch/otp"
)

// ErrTemplateNotUsable is wrapped by the error of CheckTemplates when a
// configured template cannot deliver codes.
var ErrTemplateNotUsable = errors.New("tencent: template not usable")

// ErrSignatureNotUsable is wrapped by the error of CheckSignature when the
// signature cannot be used.
var ErrSignatureNotUsable = errors.New("tencent: signature not usable")

// Review statuses that Tencent reports in StatusCode.
const (
	statusApproved    = 0
	statusUnderReview = 1
	statusRejected    = -1
)

// TemplateStatus is the result of checking one configured template.
type TemplateStatus struct {
	// UsageType and TemplateCode are the configured entry.
	UsageType    string
	TemplateCode string

	// Purposes lists the enabled purposes that this sender sends with the
	// template, including those that fall back to Generic.
	Purposes []otp.Purpose

	// Found reports whether Tencent returned the template. The fields below
	// are Tencent's, and set only when Found.
	Found         bool
	International bool
	StatusCode    int64
	ReviewReply   string
	Name          string
	Content       string

	// Problems explain in plain words why the template cannot deliver
	// codes. Empty means usable.
	Problems []string
}

// OK reports whether the template has no problems.
func (t TemplateStatus) OK() bool { return len(t.Problems) == 0 }

// SignatureStatus is the result of CheckSignature.
type SignatureStatus struct {
	ID            uint64
	Found         bool
	International bool
	StatusCode    int64
	ReviewReply   string
	Name          string

	// Problems explain in plain words why the signature cannot be used.
	Problems []string
}

// OK reports whether the signature has no problems.
func (s SignatureStatus) OK() bool { return len(s.Problems) == 0 }

var placeholderRE = regexp.MustCompile(`\{\d+\}`)

// CheckTemplates looks up every configured template with Tencent's
// DescribeSmsTemplateList, first among domestic and then among
// international templates, and checks that it is approved and that its
// content has exactly one placeholder, {1}, for the code. It returns one
// status per configured template, in configuration order.
//
// The error is an *APIError when a query fails. It wraps
// ErrTemplateNotUsable when a template used by an enabled purpose has a
// problem, and then the statuses are returned too. Sites can
// call it at start-up. Tencent refuses these queries to accounts with
// individual identity verification (FailedOperation.NotEnterpriseCertification).
func (s *Sender) CheckTemplates(ctx context.Context) ([]TemplateStatus, error) {
	var ids []uint64
	for _, t := range s.cfg.Templates {
		id, err := strconv.ParseUint(t.TemplateCode, 10, 64)
		if err == nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	found := map[uint64]*sms.DescribeTemplateListStatus{}
	for _, international := range []uint64{0, 1} {
		var missing []uint64
		for _, id := range ids {
			if found[id] == nil {
				missing = append(missing, id)
			}
		}
		for chunk := range slices.Chunk(missing, 100) {
			list, err := s.describeTemplates(ctx, chunk, international)
			if err != nil {
				return nil, err
			}
			for _, st := range list {
				if st != nil && st.TemplateId != nil {
					found[*st.TemplateId] = st
				}
			}
		}
	}

	statuses := make([]TemplateStatus, len(s.cfg.Templates))
	var unusable []string
	for i, t := range s.cfg.Templates {
		st := TemplateStatus{UsageType: t.UsageType, TemplateCode: t.TemplateCode}
		for _, p := range otp.Purposes() {
			_, enabled := s.templates[p]
			if _, usage, ok := s.cfg.templateFor(p); enabled && ok && usage == t.UsageType {
				st.Purposes = append(st.Purposes, p)
			}
		}
		id, _ := strconv.ParseUint(t.TemplateCode, 10, 64)
		if d := found[id]; d != nil {
			st.Found = true
			st.International = d.International != nil && *d.International == 1
			st.StatusCode = derefInt(d.StatusCode)
			st.ReviewReply = deref(d.ReviewReply)
			st.Name = deref(d.TemplateName)
			st.Content = deref(d.TemplateContent)
		}
		st.Problems = templateProblems(st)
		if !st.OK() && len(st.Purposes) > 0 {
			unusable = append(unusable, fmt.Sprintf("%s template %s: %s", t.UsageType, t.TemplateCode, strings.Join(st.Problems, "; ")))
		}
		statuses[i] = st
	}
	if len(unusable) > 0 {
		return statuses, fmt.Errorf("%w: %s", ErrTemplateNotUsable, strings.Join(unusable, "; "))
	}
	return statuses, nil
}

func templateProblems(st TemplateStatus) []string {
	if !st.Found {
		return []string{fmt.Sprintf("not found among the account's domestic or international templates; check templateCode %s and that it belongs to the account of accessKeyId", st.TemplateCode)}
	}
	var problems []string
	switch st.StatusCode {
	case statusApproved:
	case statusUnderReview:
		problems = append(problems, "still under review; Tencent sends only approved templates")
	case statusRejected:
		problems = append(problems, "rejected in review: "+reviewReply(st.ReviewReply))
	default:
		problems = append(problems, fmt.Sprintf("review status %d, not approved", st.StatusCode))
	}
	placeholders := placeholderRE.FindAllString(st.Content, -1)
	switch {
	case len(placeholders) == 0:
		problems = append(problems, "content has no {1} placeholder for the code")
	case len(placeholders) > 1:
		problems = append(problems, fmt.Sprintf("content has %d placeholders (%s), but latch sends only the code; use a template with exactly one, {1}",
			len(placeholders), strings.Join(placeholders, " ")))
	case placeholders[0] != "{1}":
		problems = append(problems, fmt.Sprintf("content's placeholder is %s; it must be {1}", placeholders[0]))
	}
	return problems
}

func reviewReply(r string) string {
	if r == "" {
		return "no reason given"
	}
	return strconv.Quote(r)
}

// CheckSignature looks up the signature with the given ID through
// DescribeSmsSignList and checks that it is approved and named like
// Config.SignName. Tencent's API finds signatures by ID only, and the
// connector configuration has only the name, so the caller supplies the
// ID shown in the SMS console. Errors are as for CheckTemplates, wrapping
// ErrSignatureNotUsable for a problem.
func (s *Sender) CheckSignature(ctx context.Context, signID uint64) (SignatureStatus, error) {
	st := SignatureStatus{ID: signID}
	for _, international := range []uint64{0, 1} {
		list, err := s.describeSigns(ctx, signID, international)
		if err != nil {
			return st, err
		}
		for _, d := range list {
			if d == nil || d.SignId == nil || *d.SignId != signID {
				continue
			}
			st.Found = true
			st.International = d.International != nil && *d.International == 1
			st.StatusCode = derefInt(d.StatusCode)
			st.ReviewReply = deref(d.ReviewReply)
			st.Name = deref(d.SignName)
		}
		if st.Found {
			break
		}
	}
	switch {
	case !st.Found:
		st.Problems = append(st.Problems, fmt.Sprintf("signature %d not found among the account's domestic or international signatures", signID))
	default:
		switch st.StatusCode {
		case statusApproved:
		case statusUnderReview:
			st.Problems = append(st.Problems, "still under review; Tencent sends only with approved signatures")
		case statusRejected:
			st.Problems = append(st.Problems, "rejected in review: "+reviewReply(st.ReviewReply))
		default:
			st.Problems = append(st.Problems, fmt.Sprintf("review status %d, not approved", st.StatusCode))
		}
		if st.Name != s.cfg.SignName {
			st.Problems = append(st.Problems, fmt.Sprintf("named %q, but signName is %q", st.Name, s.cfg.SignName))
		}
	}
	if !st.OK() {
		return st, fmt.Errorf("%w: signature %d: %s", ErrSignatureNotUsable, signID, strings.Join(st.Problems, "; "))
	}
	return st, nil
}

func (s *Sender) describeTemplates(ctx context.Context, ids []uint64, international uint64) ([]*sms.DescribeTemplateListStatus, error) {
	req := sms.NewDescribeSmsTemplateListRequest()
	for _, id := range ids {
		req.TemplateIdSet = append(req.TemplateIdSet, &id)
	}
	req.International = &international
	var resp *sms.DescribeSmsTemplateListResponse
	f := s.call(ctx, func(c *sms.Client) error {
		var err error
		resp, err = c.DescribeSmsTemplateList(req)
		return err
	}, nil)
	if f != nil {
		f.redact("", s.cfg.AccessKeySecret, s.cfg.AccessKeyID)
		return nil, f.apiError("DescribeSmsTemplateList")
	}
	if resp.Response == nil {
		return nil, &APIError{Action: "DescribeSmsTemplateList", Reason: otp.ReasonUnavailable, Message: "response has no Response object"}
	}
	return resp.Response.DescribeTemplateStatusSet, nil
}

func (s *Sender) describeSigns(ctx context.Context, id, international uint64) ([]*sms.DescribeSignListStatus, error) {
	req := sms.NewDescribeSmsSignListRequest()
	req.SignIdSet = []*uint64{&id}
	req.International = &international
	var resp *sms.DescribeSmsSignListResponse
	f := s.call(ctx, func(c *sms.Client) error {
		var err error
		resp, err = c.DescribeSmsSignList(req)
		return err
	}, nil)
	if f != nil {
		f.redact("", s.cfg.AccessKeySecret, s.cfg.AccessKeyID)
		return nil, f.apiError("DescribeSmsSignList")
	}
	if resp.Response == nil {
		return nil, &APIError{Action: "DescribeSmsSignList", Reason: otp.ReasonUnavailable, Message: "response has no Response object"}
	}
	return resp.Response.DescribeSignListStatusSet, nil
}

func derefInt(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
