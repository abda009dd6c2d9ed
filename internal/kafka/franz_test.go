package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franzPing makes a kgo client from cfg.FranzOpts and asks the brokers for their metadata.
func franzPing(t *testing.T, cfg Config) error {
	t.Helper()
	opts, err := cfg.FranzOpts()
	if err != nil {
		t.Fatalf("FranzOpts: %v", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	defer cl.Close()
	return cl.Ping(t.Context())
}

// A franz-go client built from a Config reaches the brokers with the same TLS and SASL settings
// as a Client: a CA it was given, each SASL mechanism.
func TestFranzOptsReachTheBrokersAsConfigured(t *testing.T) {
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cluster := newCluster(t, kfake.EnableSASL(), kfake.Superuser(mech, "svc", "s3cret"))
			cfg := Config{Brokers: cluster.ListenAddrs(), SASL: SASLConfig{Mechanism: mech, Username: "svc", Password: "s3cret"}}
			if err := franzPing(t, cfg); err != nil {
				t.Fatalf("Ping with %s: %v", mech, err)
			}
		})
	}
	t.Run("TLS", func(t *testing.T) {
		caPEM, serverCfg := testCertificates(t)
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		cluster := newCluster(t, kfake.TLS(serverCfg))
		if err := franzPing(t, Config{Brokers: cluster.ListenAddrs(), TLS: TLSConfig{Enabled: true, CAFile: caFile}}); err != nil {
			t.Fatalf("Ping over TLS: %v", err)
		}
	})
}

func TestFranzOptsValidate(t *testing.T) {
	_, err := Config{Brokers: []string{"nohostport"}, SASL: SASLConfig{Mechanism: "GSSAPI"}}.FranzOpts()
	if err == nil {
		t.Fatal("FranzOpts accepted a bad broker address and mechanism")
	}
	for _, want := range []string{"kafka brokers", "GSSAPI"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
