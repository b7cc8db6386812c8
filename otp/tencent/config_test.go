package tencent_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/latchkit/latch/otp/tencent"
)

const validJSON = `{
  "accessKeyId": "AKIDexample000000000000000000000000",
  "accessKeySecret": "example-secret",
  "signName": "腾讯云",
  "region": "ap-guangzhou",
  "sdkAppId": "1400006666",
  "templates": [
    {"usageType": "SignIn", "templateCode": "1110"},
    {"usageType": "Register", "templateCode": "1111"},
    {"usageType": "ForgotPassword", "templateCode": "1112"},
    {"usageType": "Generic", "templateCode": "1113"},
    {"usageType": "MfaVerification", "templateCode": "1114"}
  ]
}`

func TestParseConfigValid(t *testing.T) {
	for name, input := range map[string]string{
		"plain":              validJSON,
		"BOM and whitespace": "\ufeff\n  " + validJSON + "\r\n\t",
		"unknown fields":     strings.Replace(validJSON, `"region"`, `"note": {"a": 1}, "region"`, 1),
	} {
		cfg, err := tencent.ParseConfig([]byte(input))
		if err != nil {
			t.Errorf("ParseConfig(%s): %v", name, err)
			continue
		}
		if cfg.AccessKeyID != "AKIDexample000000000000000000000000" || cfg.SignName != "腾讯云" || cfg.SDKAppID != "1400006666" ||
			cfg.Region != "ap-guangzhou" || cfg.AccessKeySecret != "example-secret" || len(cfg.Templates) != 5 {
			t.Errorf("ParseConfig(%s) = %+v, want the fields of the input", name, cfg)
		}
		if cfg.Templates[0] != (tencent.Template{TemplateCode: "1110", UsageType: "SignIn"}) {
			t.Errorf("ParseConfig(%s): first template %+v", name, cfg.Templates[0])
		}
	}
}

func TestUnknownFields(t *testing.T) {
	input := strings.Replace(validJSON, `"region"`, `"note": 1, "region"`, 1)
	input = strings.Replace(input, `"templateCode": "1110"}`, `"templateCode": "1110", "lang": "en"}`, 1)
	got, err := tencent.UnknownFields([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"note", "templates[0].lang"}; !slices.Equal(got, want) {
		t.Errorf("UnknownFields = %q, want %q", got, want)
	}
	if _, err := tencent.UnknownFields([]byte("[]")); err == nil {
		t.Error("UnknownFields([]): no error, want one")
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	input := `{
	  "AccessKeyId": "AKID",
	  "accessKeySecret": 12,
	  "signName": "",
	  "region": "Guangzhou",
	  "sdkAppId": 1400006666,
	  "sdkAppId": "1400006666",
	  "templates": [
	    {"usageType": "Signin", "templateCode": "1110"},
	    {"usageType": "Generic", "templateCode": "T-1"},
	    {"usageType": "Generic", "templateCode": "1113"},
	    {"usageType": "Login", "templateCode": " 1114"},
	    {"templateCode": "1115"},
	    "SignIn"
	  ]
	}`
	_, err := tencent.ParseConfig([]byte(input))
	var ce *tencent.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, tencent.ErrInvalidConfig) {
		t.Fatalf("ParseConfig: %v, want *ConfigError", err)
	}
	want := []string{
		`accessKeyId: missing (found "AccessKeyId"; field names are case-sensitive)`,
		"accessKeySecret: must be a string, not a number",
		"sdkAppId: given 2 times",
		"templates[4].usageType: missing",
		"templates[5]: must be a JSON object, not a string",
		"signName: empty",
		`region: got "Guangzhou", want a region such as "ap-guangzhou"`,
		`templates[0].usageType: unknown usage type "Signin"`,
		`did you mean "SignIn"?`,
		`templates[1].templateCode: got "T-1", want a numeric template ID`,
		"templates[2].usageType: Generic is already used by templates[1]",
		`templates[3].templateCode: has leading or trailing whitespace`,
		`templates[3].usageType: unknown usage type "Login"`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("ParseConfig error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "12") && strings.Contains(err.Error(), "secret: got") {
		t.Errorf("ParseConfig error quotes the secret: %v", err)
	}
}

func TestParseConfigRejectsNonObjects(t *testing.T) {
	tests := []struct{ input, want string }{
		{"", "empty input"},
		{"   \ufeff ", "empty input"},
		{"[]", "must be a JSON object, not an array"},
		{`"x"`, "must be a JSON object, not a string"},
		{`{"accessKeyId": }`, "not valid JSON"},
		{`{"a":1} {"b":2}`, "not valid JSON"},
		{strings.Repeat(" ", tencent.MaxConfigSize+1), "larger than"},
		{`{"templates": {}}`, "templates: must be an array, not an object"},
		{`{"templates": null}`, "templates: must be an array, not null"},
		{`{"templates": []}`, "templates: empty"},
	}
	for _, tt := range tests {
		_, err := tencent.ParseConfig([]byte(tt.input))
		if !errors.Is(err, tencent.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%.30q): %v, want an error containing %q", tt.input, err, tt.want)
		}
	}
}

func TestValidateSecretNotQuoted(t *testing.T) {
	cfg, err := tencent.ParseConfig([]byte(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeySecret = " spaced-secret "
	err = cfg.Validate()
	if err == nil || strings.Contains(err.Error(), "spaced-secret") {
		t.Errorf("Validate(secret with spaces): %v, want an error without the secret", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Add([]byte("\ufeff" + validJSON))
	f.Add([]byte(`{"templates":[{"usageType":"SignIn","templateCode":"1"}]}`))
	f.Add([]byte(`{"accessKeyId":1,"accessKeyId":2}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"templates":[null,{},[]]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := tencent.ParseConfig(data)
		if err != nil {
			var ce *tencent.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("ParseConfig: error %v, want a *ConfigError with problems", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config that Validate rejects: %v", err)
		}
		if _, err := tencent.UnknownFields(data); err != nil {
			t.Fatalf("UnknownFields failed on input ParseConfig accepted: %v", err)
		}
	})
}
