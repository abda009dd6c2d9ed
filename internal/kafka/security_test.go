package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/personio-cdc/personio-cdc/internal/tlstest"
)

// roundTrip publishes a few keyed messages to topic t and reads them back.
func roundTrip(t *testing.T, c *Client) {
	t.Helper()
	msgs := keyedMessages("t", 20)
	for i := range msgs {
		msgs[i].Value = bytes.Repeat(fmt.Appendf(nil, "value-%d;", i), 50)
	}
	if err := c.Publish(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	if err := c.ReadToEnd(t.Context(), "t", func(r Record) error { got[string(r.Key)] = r.Value; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !bytes.Equal(got[string(m.Key)], m.Value) {
			t.Fatalf("key %s read back %q", m.Key, got[string(m.Key)])
		}
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cluster := newCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "svc", "s3cret"), kfake.SeedTopics(2, "t"))
			c, _, _ := newClient(t, cluster, func(cfg *Config) {
				cfg.SASL = SASLConfig{Mechanism: mech, Username: "svc", Password: "s3cret"}
			})
			if err := c.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			roundTrip(t, c)

			bad, _, _ := newClient(t, cluster, func(cfg *Config) {
				cfg.SASL = SASLConfig{Mechanism: mech, Username: "svc", Password: "wrong"}
			})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			// kfake closes the connection without an error code; a real broker answers error 58,
			// which Refused reports as RefusedSASL (TestRefusedOther, and the integration test
			// TestIntegrationSecure against Kafka's SCRAM-SHA-512 listener).
			if err := bad.Ping(ctx); err == nil {
				t.Fatal("Ping with a wrong password succeeded")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	caPEM, serverCfg := testCertificates(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cluster := newCluster(t, kfake.TLS(serverCfg), kfake.SeedTopics(2, "t"))
	c, _, _ := newClient(t, cluster, func(cfg *Config) {
		cfg.TLS = TLSConfig{Enabled: true, CAFile: caFile}
	})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	roundTrip(t, c)

	// Without the CA the broker certificate is not trusted.
	untrusting, _, _ := newClient(t, cluster, func(cfg *Config) { cfg.TLS = TLSConfig{Enabled: true} })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := untrusting.Ping(ctx)
	if err == nil {
		t.Fatal("Ping trusted an unknown CA")
	}
	if got := Refused(err); got != RefusedUntrusted {
		t.Errorf("Refused(%v) = %q, want %q", err, got, RefusedUntrusted)
	}
	if Retryable(err) {
		t.Errorf("Retryable(%v) = true for an untrusted certificate", err)
	}

	// A certificate for another name: 127.0.0.1's certificate checked as "broker.example".
	misnamed, _, _ := newClient(t, cluster, func(cfg *Config) {
		cfg.TLS = TLSConfig{Enabled: true, CAFile: caFile, ServerName: "broker.example"}
	})
	if err := misnamed.Ping(ctx); Refused(err) != RefusedName {
		t.Errorf("Refused(%v) = %q, want %q", err, Refused(err), RefusedName)
	}

}

// TestRefusedOther: errors that may pass are not refusals.
func TestRefusedOther(t *testing.T) {
	for _, err := range []error{nil, context.DeadlineExceeded, io.EOF, syscall.ECONNREFUSED, ErrClosed,
		fmt.Errorf("wrapped: %w", kafkago.LeaderNotAvailable)} {
		if got := Refused(err); got != "" {
			t.Errorf("Refused(%v) = %q, want \"\"", err, got)
		}
	}
	// As kafka-go reports them (kfake only closes the connection; a real broker answers, see
	// TestIntegrationSecure).
	for err, want := range map[error]string{
		fmt.Errorf("ping: %w", kafkago.SASLAuthenticationFailed):                                          RefusedSASL,
		fmt.Errorf("ping: %w", kafkago.UnsupportedSASLMechanism):                                          RefusedMechanism,
		fmt.Errorf("ping: %w", fmt.Errorf("%w: broker appears to be expecting TLS", io.ErrUnexpectedEOF)): RefusedExpectsTLS,
		fmt.Errorf("ping: %w", io.ErrUnexpectedEOF):                                                       "",
	} {
		if got := Refused(err); got != want {
			t.Errorf("Refused(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestCompression(t *testing.T) {
	for _, codec := range []string{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd} {
		t.Run(codec, func(t *testing.T) {
			cluster := newCluster(t, kfake.SeedTopics(2, "t"))
			c, _, _ := newClient(t, cluster, func(cfg *Config) { cfg.Compression = codec })
			roundTrip(t, c)
		})
	}
}

// testCertificates returns a CA certificate (PEM) and a server TLS config for 127.0.0.1
// signed by it.
func testCertificates(t *testing.T) ([]byte, *tls.Config) {
	c := tlstest.New(t)
	return c.CAPEM, c.ServerConfig()
}
