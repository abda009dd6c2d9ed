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

func TestPrintsURLFirstAndServes(t *testing.T) {
	bin := buildSim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--addr", "127.0.0.1:0", "--persons", "25", "--seed", "4", "--no-rate-limit")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first line: %v (stderr: %s)", err, stderr.String())
	}
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

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v (stderr: %s)", err, stderr.String())
	}
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
	bin := buildSim(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--addr", "127.0.0.1:0", "--companies", "3", "--persons", "7", "--no-rate-limit",
		"--client-secret", "s", "--credentials-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first line: %v (stderr: %s)", err, stderr.String())
	}
	base := strings.TrimSpace(line)

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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v (stderr: %s)", err, stderr.String())
	}
}
