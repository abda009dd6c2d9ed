package config

import (
	"net/url"
	"strings"
	"time"
)

// Webhook is the receiver of Personio's webhooks (off while Addr is empty) and what
// `personio-cdc webhooks register` subscribes.
type Webhook struct {
	// Addr is the receiver's own listener (host:port); empty turns the receiver off.
	Addr string
	// Path is the base path of the deliveries: tenant T's arrive on <Path>/T (and on Path
	// while one tenant is configured; see webhook.Router).
	Path string
	// Token is what Personio sends verbatim in the Authorization header of every delivery
	// (auth type TOKEN); the receiver refuses any other value.
	Token Secret
	// TLSCertFile and TLSKeyFile make the listener serve HTTPS itself; without them it serves
	// plain HTTP for a TLS-terminating reverse proxy (Personio delivers to https:// only).
	TLSCertFile string
	TLSKeyFile  string
	// QueueSize bounds how many persons may wait for a targeted fetch; a delivery that finds
	// the queue full is answered 503, and Personio retries it.
	QueueSize int
	// URL is the public https:// URL Personio delivers to (register only).
	URL string
	// PerTenant is set for a tenant of TENANTS_FILE (LoadTenants): its deliveries arrive on
	// <Path>/<tenant> and its URL is <URL>/<tenant> (TenantURL). A process of one tenant of
	// the PERSONIO_* settings keeps <Path> and <URL>.
	PerTenant bool
}

// TenantURL returns the URL Personio delivers tenant's events to: URL itself for a tenant of
// the PERSONIO_* settings or a URL that already ends in /<tenant>, else URL with /<tenant>
// appended to its path. Empty while URL is.
func (w Webhook) TenantURL(tenant string) string {
	if !w.PerTenant || w.URL == "" || tenant == "" {
		return w.URL
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return w.URL
	}
	if strings.HasSuffix(u.Path, "/"+tenant) {
		return w.URL
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/" + tenant
	u.RawPath = ""
	return u.String()
}

// MinWebhookTokenLength is the shortest WEBHOOK_TOKEN accepted: it is the only proof that a
// delivery comes from Personio.
const MinWebhookTokenLength = 16

// Defaults of the webhook settings.
const (
	DefaultWebhookPath      = "/webhooks/personio"
	DefaultWebhookQueueSize = 10000
	maxWebhookQueueSize     = 1000000
)

func webhookSettings() []setting {
	var out []setting
	add := func(st setting) { out = append(out, st) }
	{
		set, get := str(func(c *Config) *string { return &c.Webhook.Addr })
		add(def("WEBHOOK_ADDR", "webhook-addr", "", "listen address of the webhook receiver (host:port); empty turns it off", GroupWebhook, set, get).withKind("host:port"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Webhook.Path })
		add(def("WEBHOOK_PATH", "webhook-path", DefaultWebhookPath, "path of the deliveries: tenant T's is <WEBHOOK_PATH>/T (the bare path too while one tenant is configured)", GroupWebhook, set, get).withKind("path"))
	}
	{
		set, get := secret(func(c *Config) *Secret { return &c.Webhook.Token })
		add(sec("WEBHOOK_TOKEN", "token Personio sends in the Authorization header of each delivery (at least 16 characters)", GroupWebhook, set, get))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Webhook.TLSCertFile })
		add(def("WEBHOOK_TLS_CERT_FILE", "webhook-tls-cert-file", "", "PEM certificate: the receiver serves HTTPS itself (else plain HTTP behind a TLS proxy)", GroupWebhook, set, get).withKind("path"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Webhook.TLSKeyFile })
		add(def("WEBHOOK_TLS_KEY_FILE", "webhook-tls-key-file", "", "PEM private key of WEBHOOK_TLS_CERT_FILE", GroupWebhook, set, get).withKind("path"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Webhook.QueueSize })
		add(def("WEBHOOK_QUEUE_SIZE", "webhook-queue-size", "10000", "persons that may wait for a targeted fetch; beyond, deliveries get 503 and Personio retries", GroupWebhook, set, get).withKind("int"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Webhook.URL })
		add(def("WEBHOOK_URL", "webhook-url", "", "public https:// URL Personio delivers to (webhooks register)", GroupWebhook, set, get).withKind("url"))
	}
	return out
}

// webhookProblems checks the receiver's settings: a listener needs a token, a path, both TLS
// files or neither and a queue.
func (c Config) webhookProblems(bad func(string, string, ...any)) {
	w := c.Webhook
	if !strings.HasPrefix(w.Path, "/") || strings.ContainsAny(w.Path, "?# ") {
		bad("WEBHOOK_PATH", "%q must be a path starting with / (no query, fragment or space)", w.Path)
	}
	if w.QueueSize < 1 || w.QueueSize > maxWebhookQueueSize {
		bad("WEBHOOK_QUEUE_SIZE", "must be between 1 and %d", maxWebhookQueueSize)
	}
	if (w.TLSCertFile == "") != (w.TLSKeyFile == "") {
		bad("WEBHOOK_TLS_CERT_FILE", "and WEBHOOK_TLS_KEY_FILE go together")
	}
	checkControl(bad, "WEBHOOK_TLS_CERT_FILE", w.TLSCertFile)
	checkControl(bad, "WEBHOOK_TLS_KEY_FILE", w.TLSKeyFile)
	if w.Token.IsSet() {
		if len(w.Token.Value()) < MinWebhookTokenLength {
			bad("WEBHOOK_TOKEN", "must be at least %d characters", MinWebhookTokenLength)
		}
		if strings.ContainsAny(w.Token.Value(), "\r\n") {
			bad("WEBHOOK_TOKEN", "must be one line (a header value)")
		}
	}
	if w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			bad("WEBHOOK_URL", "must be an https:// URL (Personio delivers to HTTPS only)")
		}
	}
	if w.Addr == "" {
		if w.TLSCertFile != "" {
			bad("WEBHOOK_TLS_CERT_FILE", "is set but WEBHOOK_ADDR is empty (the receiver is off)")
		}
		return
	}
	if !validHostPort(w.Addr, true) {
		bad("WEBHOOK_ADDR", "%q is not host:port (e.g. :8443)", w.Addr)
	} else if w.Addr == c.Admin.Addr {
		bad("WEBHOOK_ADDR", "must differ from ADMIN_ADDR: the receiver has a listener of its own")
	}
	if !w.Token.IsSet() {
		bad("WEBHOOK_TOKEN", "is required when WEBHOOK_ADDR is set (or WEBHOOK_TOKEN_FILE)")
	}
}

// WebhookAnswerWithin is how long Personio waits for a delivery's 2xx.
const WebhookAnswerWithin = 3 * time.Second
