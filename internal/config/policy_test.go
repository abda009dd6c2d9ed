package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestFieldPolicySettings(t *testing.T) {
	base := readEnv(t, "testdata/good/minimal.env")
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return base(k)
		}
	}
	t.Run("good", func(t *testing.T) {
		c, err := Load(nil, env("FIELD_POLICY_FILE", "testdata/policy/payroll.yaml",
			"FIELD_POLICY_HASH_KEY_FILE", "testdata/secrets/policy_hash_key"))
		if err != nil {
			t.Fatal(err)
		}
		p := c.Sync.FieldPolicy
		if !p.Active() || p.Fingerprint() == "" {
			t.Fatalf("policy not loaded: %v", p)
		}
		const key = "fixture-policy-hash-key-0123456789"
		if c.Sync.FieldPolicyHashKey.Value() != key {
			t.Errorf("hash key not read from its file")
		}
		js, _ := json.Marshal(c)
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", c, "policy", p)
		for what, text := range map[string]string{"json": string(js), "string": c.String(), "log": logs.String()} {
			if strings.Contains(text, key) {
				t.Errorf("%s shows the hash key", what)
			}
			for _, want := range []string{p.Fingerprint(), "custom_attributes.dynamic_1207"} {
				if what != "string" && !strings.Contains(text, want) {
					t.Errorf("%s does not show %q: %s", what, want, text)
				}
			}
		}
	})
	t.Run("no policy", func(t *testing.T) {
		c, err := Load(nil, env())
		if err != nil || c.Sync.FieldPolicy != nil {
			t.Fatalf("err %v, policy %v", err, c.Sync.FieldPolicy)
		}
	})
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unknown field", []string{"FIELD_POLICY_FILE", "testdata/policy/unknown-field.yaml", "FIELD_POLICY_HASH_KEY_FILE", "testdata/secrets/policy_hash_key"},
			"FIELD_POLICY_FILE: persons.emial: no such field"},
		{"unknown compensation field first", []string{"FIELD_POLICY_FILE", "testdata/policy/hash-date.yaml", "FIELD_POLICY_HASH_KEY_FILE", "testdata/secrets/policy_hash_key"},
			"FIELD_POLICY_FILE: compensations.effective_from_date: no such field"},
		{"hash without key", []string{"FIELD_POLICY_FILE", "testdata/policy/payroll.yaml"},
			"FIELD_POLICY_FILE: the policy hashes fields but the hash key is missing or shorter than 16 bytes (set FIELD_POLICY_HASH_KEY or FIELD_POLICY_HASH_KEY_FILE)"},
		{"missing file", []string{"FIELD_POLICY_FILE", "testdata/policy/none.yaml"},
			"FIELD_POLICY_FILE: the file it names cannot be read: not found"},
		{"unreadable key", []string{"FIELD_POLICY_FILE", "testdata/policy/payroll.yaml", "FIELD_POLICY_HASH_KEY_FILE", "testdata/secrets/nope"},
			"FIELD_POLICY_HASH_KEY_FILE: the file it names cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(nil, env(tc.env...))
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
				t.Fatalf("got %v, want one problem", err)
			}
			if !strings.Contains(cerr.Problems[0].Message, tc.want) {
				t.Errorf("problem %q, want %q", cerr.Problems[0].Message, tc.want)
			}
		})
	}
}
