package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

	// sync serves one tenant: a file of several is refused, naming them (run serves them all:
	// TestRunServesEveryTenantOfTheFile).
	code, _, errOut = invoke(t.Context(), file("tenants:\n"+tenant("a")+tenant("b")), "sync")
	if want := "its 2 tenants (a, b) are valid, but this build serves one tenant per process"; code != exitConfig || !strings.Contains(errOut, want) {
		t.Errorf("sync with a file of two tenants: exit %d, want %d saying %q:\n%s", code, exitConfig, want, errOut)
	}

	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
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

// TestRunServesEveryTenantOfTheFile: run serves every tenant of TENANTS_FILE in one process
// (/status lists them, each synced from its own Personio account), and picks up a change of
// the file without a restart: a removed tenant stops, an added one starts.
func TestRunServesEveryTenantOfTheFile(t *testing.T) { testRunServesTenants(t, false) }

// TestRunSharesTenantsInAGroup: with GROUP_ID the same process joins the consumer group,
// which assigns it every tenant (it is the only member), /status shows its membership, and a
// reload of the file reaches the group's share-out too.
func TestRunSharesTenantsInAGroup(t *testing.T) { testRunServesTenants(t, true) }

func testRunServesTenants(t *testing.T, grouped bool) {
	w := newWorld(t)
	rate := personiotest.Rate{PerMinute: 60000, Burst: 200}
	sims := personiotest.NewTestCompanies(t, 3, personiotest.Options{Persons: 5, Seed: 3, RateLimit: rate, CompensationRateLimit: rate})
	dir := t.TempDir()
	entry := func(i int) string {
		name := fmt.Sprintf("t%d", i)
		secret := filepath.Join(dir, name+".secret")
		if err := os.WriteFile(secret, []byte(personiotest.CompanySecret(personiotest.DefaultClientSecret, i)), 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("  - name: %s\n    client_id: %s\n    client_secret_file: %s\n    base_url: %s\n",
			name, personiotest.CompanyID(i), secret, sims.URL())
	}
	path := filepath.Join(dir, "tenants.yaml")
	write := func(doc string) {
		if err := os.WriteFile(path+".tmp", []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("defaults:\n  incremental_sync_interval: 0s\n  employment_refresh_period: 0s\ntenants:\n" + entry(1) + entry(2))
	addr := freeAddr(t)
	env := w.with("TENANTS_FILE", path, "TENANTS_POLL_INTERVAL", "1s", "ADMIN_ADDR", addr)
	if grouped {
		env["GROUP_ID"], env["GROUP_WORK_PARTITIONS"], env["GROUP_SESSION_TIMEOUT"] = "cdc", "8", "6s"
	}
	for _, k := range []string{"PERSONIO_TENANT", "PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET_FILE", "PERSONIO_BASE_URL"} {
		delete(env, k)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, a, []string{"run"}) }()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("run exited %d after the signal\n%s", code, stderr.String())
		}
	}()

	type doc struct {
		States []struct {
			Tenant string `json:"tenant"`
			State  string `json:"state"`
		} `json:"tenant_states"`
		Tenants []struct {
			Tenant string `json:"tenant"`
			Last   *struct {
				Outcome string `json:"outcome"`
			} `json:"last_result"`
		} `json:"tenants"`
		Group *struct {
			Owned []string `json:"owned_tenants"`
		} `json:"group"`
	}
	// synced waits until /status shows exactly the tenants want, each with a complete sync.
	synced := func(want ...string) {
		t.Helper()
		var body string
		for i := 0; ; i++ {
			select {
			case code := <-done:
				t.Fatalf("run exited early with %d\n%s", code, stderr.String())
			default:
			}
			var code int
			code, body = get(t, "http://"+addr+"/status")
			var d doc
			if code == http.StatusOK && json.Unmarshal([]byte(body), &d) == nil && len(d.States) == len(want) && len(d.Tenants) == len(want) {
				ok := true
				for i, st := range d.States {
					tn := d.Tenants[i]
					ok = ok && st.Tenant == want[i] && st.State == "running" && tn.Tenant == want[i] && tn.Last != nil && tn.Last.Outcome == "complete"
				}
				if grouped {
					ok = ok && d.Group != nil && slices.Equal(d.Group.Owned, want)
				} else if d.Group != nil {
					t.Fatalf("/status shows a group without GROUP_ID: %s", body)
				}
				if ok {
					return
				}
			}
			if i > 6000 {
				t.Fatalf("/status never showed %v synced; last:\n%s\nlogs:\n%s", want, body, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	synced("t1", "t2")
	write("defaults:\n  incremental_sync_interval: 0s\n  employment_refresh_period: 0s\ntenants:\n" + entry(1) + entry(3))
	synced("t1", "t3")
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`personio_cdc_sync_runs_total{kind="full",result="complete",tenant="t1"} 1`,
		`personio_cdc_sync_runs_total{kind="full",result="complete",tenant="t3"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `tenant="t2"`) {
		t.Error("/metrics still has series of t2 after it left the file")
	}
	assertNoSecrets(t, "logs", stdout.String()+stderr.String())
}
