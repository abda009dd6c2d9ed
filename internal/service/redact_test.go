package service

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
)

// TestStackRedactsSecrets: a configured secret that reaches a log record or /status — a
// server echoing it in an error, an operator who also put it into a URL — is redacted there.
func TestStackRedactsSecrets(t *testing.T) {
	const (
		clientSecret = "personio-secret-4c1d"
		saslPassword = "kafka-pass-77aa"
		registryPass = "registry-pass-e9f0"
	)
	cfg := config.Default()
	cfg.Personio.Tenant = "acme"
	cfg.Personio.ClientID = "client-id"
	cfg.Personio.ClientSecret = config.Secret(clientSecret)
	cfg.Kafka.SASLMechanism = "PLAIN"
	cfg.Kafka.SASLUsername = "svc"
	cfg.Kafka.SASLPassword = config.Secret(saslPassword)
	cfg.SchemaRegistry.URL = "http://svc:" + registryPass + "@127.0.0.1:1"
	cfg.SchemaRegistry.Username = "svc"
	cfg.SchemaRegistry.Password = config.Secret(registryPass)
	cfg.Admin.Addr = "127.0.0.1:0"

	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	stack, err := Build(cfg, reg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	echoed := errors.New(`token: 401 {"error":"invalid_client","error_description":"client_secret ` + clientSecret +
		` does not match; sasl ` + saslPassword + `"}`)
	stack.Logger.Error("sync failed", "err", echoed)
	stack.Logger.With("component", "x").Warn("registry said " + registryPass)

	life, err := stack.Lifecycle(reg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := life.Admin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = life.Admin.Shutdown(t.Context()) })
	resp, err := http.Get("http://" + life.Admin.Addr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"tenants"`) {
		t.Fatalf("/status: %d %s", resp.StatusCode, body)
	}
	for where, text := range map[string]string{"log": logs.String(), "/status": string(body)} {
		for _, s := range []string{clientSecret, saslPassword, registryPass} {
			if strings.Contains(text, s) {
				t.Errorf("%s carries the secret %q:\n%s", where, s, text)
			}
		}
	}
	if !strings.Contains(logs.String(), "invalid_client") || !strings.Contains(string(body), "client-id") {
		t.Errorf("redaction removed more than the secrets:\nlog %s\n/status %s", logs.String(), body)
	}
}
