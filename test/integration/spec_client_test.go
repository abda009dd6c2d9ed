//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// TestIntegrationSpecClient runs scripts/spec_client.py, a client written from Personio's
// published v2 specs with the Python standard library only, with the environment's Python
// against the simulator: it gets a token with the default credential, lists every person
// through next links, follows each person's _meta.links.employments.href and fetches a profile
// picture. What it read must be the simulator's truth.
func TestIntegrationSpecClient(t *testing.T) {
	envOnce.Do(func() { envVal, envErr = loadEnv() })
	if envErr != nil || len(envVal.VerifierCmd) == 0 {
		t.Fatalf("%s (no Python: %v)", missing, envErr)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 37, Seed: 12, NoRateLimit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, envVal.VerifierCmd[0], filepath.Join(root, "scripts", "spec_client.py"),
		"--base-url", sim.URL(), "--client-id", personiotest.DefaultClientID,
		"--client-secret", personiotest.DefaultClientSecret, "--limit", "10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("spec_client.py: %v\n%s", err, stderr.String())
	}

	tr := sim.Truth()
	var ids []string
	var summary struct{ Persons, Pages, EmploymentRequests int }
	pictures := 0
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("output %q: %v", sc.Text(), err)
		}
		if n, ok := line["persons"]; ok {
			summary.Persons, _ = strconv.Atoi(string(n))
			summary.Pages, _ = strconv.Atoi(string(line["pages"]))
			summary.EmploymentRequests, _ = strconv.Atoi(string(line["employment_requests"]))
			continue
		}
		var p struct {
			ID          string   `json:"id"`
			Employments []string `json:"employments"`
			Picture     *string  `json:"picture"`
		}
		_ = json.Unmarshal(sc.Bytes(), &p)
		var want []string
		for _, e := range tr.Employments[p.ID] {
			want = append(want, e.ID)
		}
		if !slices.Equal(p.Employments, want) {
			t.Errorf("person %s: the client followed the link to employments %v, want %v", p.ID, p.Employments, want)
		}
		if p.Picture != nil {
			pictures++
		}
		ids = append(ids, p.ID)
	}
	var want []string
	for _, p := range tr.Persons {
		want = append(want, p.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("the client listed %d persons %v, want the truth's %d", len(ids), ids, len(want))
	}
	if summary.Persons != 37 || summary.Pages != 4 || summary.EmploymentRequests != 37 || pictures == 0 {
		t.Errorf("summary %+v, %d pictures; want 37 persons on 4 pages, one employments request each, pictures", summary, pictures)
	}
}
