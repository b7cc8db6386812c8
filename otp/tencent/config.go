package tencent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkit/latch/otp"
)

// MaxConfigSize is the maximum size in bytes of a connector JSON accepted
// by ParseConfig, far above any real configuration.
const MaxConfigSize = 64 << 10

// Config is the configuration of Logto's Tencent SMS connector
// (packages/connectors/connector-tencent-sms in logto-io/logto). Field
// names, JSON names and types match it, so a configuration pasted from the
// Logto console parses unchanged. Logto's connector defines no defaults:
// every field is required.
type Config struct {
	// AccessKeyID is the SecretId of a Tencent Cloud API key.
	AccessKeyID string `json:"accessKeyId"`

	// AccessKeySecret is the SecretKey of the API key. String, LogValue
	// and Format never print it.
	AccessKeySecret string `json:"accessKeySecret"`

	// SignName is the approved SMS signature, such as "腾讯云", sent with
	// every message.
	SignName string `json:"signName"`

	// Region is the API region, such as "ap-guangzhou".
	Region string `json:"region"`

	// SDKAppID is the SMS application ID, such as "1400006666".
	SDKAppID string `json:"sdkAppId"`

	// Templates maps Logto usage types to template IDs.
	Templates []Template `json:"templates"`
}

// Template is one entry of Config.Templates.
type Template struct {
	// TemplateCode is the numeric ID of an approved template, such as
	// "1110". latch sends one parameter, the code, so the template must
	// contain exactly one placeholder, {1}.
	TemplateCode string `json:"templateCode"`

	// UsageType is a Logto usage type. latch uses Register, SignIn,
	// ForgotPassword and Generic, and accepts but ignores the other types
	// that Logto defines (see LogtoUsageTypes).
	UsageType string `json:"usageType"`
}

// LogtoUsageTypes returns the usage types that Logto's connector kit
// defines for SMS templates (TemplateType, plus the deprecated "Test" of
// VerificationCodeType). Config.Validate rejects any other.
func LogtoUsageTypes() []string {
	return []string{
		"SignIn", "Register", "ForgotPassword", "Generic", "OrganizationInvitation",
		"UserPermissionValidation", "BindNewIdentifier", "MfaVerification", "BindMfa", "Test",
	}
}

// ErrInvalidConfig is wrapped by every *ConfigError.
var ErrInvalidConfig = errors.New("tencent: invalid connector config")

// ConfigError lists every problem found in a connector configuration.
type ConfigError struct {
	// Problems name the field and what is wrong with it, such as
	// "sdkAppId: must be a string, not a number".
	Problems []string
}

func (e *ConfigError) Error() string {
	return ErrInvalidConfig.Error() + ": " + strings.Join(e.Problems, "; ")
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// String returns the config with the secret and most of the key ID hidden.
func (c Config) String() string {
	usages := make([]string, len(c.Templates))
	for i, t := range c.Templates {
		usages[i] = t.UsageType + ":" + t.TemplateCode
	}
	return fmt.Sprintf("tencent.Config{AccessKeyID: %s, AccessKeySecret: [hidden], SignName: %q, Region: %q, SDKAppID: %q, Templates: [%s]}",
		maskKeyID(c.AccessKeyID), c.SignName, c.Region, c.SDKAppID, strings.Join(usages, " "))
}

// Format prints String for every verb, including %#v and %+v.
func (c Config) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue returns the config for slog without the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", maskKeyID(c.AccessKeyID)),
		slog.String("sign_name", c.SignName),
		slog.String("region", c.Region),
		slog.String("sdk_app_id", c.SDKAppID),
		slog.Int("templates", len(c.Templates)),
	)
}

