package main

import (
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
