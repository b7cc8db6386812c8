package redis

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestHasHashTag(t *testing.T) {
	tests := []struct {
		prefix string
		want   bool
	}{
		{"latch:", false},
		{"{latch}:", true},
		{"site:{latch}:", true},
		{"{}:", false},      // an empty tag hashes the whole key
		{"{latch:", false},  // never closed
		{"}latch{:", false}, // closed before opened
		{"{a}{b}:", true},   // the first tag counts
		{"", false},
	}
	for _, tt := range tests {
		if got := hasHashTag(tt.prefix); got != tt.want {
			t.Errorf("hasHashTag(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
}

func TestTTLMillis(t *testing.T) {
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	grace := expiryGrace.Milliseconds()
	tests := []struct {
		until time.Time
		want  int64
	}{
		{now.Add(5 * time.Minute), 300_000 + grace},
		{now.Add(time.Microsecond), 1 + grace}, // rounded up
		{now, grace},
		{now.Add(-expiryGrace - time.Hour), 1}, // never zero or negative
	}
	for _, tt := range tests {
		if got := ttlMillis(tt.until, now); got != tt.want {
			t.Errorf("ttlMillis(now%+v) = %d, want %d", tt.until.Sub(now), got, tt.want)
		}
	}
}

// FuzzNewClient checks that no error or server description from a URL
// contains its password.
func FuzzNewClient(f *testing.F) {
	f.Add("user", "s3cret-password", "127.0.0.1:6379", "/0")
	f.Add("", "p@ss:word/with?chars", "[::1]:6380", "/15")
	f.Add("default", "secret%zz", "host:port", "/x")
	f.Add("a", "long-secret-value", "h", "/1/2")
	f.Fuzz(func(t *testing.T, user, password, host, path string) {
		if len(password) < 8 || strings.Contains(user+host+path, password) {
			return // too short to tell apart from the rest of the message
		}
		u := url.URL{Scheme: "redis", User: url.UserPassword(user, password), Host: host, Path: path}
		raw := u.String()
		escaped := strings.TrimPrefix(u.User.String(), url.User(user).String()+":")
		if strings.Contains(user+host+path, escaped) {
			return
		}
		for _, rawURL := range []string{raw, strings.Replace(raw, "redis://", "rediss://", 1), strings.Replace(raw, "redis://", "http://", 1)} {
			client, target, err := newClient(rawURL)
			if client != nil {
				client.Close()
			}
			for _, text := range []string{target, errText(err)} {
				if strings.Contains(text, password) || strings.Contains(text, escaped) {
					t.Fatalf("newClient(%q) leaks the password in %q", rawURL, text)
				}
			}
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