// maskKeyID keeps the first four characters ("AKID") and the last four.
func maskKeyID(id string) string {
	if len(id) <= 12 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// ParseConfig parses a connector configuration as pasted from the Logto
// console. Surrounding whitespace and a UTF-8 byte order mark are removed.
// Unknown fields are ignored, as Logto's own schema ignores them; use
// UnknownFields to report them. The result is validated with Validate,
// and all problems, structural or not, come back in one *ConfigError.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	members, err := parseObject(data)
	if err != nil {
		return cfg, &ConfigError{Problems: []string{err.Error()}}
	}
	var problems []string
	strField := func(name string, dst *string) {
		raw, ok, problem := members.get(name)
		switch {
		case problem != "":
			problems = append(problems, problem)
		case !ok:
			problems = append(problems, name+": missing"+members.caseHint(name))
		default:
			if p := decodeString(raw, dst); p != "" {
				problems = append(problems, name+": "+p)
			}
		}
	}
	strField("accessKeyId", &cfg.AccessKeyID)
	strField("accessKeySecret", &cfg.AccessKeySecret)
	strField("signName", &cfg.SignName)
	strField("region", &cfg.Region)
	strField("sdkAppId", &cfg.SDKAppID)

	raw, ok, problem := members.get("templates")
	switch {
	case problem != "":
		problems = append(problems, problem)
	case !ok:
		problems = append(problems, "templates: missing"+members.caseHint("templates"))
	default:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || items == nil {
			problems = append(problems, "templates: must be an array, not "+jsonKind(raw))
			break
		}
		cfg.Templates = make([]Template, len(items))
		for i, item := range items {
			name := fmt.Sprintf("templates[%d]", i)
			tm, err := parseObjectValue(item)
			if err != nil {
				problems = append(problems, name+": "+err.Error())
				continue
			}
			for _, f := range []struct {
				key string
				dst *string
			}{{"templateCode", &cfg.Templates[i].TemplateCode}, {"usageType", &cfg.Templates[i].UsageType}} {
				raw, ok, problem := tm.get(f.key)
				switch {
				case problem != "":
					problems = append(problems, name+"."+problem)
				case !ok:
					problems = append(problems, name+"."+f.key+": missing"+tm.caseHint(f.key))
				default:
					if p := decodeString(raw, f.dst); p != "" {
						problems = append(problems, name+"."+f.key+": "+p)
					}
				}
			}
		}
	}

	// Validate the fields that parsed, so that one pass reports everything.
	if err := cfg.validate(problems); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// UnknownFields returns the top-level and template fields of a connector
// JSON that ParseConfig ignores, such as "templates[0].note". It returns
// an error only for input that is not a JSON object.
func UnknownFields(data []byte) ([]string, error) {
	members, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	known := []string{"accessKeyId", "accessKeySecret", "signName", "region", "sdkAppId", "templates"}
	var unknown []string
	for _, m := range members {
		if !slices.Contains(known, m.key) {
			unknown = append(unknown, m.key)
		}
	}
	if raw, ok, _ := members.get("templates"); ok {
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for i, item := range items {
				tm, err := parseObjectValue(item)
				if err != nil {
					continue
				}
				for _, m := range tm {
					if m.key != "templateCode" && m.key != "usageType" {
						unknown = append(unknown, fmt.Sprintf("templates[%d].%s", i, m.key))
					}
				}
			}
		}
	}
	return unknown, nil
}

// Validate checks the values of c and returns a *ConfigError naming every
// problem: empty or untrimmed values, an SDK app ID or template code that
// is not numeric, a malformed region, and unknown or duplicated usage
// types. Whether each enabled purpose has a template is checked by New.
func (c Config) Validate() error {
	return c.validate(nil)
}

var (
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
	regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
)

