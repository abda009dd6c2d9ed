package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func TestWebhooksCommand(t *testing.T) {
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 5, ClientSecret: testClientSecret, NoRateLimit: true})
	const token = "Bearer whk-never-printed-7c1d2e3f"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PERSONIO_BASE_URL": sim.URL(), "PERSONIO_CLIENT_ID": personiotest.DefaultClientID,
		"PERSONIO_CLIENT_SECRET": testClientSecret, "PERSONIO_TENANT": testTenant,
		"WEBHOOK_TOKEN_FILE": tokenFile,
	}
	noSecret := func(out ...string) {
		t.Helper()
		for _, o := range out {
			if strings.Contains(o, "whk-never-printed") || strings.Contains(o, testClientSecret) {
				t.Errorf("a secret was printed: %s", o)
			}
		}
	}

	code, out, errOut := invoke(t.Context(), env, "webhooks", "register", "--webhook-url", "https://cdc.example.com/webhooks/personio")
	noSecret(out, errOut)
	if code != exitOK {
		t.Fatalf("register: %d %s %s", code, out, errOut)
	}
	id := regexp.MustCompile(`registered webhook (\S+):`).FindStringSubmatch(out)
	if id == nil || !strings.Contains(out, "ENABLED") || !strings.Contains(out, "9 events") {
		t.Fatalf("register output: %s", out)
	}

	code, out, errOut = invoke(t.Context(), env, "webhooks", "list")
	noSecret(out, errOut)
	if code != exitOK || !strings.Contains(out, id[1]) || !strings.Contains(out, "TOKEN") || !strings.Contains(out, "employment.terminated") {
		t.Fatalf("list: %d %s %s", code, out, errOut)
	}

	// Registering the same URL again is refused by Personio (409): exit 1, no secret shown.
	code, out, errOut = invoke(t.Context(), env, "webhooks", "register", "--webhook-url", "https://cdc.example.com/webhooks/personio")
	noSecret(out, errOut)
	if code != exitError {
		t.Errorf("second register: %d %s %s", code, out, errOut)
	}

	if code, out, errOut = invoke(t.Context(), env, "webhooks", "delete", "--id", id[1]); code != exitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s %s", code, out, errOut)
	}
	if code, out, _ = invoke(t.Context(), env, "webhooks", "list"); code != exitOK || !strings.Contains(out, "no webhooks") {
		t.Errorf("list after delete: %d %s", code, out)
	}
}

func TestWebhooksCommandRefusesBadInput(t *testing.T) {
	env := map[string]string{"PERSONIO_CLIENT_ID": "id", "PERSONIO_CLIENT_SECRET": "s", "PERSONIO_TENANT": "t",
		"PERSONIO_BASE_URL": "http://127.0.0.1:1"}
	for name, args := range map[string][]string{
		"no subcommand":  {"webhooks"},
		"unknown":        {"webhooks", "purge"},
		"no url":         {"webhooks", "register"},
		"no token":       {"webhooks", "register", "--webhook-url", "https://x.example.com/h"},
		"http url":       {"webhooks", "register", "--webhook-url", "http://x.example.com/h"},
		"delete no id":   {"webhooks", "delete"},
		"stray argument": {"webhooks", "list", "extra"},
	} {
		if code, out, errOut := invoke(t.Context(), env, args...); code != exitConfig {
			t.Errorf("%s: exit %d, want %d: %s %s", name, code, exitConfig, out, errOut)
		}
	}
}

// `webhooks register --file-tenant` subscribes a tenant of TENANTS_FILE on its own path,
// <WEBHOOK_URL>/<tenant>, with the tenant's webhook_token_file; a file of several tenants
// needs --file-tenant.
func TestWebhooksRegisterATenantOfTheFile(t *testing.T) {
	co := personiotest.NewTestCompanies(t, 2, personiotest.Options{Persons: 3, NoRateLimit: true})
	dir := t.TempDir()
	var doc strings.Builder
	doc.WriteString("tenants:\n")
	for i, name := range []string{"acme", "globex"} {
		secret, token := filepath.Join(dir, name+".secret"), filepath.Join(dir, name+".hook")
		if err := os.WriteFile(secret, []byte(personiotest.CompanySecret("", i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(token, []byte("Bearer whk-never-printed-"+name+"-0a1b"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&doc, "  - {name: %s, client_id: %s, client_secret_file: %s, webhook_token_file: %s, base_url: %s}\n",
			name, personiotest.CompanyID(i+1), secret, token, co.URL())
	}
	path := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(path, []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TENANTS_FILE": path}
	const url = "https://cdc.example.com/webhooks/personio"

	if code, out, errOut := invoke(t.Context(), env, "webhooks", "register", "--webhook-url", url); code != exitConfig ||
		!strings.Contains(errOut, "--file-tenant is required") {
		t.Errorf("register without --file-tenant: %d %s %s", code, out, errOut)
	}
	code, out, errOut := invoke(t.Context(), env, "webhooks", "register", "--file-tenant", "globex", "--webhook-url", url)
	if code != exitOK || !strings.Contains(out, url+"/globex") || strings.Contains(out+errOut, "whk-never-printed") {
		t.Fatalf("register --file-tenant globex: %d %s %s", code, out, errOut)
	}
	code, out, errOut = invoke(t.Context(), env, "webhooks", "list", "--file-tenant", "globex")
	if code != exitOK || !strings.Contains(out, url+"/globex") {
		t.Fatalf("list --file-tenant globex: %d %s %s", code, out, errOut)
	}
	if code, out, _ = invoke(t.Context(), env, "webhooks", "list", "--file-tenant", "acme"); code != exitOK || !strings.Contains(out, "no webhooks") {
		t.Errorf("list --file-tenant acme (another company): %d %s", code, out)
	}
	if code, _, errOut = invoke(t.Context(), env, "webhooks", "list", "--file-tenant", "initech"); code != exitConfig || !strings.Contains(errOut, "not a configured tenant") {
		t.Errorf("list --file-tenant initech: %d %s", code, errOut)
	}
}
