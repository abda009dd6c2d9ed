package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// A TENANTS_FILE of one tenant is that tenant's configuration for the commands that serve one
// (sync here); a file of several is refused naming them, a bad one exits 2 naming the problem,
// and neither prints a secret.
func TestTenantsFile(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acme.secret"), []byte(testClientSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	file := func(doc string) map[string]string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("tenants-%d.yaml", n))
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		env := w.with("TENANTS_FILE", p)
		delete(env, "PERSONIO_TENANT")
		delete(env, "PERSONIO_CLIENT_ID")
		delete(env, "PERSONIO_CLIENT_SECRET_FILE")
		delete(env, "PERSONIO_BASE_URL")
		return env
	}
	tenant := func(name string) string {
		return fmt.Sprintf("  - name: %s\n    client_id: %s\n    client_secret_file: acme.secret\n    base_url: %s\n    entities: [persons, compensations]\n",
			name, personiotest.DefaultClientID+name, w.sim.URL())
	}
	one := strings.Replace(tenant(testTenant), personiotest.DefaultClientID+testTenant, personiotest.DefaultClientID, 1)

	code, out, errOut := invoke(t.Context(), file("tenants:\n"+one), "sync", "--output", "json")
	if code != exitOK {
		t.Fatalf("sync with a file of one tenant: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, `"entity": "employments"`) || !strings.Contains(out, `"entity": "compensations"`) {
		t.Errorf("the tenant's entities (persons, compensations) are not what the sync ran:\n%s", out)
	}
	if !strings.Contains(errOut, `"tenant":"`+testTenant+`"`) {
		t.Errorf("the logs do not name the file's tenant:\n%s", errOut)
	}
	assertNoSecrets(t, "sync output", out+errOut)

	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"several tenants", file("tenants:\n" + tenant("a") + tenant("b")), []string{"its 2 tenants (a, b) are valid, but this build serves one tenant per process"}},
		{"a bad file", file("tenants:\n" + tenant("a") + "    rate_burst: 0\n"), []string{`tenant #1 "a": rate_burst must be at least 1`}},
		{"a secret inline", file("tenants:\n" + tenant("a") + "    client_secret: " + testClientSecret + "\n"), []string{`client_secret is not allowed`}},
		{"a tenant in the environment too", w.with("TENANTS_FILE", "/nonexistent"), []string{"PERSONIO_TENANT is set, but TENANTS_FILE"}},
	}
	for _, tt := range tests {
		code, out, errOut := invoke(t.Context(), tt.env, "run")
		if code != exitConfig {
			t.Errorf("%s: exit %d, want %d\n%s", tt.name, code, exitConfig, errOut)
		}
		for _, s := range tt.want {
			if !strings.Contains(errOut, s) {
				t.Errorf("%s: stderr does not say %q:\n%s", tt.name, s, errOut)
			}
		}
		assertNoSecrets(t, tt.name, out+errOut)
	}
}