func (c Config) validate(problems []string) error {
	check := func(name, value string, pattern *regexp.Regexp, want string) {
		switch {
		case value == "":
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, name+":") }) {
				problems = append(problems, name+": empty")
			}
		case strings.TrimSpace(value) != value:
			problems = append(problems, name+": has leading or trailing whitespace")
		case pattern != nil && !pattern.MatchString(value):
			problems = append(problems, fmt.Sprintf("%s: %s, want %s", name, describeValue(name, value), want))
		}
	}
	check("accessKeyId", c.AccessKeyID, nil, "")
	check("accessKeySecret", c.AccessKeySecret, nil, "")
	check("signName", c.SignName, nil, "")
	check("region", c.Region, regionRE, `a region such as "ap-guangzhou"`)
	check("sdkAppId", c.SDKAppID, digitsRE, `digits such as "1400006666"`)

	if len(c.Templates) == 0 && !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, "templates") }) {
		problems = append(problems, "templates: empty; add at least a Generic template")
	}
	seen := map[string]int{}
	for i, t := range c.Templates {
		name := fmt.Sprintf("templates[%d]", i)
		check(name+".templateCode", t.TemplateCode, digitsRE, `a numeric template ID such as "1110"`)
		if t.UsageType == "" {
			check(name+".usageType", t.UsageType, nil, "")
			continue
		}
		if !slices.Contains(LogtoUsageTypes(), t.UsageType) {
			hint := ""
			for _, u := range LogtoUsageTypes() {
				if strings.EqualFold(u, strings.TrimSpace(t.UsageType)) {
					hint = fmt.Sprintf("; did you mean %q?", u)
				}
			}
			problems = append(problems, fmt.Sprintf("%s.usageType: unknown usage type %q, want a Logto usage type such as Register, SignIn, ForgotPassword or Generic%s",
				name, t.UsageType, hint))
			continue
		}
		if j, dup := seen[t.UsageType]; dup {
			problems = append(problems, fmt.Sprintf("%s.usageType: %s is already used by templates[%d]", name, t.UsageType, j))
			continue
		}
		seen[t.UsageType] = i
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}

// describeValue quotes a value in a problem, except a secret.
func describeValue(name, value string) string {
	if strings.Contains(strings.ToLower(name), "secret") {
		return "invalid value"
	}
	if len(value) > 40 {
		value = value[:40] + "..."
	}
	return "got " + strconv.Quote(value)
}

// templateFor returns the template code for purpose: its own usage type's
// template, or else Generic's.
func (c Config) templateFor(p otp.Purpose) (code, usage string, ok bool) {
	var generic string
	for _, t := range c.Templates {
		if t.UsageType == string(p) {
			return t.TemplateCode, t.UsageType, true
		}
		if t.UsageType == string(otp.Generic) {
			generic = t.TemplateCode
		}
	}
	if generic != "" {
		return generic, string(otp.Generic), true
	}
	return "", "", false
}

// member is one name and value of a JSON object, in input order.
type member struct {
	key   string
	value json.RawMessage
}

type members []member

// get returns the value of key; problem is set when key occurs twice.
func (ms members) get(key string) (value json.RawMessage, ok bool, problem string) {
	n := 0
	for _, m := range ms {
		if m.key == key {
			if n == 0 {
				value = m.value
			}
			n++
		}
	}
	if n > 1 {
		return nil, false, fmt.Sprintf("%s: given %d times", key, n)
	}
	return value, n == 1, ""
}

// caseHint names a member that differs from key only in case, for the
// message about key being missing.
func (ms members) caseHint(key string) string {
	for _, m := range ms {
		if m.key != key && strings.EqualFold(m.key, key) {
			return fmt.Sprintf(" (found %q; field names are case-sensitive)", m.key)
		}
	}
	return ""
}

// parseObject strips whitespace and a BOM and parses a top-level object.
func parseObject(data []byte) (members, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxConfigSize)
	}
	data = bytes.TrimPrefix(bytes.TrimSpace(data), []byte("\xef\xbb\xbf"))
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty input, want the connector JSON object")
	}
	return parseObjectValue(data)
}

// parseObjectValue parses one JSON object into its members, keeping
// duplicates so that they can be reported.
func parseObjectValue(data []byte) (members, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("must be a JSON object, not %s", jsonKind(data))
	}
	var ms members
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		ms = append(ms, member{key: key, value: value})
	}
	return ms, nil
}

// decodeString decodes a JSON string into dst or returns a problem.
func decodeString(raw json.RawMessage, dst *string) string {
	if err := json.Unmarshal(raw, dst); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "must be a string, not " + jsonKind(raw)
	}
	return ""
}

// jsonKind names the JSON type of raw, for problems.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
