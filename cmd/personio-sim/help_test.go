package main

import (
	"bytes"
	"strings"
	"testing"
)

// --help says which credential the simulator accepts when no flag changes it, before the flag
// list, so that a first-time user can get a token without reading the source.
func TestHelpNamesTheDefaultCredential(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stderr.String()
	head, _, _ := strings.Cut(help, "  -addr")
	for _, want := range []string{"client_id=sim-client", "client_secret=sim-secret", "POST /v2/auth/token",
		"--companies N", "client_id=company-01", "<--client-secret>-NN (sim-secret-01", "/admin/companies/company-NN/"} {
		if !strings.Contains(head, want) {
			t.Errorf("--help does not say %q before the flags:\n%s", want, help)
		}
	}
}
