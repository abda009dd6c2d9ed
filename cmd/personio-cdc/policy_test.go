package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFieldPolicyCommand: a policy naming an unknown field exits 2 naming the setting and the
// field; a good one is announced at start-up with its fingerprint and field names (never the
// key), updates each person it changes once, and a second sync publishes nothing.
func TestFieldPolicyCommand(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const key = "policy-hash-key-not-to-be-printed-42"
	keyFile := write("key", key+"\n")
	bad := write("bad.yaml", "persons:\n  emial: hash\n")
	code, _, errOut := invoke(t.Context(), w.with("FIELD_POLICY_FILE", bad, "FIELD_POLICY_HASH_KEY_FILE", keyFile), "sync")
	if code != exitConfig || !strings.Contains(errOut, "FIELD_POLICY_FILE: persons.emial: no such field") {
		t.Errorf("bad policy: exit %d, want %d naming the setting and the field\n%s", code, exitConfig, errOut)
	}

	if code, out, errOut := invoke(t.Context(), w.env, "sync"); code != exitOK {
		t.Fatalf("sync without a policy: exit %d\n%s\n%s", code, out, errOut)
	}
	good := write("payroll.yaml", "persons:\n  email: hash\n  custom_attributes.dynamic_1207: drop\n")
	env := w.with("FIELD_POLICY_FILE", good, "FIELD_POLICY_HASH_KEY_FILE", keyFile)
	code, out, errOut := invoke(t.Context(), env, "sync", "--output", "json")
	if code != exitOK || !strings.Contains(out, `"u": `+fmt.Sprint(testPersons)) {
		t.Errorf("sync with the policy: exit %d, want one update per person\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"field policy", `"fingerprint":`, "custom_attributes.dynamic_1207", `"hash.persons":"email"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("start-up log lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, key) || strings.Contains(out, key) {
		t.Errorf("the hash key is printed")
	}
	code, out, errOut = invoke(t.Context(), env, "sync", "--output", "json")
	if code != exitOK || strings.Contains(out, `"u": `) {
		t.Errorf("second sync with the same policy: exit %d, want no changes\n%s\n%s", code, out, errOut)
	}
}
