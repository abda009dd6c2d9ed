package service

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
)

type pinger struct {
	err   error
	calls int
}

func (p *pinger) Ping(context.Context) error { p.calls++; return p.err }

func TestCheckAccessNamesTheSettingOfARefusal(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka.SASLMechanism, cfg.Kafka.SASLUsername = "SCRAM-SHA-512", "cdc"
	cfg.Kafka.TLSEnabled, cfg.Kafka.TLSCAFile = true, "/etc/kafka/ca.pem"
	cfg.SchemaRegistry.Username = "sr-user"
	refusedRegistry := &codec.RegistryError{Op: "ping", Status: http.StatusUnauthorized}
	for _, tc := range []struct {
		name          string
		kafka, reg    error
		setting, also string
	}{
		{"sasl", fmt.Errorf("kafka: ping: %w", kafkago.SASLAuthenticationFailed), nil, "KAFKA_SASL_PASSWORD", `user "cdc"`},
		{"untrusted", fmt.Errorf("kafka: ping: %w", x509.UnknownAuthorityError{}), nil, "KAFKA_TLS_CA_FILE", "/etc/kafka/ca.pem"},
		{"mechanism", fmt.Errorf("kafka: ping: %w", kafkago.UnsupportedSASLMechanism), nil, "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"},
		{"expects tls", fmt.Errorf("kafka: ping: %w: broker appears to be expecting TLS", io.ErrUnexpectedEOF), nil, "KAFKA_TLS_ENABLED", "expects TLS"},
		{"name", fmt.Errorf("kafka: ping: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "kafka"}), nil, "KAFKA_BROKERS", "address dialled"},
		{"registry 401", nil, refusedRegistry, "SCHEMA_REGISTRY_PASSWORD", `user "sr-user"`},
		{"registry 403", syscall.ECONNREFUSED, &codec.RegistryError{Op: "ping", Status: http.StatusForbidden}, "SCHEMA_REGISTRY_PASSWORD", "HTTP 403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAccess(t.Context(), cfg, &pinger{err: tc.kafka}, &pinger{err: tc.reg})
			var ae *AccessError
			if !errors.As(err, &ae) {
				t.Fatalf("CheckAccess = %v, want an *AccessError", err)
			}
			if ae.Setting != tc.setting || !strings.HasPrefix(err.Error(), tc.setting+": ") || !strings.Contains(err.Error(), tc.also) {
				t.Errorf("CheckAccess = %q (setting %s), want it to start with %s and say %q", err, ae.Setting, tc.setting, tc.also)
			}
		})
	}

	// Without a registry user a 401 asks for one.
	noUser := cfg
	noUser.SchemaRegistry.Username = ""
	err := CheckAccess(t.Context(), noUser, nil, &pinger{err: refusedRegistry})
	var ae *AccessError
	if !errors.As(err, &ae) || ae.Setting != "SCHEMA_REGISTRY_USERNAME" {
		t.Errorf("CheckAccess without a registry user = %v, want SCHEMA_REGISTRY_USERNAME", err)
	}
}

// A server that is down or slow is no refusal: the commands go on as before and retry or
// report it themselves.
func TestCheckAccessLetsOtherFailuresPass(t *testing.T) {
	cfg := config.Default()
	for _, tc := range []struct{ kafka, reg error }{
		{nil, nil},
		{syscall.ECONNREFUSED, &codec.RegistryError{Op: "ping", Err: syscall.ECONNREFUSED}},
		{context.DeadlineExceeded, &codec.RegistryError{Op: "ping", Status: http.StatusServiceUnavailable}},
		{fmt.Errorf("kafka: ping: %w", kafkago.LeaderNotAvailable), &codec.RegistryError{Op: "ping", Status: http.StatusNotFound}},
	} {
		k, r := &pinger{err: tc.kafka}, &pinger{err: tc.reg}
		if err := CheckAccess(t.Context(), cfg, k, r); err != nil {
			t.Errorf("CheckAccess(%v, %v) = %v, want nil", tc.kafka, tc.reg, err)
		}
		if k.calls != 1 || r.calls != 1 {
			t.Errorf("CheckAccess pinged Kafka %d and the registry %d times, want once each", k.calls, r.calls)
		}
	}
}

// Against a real HTTP server demanding basic auth, through the service's own registry client.
func TestCheckAccessRegistryBasicAuth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "cdc" || p != "right-password" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			http.Error(w, "401 Authorization Required", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_, _ = w.Write([]byte(`{"compatibilityLevel":"BACKWARD"}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"right-password", true}, {"wrong-password-never-shown", false}} {
		cfg := config.Default()
		cfg.SchemaRegistry.URL, cfg.SchemaRegistry.Username = srv.URL, "cdc"
		cfg.SchemaRegistry.Password = config.Secret(tc.password)
		reg, err := NewRegistry(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckAccess(t.Context(), cfg, nil, reg)
		if tc.ok != (err == nil) {
			t.Fatalf("password %s: CheckAccess = %v", tc.password, err)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "SCHEMA_REGISTRY_PASSWORD: ") || strings.Contains(err.Error(), tc.password)) {
			t.Errorf("CheckAccess = %q, want it to name SCHEMA_REGISTRY_PASSWORD without the password", err)
		}
	}
}
