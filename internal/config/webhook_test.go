package config

import (
	"errors"
	"strings"
	"testing"
)

func TestWebhookSettings(t *testing.T) {
	base := func() Config {
		c := Default()
		c.Personio.Tenant, c.Personio.ClientID, c.Personio.ClientSecret = "t", "id", "s"
		return c
	}
	if c := base(); c.Webhook.Addr != "" || c.Webhook.Path != DefaultWebhookPath || c.Webhook.QueueSize != DefaultWebhookQueueSize {
		t.Errorf("defaults: %+v (the receiver must be off by default)", c.Webhook)
	}
	const token = "whk-0123456789abcdef"
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		bad  []string // settings named by the problems; none means valid
	}{
		{"off", func(c *Config) {}, nil},
		{"on", func(c *Config) { c.Webhook.Addr, c.Webhook.Token = ":8443", token }, nil},
		{"on with tls", func(c *Config) {
			c.Webhook.Addr, c.Webhook.Token, c.Webhook.TLSCertFile, c.Webhook.TLSKeyFile = ":8443", token, "c.pem", "k.pem"
		}, nil},
		{"on without token", func(c *Config) { c.Webhook.Addr = ":8443" }, []string{"WEBHOOK_TOKEN"}},
		{"short token", func(c *Config) { c.Webhook.Addr, c.Webhook.Token = ":8443", "short" }, []string{"WEBHOOK_TOKEN"}},
		{"token with newline", func(c *Config) { c.Webhook.Addr, c.Webhook.Token = ":8443", token+"\r\nX: y" }, []string{"WEBHOOK_TOKEN"}},
		{"bad addr", func(c *Config) { c.Webhook.Addr, c.Webhook.Token = "8443", token }, []string{"WEBHOOK_ADDR"}},
		{"admin addr", func(c *Config) { c.Webhook.Addr, c.Webhook.Token = c.Admin.Addr, token }, []string{"WEBHOOK_ADDR"}},
		{"bad path", func(c *Config) { c.Webhook.Path = "hooks" }, []string{"WEBHOOK_PATH"}},
		{"cert without key", func(c *Config) { c.Webhook.Addr, c.Webhook.Token, c.Webhook.TLSCertFile = ":8443", token, "c.pem" }, []string{"WEBHOOK_TLS_CERT_FILE"}},
		{"queue 0", func(c *Config) { c.Webhook.QueueSize = 0 }, []string{"WEBHOOK_QUEUE_SIZE"}},
		{"http url", func(c *Config) { c.Webhook.URL = "http://x.example.com/h" }, []string{"WEBHOOK_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			var ce *Error
			if len(tc.bad) == 0 {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want problems with %v", err, tc.bad)
			}
			for _, want := range tc.bad {
				found := false
				for _, p := range ce.Problems {
					found = found || p.Setting == want
				}
				if !found {
					t.Errorf("no problem names %s: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the token is in the error: %v", err)
			}
		})
	}
}
