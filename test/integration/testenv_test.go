//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
)

// TestIntegrationHelpers checks the helpers' own logic; it needs no running environment.
func TestIntegrationHelpers(t *testing.T) {
	t.Run("env file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "env")
		content := "# comment\n" +
			"export KAFKA_BROKERS=127.0.0.1:1234\n" +
			"export SCHEMA_REGISTRY_URL=http://127.0.0.1:5678/apis/ccompat/v7\n" +
			"export PERSONIO_CDC_VERIFIER=\"/venv/bin/python /repo/scripts/verify_consumer.py\"\n" +
			"\n" +
			"PLAIN=a=b\n"
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readEnvFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"KAFKA_BROKERS":         "127.0.0.1:1234",
			"SCHEMA_REGISTRY_URL":   "http://127.0.0.1:5678/apis/ccompat/v7",
			"PERSONIO_CDC_VERIFIER": "/venv/bin/python /repo/scripts/verify_consumer.py",
			"PLAIN":                 "a=b",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("readEnvFile = %v, want %v", got, want)
		}
	})

	t.Run("unique topic", func(t *testing.T) {
		valid := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
		a, b := UniqueTopic(t, "persons/ü x"), UniqueTopic(t, "persons/ü x")
		for _, name := range []string{a, b} {
			if !valid.MatchString(name) {
				t.Errorf("UniqueTopic = %q: not a valid Kafka topic name", name)
			}
		}
		if a == b {
			t.Errorf("UniqueTopic returned %q twice", a)
		}
	})
}
