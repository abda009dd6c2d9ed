// Package deploy holds the deployment files (Kubernetes manifests, Prometheus alert rules, the
// Grafana dashboard). Its tests check that they parse, that the alert rules pass promtool, and
// that every metric they query is one the service registers.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/metrics"
)

// requireToolsEnv names the variable that makes a missing external tool fail the tests that
// need it. `make test` (scripts/test-all) sets it to 1, after scripts/install-tools.
const requireToolsEnv = "PERSONIO_CDC_REQUIRE_TOOLS"

// promtool returns the path of promtool. Without promtool the test fails when
// PERSONIO_CDC_REQUIRE_TOOLS=1 (make test, CI), so a machine that should check the alert rules
// never passes without checking them; otherwise it is skipped, saying so, so a fresh clone's
// `go test ./...` needs Go alone.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	const missing = "promtool not found in PATH: install it (scripts/install-tools; Debian/Ubuntu: " +
		"apt-get install -y prometheus; or https://prometheus.io/download/) to check deploy/prometheus/alerts.yml"
	if os.Getenv(requireToolsEnv) == "1" {
		t.Fatalf("%s (%s=1: make test requires it)", missing, requireToolsEnv)
	}
	t.Skipf("SKIPPED, alert rules NOT checked: %s; `make test` sets %s=1 and fails without it", missing, requireToolsEnv)
	return ""
}

func TestAlertRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules did not report success:\n%s", out)
	}
}

func TestAlertRulesUnitTests(t *testing.T) {
	out, err := exec.Command(promtool(t), "test", "rules", "prometheus/alerts_test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// metricRE finds metric names in PromQL: our own, plus the Go/process collectors.
var metricRE = regexp.MustCompile(`\b(personio_cdc_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+)\b`)

// queried returns the metric names used in exprs, histogram series mapped to their family.
func queried(exprs []string) map[string]bool {
	out := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricRE.FindAllString(e, -1) {
			out[m] = true
		}
	}
	return out
}

// family maps a series name to the names it may be registered under.
func family(series string) []string {
	names := []string{series}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suf); ok {
			names = append(names, base)
		}
	}
	return names
}

func checkKnown(t *testing.T, what string, used map[string]bool) {
	t.Helper()
	known := registeredMetrics(t)
	var missing []string
	for m := range used {
		ok := false
		for _, n := range family(m) {
			ok = ok || known[n]
		}
		if !ok {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		all := make([]string, 0, len(known))
		for n := range known {
			if strings.HasPrefix(n, "personio_cdc_") {
				all = append(all, n)
			}
		}
		sort.Strings(all)
		t.Errorf("%s queries metrics the service does not register: %s\nregistered: %s",
			what, strings.Join(missing, ", "), strings.Join(all, ", "))
	}
	if len(used) == 0 {
		t.Errorf("%s queries no metrics at all", what)
	}
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/dashboards/personio-cdc.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	var exprs []string
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	checkKnown(t, "dashboard", queried(exprs))
}

func TestAlertMetricsRegistered(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	used := queried(exprs)
	for _, must := range []string{"personio_cdc_last_successful_sync_timestamp_seconds", "personio_cdc_delete_guard_trips_total"} {
		if !used[must] {
			t.Errorf("no alert uses %s", must)
		}
	}
	checkKnown(t, "alerts.yml", used)
}

// manifests decodes every document of every YAML file under kubernetes/.
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kind, _ := doc["kind"].(string)
			if kind == "" || doc["apiVersion"] == nil {
				t.Errorf("%s: document without kind or apiVersion", f)
			}
			out[kind] = doc
		}
	}
	return out
}

