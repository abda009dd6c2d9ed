package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// buildSim builds personio-sim into a temporary directory.
func buildSim(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "personio-sim")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// simProc is a personio-sim process started by startSim.
type simProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	line   string // the first line it printed
}

// startSim builds and starts personio-sim on a free loopback port with args; it is killed
// when the test ends unless terminate stopped it.
func startSim(t *testing.T, args ...string) *simProc {
	t.Helper()
	bin := buildSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p := &simProc{cmd: exec.CommandContext(ctx, bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...), stderr: &bytes.Buffer{}}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	if p.line, err = bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("reading the first line: %v (stderr: %s)", err, p.stderr.String())
	}
	return p
}

// terminate sends SIGTERM and fails t unless the process exits 0.
func (p *simProc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v (stderr: %s)", err, p.stderr.String())
	}
}

func TestPrintsURLFirstAndServes(t *testing.T) {
	sim := startSim(t, "--persons", "25", "--seed", "4", "--no-rate-limit")
	line := sim.line
	base := strings.TrimSpace(line)
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") || u.Port() == "0" {
		t.Fatalf("first line %q is not the base URL", line)
	}

	resp, err := http.PostForm(base+"/v2/auth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"sim-client"}, "client_secret": {"sim-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "access_token") {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/admin/truth")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), `"created_at"`) < 25 {
		t.Fatalf("truth: %d, %d bytes", resp.StatusCode, len(body))
	}

	sim.terminate(t)
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--persons", "-3"},
		{"--p500", "2"},
		{"--no-such-flag"},
		{"extra-argument"},
		{"--hidden-fields", "email,a.b.c"},
		{"--comp-unavailable", "1.5"},
		{"--comp-rate-limit-from", "13.01.2027"},
		{"--hostile", "id-null,no-such-case"},
		{"--companies", "0"},
		{"--companies", "3", "--client-id", "x"},
		{"--credentials-dir", "/tmp/x"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", args, out.String())
		}
	}
}

func TestHiddenFieldsFlag(t *testing.T) {
	c, err := parseFlags([]string{"--hidden-fields", "email,custom_attributes.iban,amount"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.opts.HiddenFields; !slices.Equal(got, []string{"email", "custom_attributes.iban", "amount"}) {
		t.Errorf("HiddenFields = %q", got)
	}
}

func TestCompensationLimitFlags(t *testing.T) {
	c, err := parseFlags([]string{"--comp-concurrency", "-1", "--comp-work-limit", "5000", "--comp-unavailable", "0.1",
		"--comp-retry-after", "2s", "--comp-rate-limit-from", "2026-01-01"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.CompensationConcurrency != -1 || o.CompensationWorkLimit != 5000 || o.CompensationUnavailable != 0.1 ||
		o.CompensationRetryAfter != 2*time.Second || !o.CompensationRateLimitFrom.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("options = %+v", o)
	}
	d, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.opts.CompensationConcurrency != 2 || d.opts.CompensationWorkLimit != 100_000 || d.opts.CompensationRetryAfter != 30*time.Second {
		t.Errorf("defaults = %+v", d.opts)
	}
}

func TestHostileFlag(t *testing.T) {
	c, err := parseFlags([]string{"--hostile", "token-redirect,huge-name"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.opts.Hostile; !slices.Equal(got, []personiotest.Hostile{personiotest.HostileTokenRedirect, personiotest.HostileHuge}) {
		t.Errorf("Hostile = %q", got)
	}
}

// --companies 3 serves three companies of --persons each on one listener, with the documented
// credentials (the secrets also in --credentials-dir) and admin endpoints per company.
func TestCompaniesFlag(t *testing.T) {
	dir := t.TempDir()
	sim := startSim(t, "--companies", "3", "--persons", "7", "--no-rate-limit",
		"--client-secret", "s", "--credentials-dir", dir)
	base := strings.TrimSpace(sim.line)

	emails := map[string]bool{}
	for _, id := range []string{"company-01", "company-02", "company-03"} {
		secret, err := os.ReadFile(filepath.Join(dir, id+".secret"))
		if err != nil || string(secret) != "s-"+id[len("company-"):] {
			t.Fatalf("secret file of %s: %q, %v", id, secret, err)
		}
		resp, err := http.PostForm(base+"/v2/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {string(secret)}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token of %s: %d %s", id, resp.StatusCode, body)
		}
		resp, err = http.Get(base + "/admin/companies/" + id + "/truth")
		if err != nil {
			t.Fatal(err)
		}
		var tr personiotest.Truth
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(tr.Persons) != 7 {
			t.Fatalf("truth of %s: %d, %d persons, %v", id, resp.StatusCode, len(tr.Persons), err)
		}
		for _, p := range tr.Persons {
			if emails[p.Email] {
				t.Errorf("%s repeats %s of another company", id, p.Email)
			}
			emails[p.Email] = true
		}
	}
	sim.terminate(t)
}