// dig walks nested maps and lists: keys are strings, list indexes ints.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetesManifests(t *testing.T) {
	m := manifests(t)
	for _, kind := range []string{"Deployment", "ConfigMap", "Secret", "Service", "ServiceMonitor", "PrometheusRule", "Kustomization"} {
		if m[kind] == nil {
			t.Errorf("no %s manifest", kind)
		}
	}
	res, _ := dig(m["Kustomization"], "resources").([]any)
	for _, r := range res {
		if _, err := os.Stat(filepath.Join("kubernetes", r.(string))); err != nil {
			t.Errorf("kustomization lists %v: %v", r, err)
		}
	}
	if len(res) < 6 {
		t.Errorf("kustomization lists %d resources", len(res))
	}
	dep := m["Deployment"]
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	cm, _ := dig(m["ConfigMap"], "data").(map[string]any)

	// Every ConfigMap key is a real setting with a valid value (secrets come from files).
	env := map[string]string{
		"PERSONIO_CLIENT_ID":     "placeholder",
		"PERSONIO_CLIENT_SECRET": "placeholder",
		"KAFKA_SASL_PASSWORD":    "placeholder",
	}
	for k, v := range cm {
		s, _ := v.(string)
		env[k] = s
		if !strings.Contains(config.Usage(config.GroupAll), k) {
			t.Errorf("ConfigMap key %s is not a setting", k)
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("ConfigMap settings do not validate: %v", err)
	}

	// After SHUTDOWN_TIMEOUT the abandoned sync still waits for the verdict on what it is
	// sending (see kafka.Client.Publish).
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(int)
	if need := cfg.Admin.ShutdownTimeout + kafka.DefaultWriteTimeout; time.Duration(grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d must exceed SHUTDOWN_TIMEOUT %s plus the Kafka write timeout %s",
			grace, cfg.Admin.ShutdownTimeout, kafka.DefaultWriteTimeout)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"liveness path", dig(c, "livenessProbe", "httpGet", "path"), "/healthz"},
		{"liveness port", dig(c, "livenessProbe", "httpGet", "port"), "admin"},
		{"readiness path", dig(c, "readinessProbe", "httpGet", "path"), "/readyz"},
		{"readiness port", dig(c, "readinessProbe", "httpGet", "port"), "admin"},
		{"admin port", dig(c, "ports", 0, "containerPort"), 9464},
		{"admin port name", dig(c, "ports", 0, "name"), "admin"},
		{"runAsNonRoot", dig(pod, "securityContext", "runAsNonRoot"), true},
		{"readOnlyRootFilesystem", dig(c, "securityContext", "readOnlyRootFilesystem"), true},
		{"allowPrivilegeEscalation", dig(c, "securityContext", "allowPrivilegeEscalation"), false},
		{"args", dig(c, "args", 0), "run"},
		{"ADMIN_ADDR", cm["ADMIN_ADDR"], ":9464"},
		{"service port", dig(m["Service"], "spec", "ports", 0, "targetPort"), "admin"},
		{"monitor port", dig(m["ServiceMonitor"], "spec", "endpoints", 0, "port"), "admin"},
		{"monitor path", dig(m["ServiceMonitor"], "spec", "endpoints", 0, "path"), "/metrics"},
	}
	// More than one replica only shares tenants out through the consumer group: without
	// GROUP_ID every replica would sync every tenant.
	if replicas, _ := dig(dep, "spec", "replicas").(int); replicas < 1 || (replicas > 1 && !cfg.Membership.Grouped()) {
		t.Errorf("replicas = %d: at least 1, and more only with GROUP_ID set (it is %q)", replicas, cfg.Membership.GroupID)
	}
	// A rolling update runs an old and a new pod side by side: only a group (whose fence stops
	// an old pod that is slow to let go) may do that; one instance must be Recreated.
	if st := dig(dep, "spec", "strategy", "type"); st != "Recreate" && !(st == "RollingUpdate" && cfg.Membership.Grouped()) {
		t.Errorf("strategy = %v: Recreate, or RollingUpdate with GROUP_ID set (it is %q)", st, cfg.Membership.GroupID)
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// The example Secret carries placeholders only, and the pod reads secrets from files.
	for k, v := range dig(m["Secret"], "stringData").(map[string]any) {
		if s, _ := v.(string); !strings.HasPrefix(s, "REPLACE_ME") {
			t.Errorf("Secret key %s is not a placeholder", k)
		}
	}
	envs, _ := dig(c, "env").([]any)
	for _, e := range envs {
		name, _ := dig(e, "name").(string)
		if name == "PERSONIO_CLIENT_SECRET" || name == "KAFKA_SASL_PASSWORD" || name == "SCHEMA_REGISTRY_PASSWORD" {
			t.Errorf("%s is passed as an environment value; mount it and use %s_FILE", name, name)
		}
	}
}

// registeredMetrics returns every metric name the service registers, collected from the
// descriptors of the real metric sets (see metricSets).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{names: map[string]bool{}}
	// The Go and process collectors, as main registers them.
	rec.describe(metrics.NewRegistry(metrics.BuildInfo{Version: "test", GoVersion: "go"}))
	metricSets(t, rec)
	return rec.names
}

// TestREADMEDocumentsSettingsAndMetrics keeps the user documentation in step with the code:
// every setting and every personio_cdc_* metric appears in README.md.
func TestREADMEDocumentsSettingsAndMetrics(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, env := range config.EnvNames(config.GroupAll) {
		if !strings.Contains(readme, "`"+env+"`") {
			t.Errorf("README.md does not document the setting %s", env)
		}
	}
	for name := range registeredMetrics(t) {
		if strings.HasPrefix(name, "personio_cdc_") && !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README.md does not document the metric %s", name)
		}
	}
}

func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	read := func(path string) any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return v
	}
	plain := read("prometheus/alerts.yml")
	op := read("kubernetes/prometheusrule.yaml")
	a, _ := json.Marshal(dig(plain, "groups"))
	b, _ := json.Marshal(dig(op, "spec", "groups"))
	if len(a) < 100 || string(a) != string(b) {
		t.Errorf("kubernetes/prometheusrule.yaml differs from prometheus/alerts.yml; copy the groups over")
	}
}

// The example tenants file loads (its secret files made up in a temporary directory), and its
// closing list names every field a tenant may have.
func TestTenantsExample(t *testing.T) {
	b, err := os.ReadFile("tenants.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const secrets = "/var/run/secrets/personio/"
	for _, name := range []string{"acme-gmbh", "globex-se", "initech"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("secret-of-"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(secrets), []byte(dir+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgs, err := config.LoadTenants(path, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cfgs {
		names = append(names, c.Personio.Tenant)
	}
	if strings.Join(names, ",") != "acme-gmbh,globex-se,initech" {
		t.Errorf("tenants %v", names)
	}
	if got := fmt.Sprint(cfgs[2].Sync.Synced()); got != "[persons compensations]" {
		t.Errorf("initech syncs %s", got)
	}
	for _, k := range config.TenantKeys() {
		if !regexp.MustCompile(`(?m)^#.*\b` + k + `\b`).Match(b) {
			t.Errorf("tenants.example.yaml does not list the field %s", k)
		}
	}
}
