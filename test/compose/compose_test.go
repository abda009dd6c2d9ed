// Package compose checks docker-compose.yml without a container engine: the file must hang
// together (addresses, ports, settings, mounted files) so that `docker compose up` works.
package compose

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// composeFile is the part of the Compose specification the checks read.
type composeFile struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	DependsOn   any               `yaml:"depends_on"`
	// StopGracePeriod is how long compose waits after SIGTERM before SIGKILL (default 10s).
	StopGracePeriod string `yaml:"stop_grace_period"`
}

// settings returns the environment variables personio-cdc reads and, of those, the secrets
// (which may also come from NAME_FILE), as internal/config documents them.
func settings() (all, secrets []string) {
	all = config.EnvNames(config.GroupAll)
	for _, line := range strings.Split(config.Usage(config.GroupAll), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "(or" && f[2] == f[0]+"_FILE)" {
			secrets = append(secrets, f[0])
		}
	}
	return all, secrets
}

const repoRoot = "../.."

func load(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func mustService(t *testing.T, c composeFile, name string) service {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

// portMapping is one "host_ip:host_port:container_port" entry.
type portMapping struct {
	hostIP               string
	hostPort, targetPort int
}

func parsePort(s string) (portMapping, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return portMapping{}, false
	}
	hp, err1 := strconv.Atoi(parts[1])
	cp, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return portMapping{}, false
	}
	return portMapping{hostIP: parts[0], hostPort: hp, targetPort: cp}, true
}

// hostPort splits host:port and fails the test when it is not one.
func hostPort(t *testing.T, what, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s %q: port: %v", what, addr, err)
	}
	return h, n
}

// listenerPorts maps Kafka listener names to ports from KAFKA_LISTENERS.
func listenerPorts(t *testing.T, listeners string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, l := range strings.Split(listeners, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("KAFKA_LISTENERS entry %q", l)
		}
		_, p := hostPort(t, "listener "+name, addr)
		out[name] = p
	}
	return out
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestServicesHaveImageOrBuild(t *testing.T) {
	c := load(t)
	for _, name := range []string{"kafka", "schema-registry", "personio-cdc", "personio-sim", "prometheus", "grafana"} {
		mustService(t, c, name)
	}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		if s.Image != "" && s.Build == nil && !strings.Contains(s.Image, ":") {
			t.Errorf("service %s: image %q is not pinned to a tag", name, s.Image)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "Dockerfile")); err != nil {
		t.Errorf("services build from the repository but: %v", err)
	}
}

func TestPortsLoopbackAndUnique(t *testing.T) {
	c := load(t)
	used := map[int]string{}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			m, ok := parsePort(p)
			if !ok {
				t.Errorf("service %s: port %q is not 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			if m.hostIP != "127.0.0.1" {
				t.Errorf("service %s: port %q binds %s, want 127.0.0.1", name, p, m.hostIP)
			}
			if other, dup := used[m.hostPort]; dup {
				t.Errorf("host port %d published by both %s and %s", m.hostPort, other, name)
			}
			used[m.hostPort] = name
		}
	}
}

func TestKafkaListeners(t *testing.T) {
	k := mustService(t, load(t), "kafka")
	ports := listenerPorts(t, k.Environment["KAFKA_LISTENERS"])
	advertised := listenerPorts(t, k.Environment["KAFKA_ADVERTISED_LISTENERS"])
	for name, p := range advertised {
		if ports[name] != p {
			t.Errorf("listener %s advertised on port %d, listens on %d", name, p, ports[name])
		}
	}
	// Host clients use the EXTERNAL listener through the published port.
	published := false
	for _, p := range k.Ports {
		if m, ok := parsePort(p); ok && m.targetPort == ports["EXTERNAL"] && m.hostPort == advertised["EXTERNAL"] {
			published = true
		}
	}
	if !published {
		t.Errorf("kafka's EXTERNAL listener (port %d) is not published on the host port it advertises", ports["EXTERNAL"])
	}
	if ic := k.Environment["KAFKA_INTER_BROKER_LISTENER_NAME"]; ports[ic] == 0 {
		t.Errorf("inter-broker listener %q is not in KAFKA_LISTENERS", ic)
	}
}

func TestServicePointsAtComposeServices(t *testing.T) {
	c := load(t)
	svc := mustService(t, c, "personio-cdc")
	env := svc.Environment

	t.Run("KAFKA_BROKERS", func(t *testing.T) {
		k := mustService(t, c, "kafka")
		ports := listenerPorts(t, k.Environment["KAFKA_LISTENERS"])
		adv := listenerPorts(t, k.Environment["KAFKA_ADVERTISED_LISTENERS"])
		for _, b := range strings.Split(env["KAFKA_BROKERS"], ",") {
			h, p := hostPort(t, "KAFKA_BROKERS", strings.TrimSpace(b))
			if h != "kafka" {
				t.Errorf("KAFKA_BROKERS host %q, want the compose service kafka", h)
			}
			// The listener behind p must advertise an address reachable from other containers.
			ok := false
			for name, lp := range ports {
				if lp == p && name != k.Environment["KAFKA_CONTROLLER_LISTENER_NAMES"] && adv[name] == p &&
					strings.Contains(k.Environment["KAFKA_ADVERTISED_LISTENERS"], name+"://kafka:") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("KAFKA_BROKERS port %d is not a broker listener advertised as kafka:%d", p, p)
			}
		}
	})

	t.Run("SCHEMA_REGISTRY_URL", func(t *testing.T) {
		r := mustService(t, c, "schema-registry")
		u, err := url.Parse(env["SCHEMA_REGISTRY_URL"])
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != "schema-registry" {
			t.Errorf("SCHEMA_REGISTRY_URL host %q, want schema-registry", u.Hostname())
		}
		port, _ := strconv.Atoi(u.Port())
		if want, _ := strconv.Atoi(r.Environment["QUARKUS_HTTP_PORT"]); port != want {
			t.Errorf("SCHEMA_REGISTRY_URL port %d, registry listens on %d", port, want)
		}
		if !slices.ContainsFunc(r.Ports, func(p string) bool { m, ok := parsePort(p); return ok && m.targetPort == port }) {
			t.Errorf("registry port %d is not published", port)
		}
		if u.Path != "/apis/ccompat/v7" {
			t.Errorf("SCHEMA_REGISTRY_URL path %q, want Apicurio's Confluent-compatible API /apis/ccompat/v7", u.Path)
		}
	})

	t.Run("PERSONIO_BASE_URL", func(t *testing.T) {
		sim := mustService(t, c, "personio-sim")
		u, err := url.Parse(env["PERSONIO_BASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		_, port := hostPort(t, "personio-sim --addr", flagValue(sim.Command, "--addr"))
		if u.Hostname() != "personio-sim" || u.Port() != strconv.Itoa(port) {
			t.Errorf("PERSONIO_BASE_URL %q, want http://personio-sim:%d", u, port)
		}
		if len(sim.Entrypoint) == 0 || filepath.Base(sim.Entrypoint[0]) != "personio-sim" {
			t.Errorf("personio-sim entrypoint %v does not run personio-sim", sim.Entrypoint)
		}
	})
}

func TestServiceSettings(t *testing.T) {
	c := load(t)
	svc := mustService(t, c, "personio-cdc")
	settings, secretSettings := settings()
	if !slices.Contains(secretSettings, "PERSONIO_CLIENT_SECRET") {
		t.Fatalf("internal/config lists no secret PERSONIO_CLIENT_SECRET (secrets found: %v)", secretSettings)
	}
	for name := range svc.Environment {
		base, isFile := strings.CutSuffix(name, "_FILE")
		switch {
		case slices.Contains(secretSettings, name):
			t.Errorf("%s is set in docker-compose.yml: secrets come from %s_FILE and a compose secret", name, name)
		case isFile && slices.Contains(secretSettings, base):
		case slices.Contains(settings, name):
		default:
			t.Errorf("personio-cdc has no setting %s", name)
		}
	}
	for _, k := range []string{"PERSONIO_TENANT", "PERSONIO_CLIENT_ID", "KAFKA_BROKERS", "SCHEMA_REGISTRY_URL"} {
		if svc.Environment[k] == "" {
			t.Errorf("%s is required and not set", k)
		}
	}

	// The secret file must be a compose secret mounted into the service.
	path := svc.Environment["PERSONIO_CLIENT_SECRET_FILE"]
	name, ok := strings.CutPrefix(path, "/run/secrets/")
	if !ok || !slices.Contains(svc.Secrets, name) {
		t.Fatalf("PERSONIO_CLIENT_SECRET_FILE %q is not a secret mounted into personio-cdc (%v)", path, svc.Secrets)
	}
	sec, ok := c.Secrets[name]
	if !ok {
		t.Fatalf("secret %s is not declared", name)
	}
	hostFile := filepath.Join(repoRoot, sec.File)
	if _, err := os.Stat(hostFile); err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}

	// The service's own configuration loader accepts the whole environment, the secret read
	// from the file compose mounts.
	getenv := func(k string) string {
		if k == "PERSONIO_CLIENT_SECRET_FILE" {
			return hostFile
		}
		return svc.Environment[k]
	}
	var args []string // flags after the subcommand ("run")
	if len(svc.Command) > 1 {
		args = svc.Command[1:]
	}
	cfg, err := config.Load(args, getenv)
	if err != nil {
		t.Fatalf("personio-cdc rejects the compose configuration: %v", err)
	}

	// A stop lets the sync in flight finish for SHUTDOWN_TIMEOUT, then waits for Kafka's
	// verdict on what it is sending (see kafka.Client.Publish): compose must not kill it sooner.
	grace, err := time.ParseDuration(svc.StopGracePeriod)
	if err != nil {
		t.Fatalf("personio-cdc stop_grace_period %q: %v (compose's default of 10s is too short)", svc.StopGracePeriod, err)
	}
	if need := cfg.Admin.ShutdownTimeout + kafka.DefaultWriteTimeout; grace <= need {
		t.Errorf("personio-cdc stop_grace_period %s must exceed SHUTDOWN_TIMEOUT %s plus the Kafka write timeout %s",
			grace, cfg.Admin.ShutdownTimeout, kafka.DefaultWriteTimeout)
	}
}

func TestPrometheusScrapesAdminPort(t *testing.T) {
	c := load(t)
	svc := mustService(t, c, "personio-cdc")
	_, adminPort := hostPort(t, "ADMIN_ADDR", svc.Environment["ADMIN_ADDR"])

	prom := mustService(t, c, "prometheus")
	cfgPath := ""
	for _, v := range prom.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, "/etc/prometheus/prometheus.yml") {
			cfgPath = src
		}
	}
	if cfgPath == "" {
		t.Fatal("prometheus mounts no /etc/prometheus/prometheus.yml")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", cfgPath, err)
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "personio-cdc" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q, want /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				h, p := hostPort(t, "scrape target", target)
				if h != "personio-cdc" || p != adminPort {
					t.Errorf("scrape target %s, want personio-cdc:%d (ADMIN_ADDR)", target, adminPort)
				}
				found = true
			}
		}
	}
	if !found {
		t.Error("prometheus.yml has no personio-cdc scrape target")
	}
	// Every rule file must be mounted where the configuration expects it.
	for _, rf := range cfg.RuleFiles {
		if !slices.ContainsFunc(prom.Volumes, func(v string) bool { return strings.Contains(v, ":"+rf) }) {
			t.Errorf("rule file %s is not mounted into prometheus", rf)
		}
	}
}

func TestBindMountsExist(t *testing.T) {
	c := load(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

func TestGrafanaDatasourceIsComposePrometheus(t *testing.T) {
	c := load(t)
	prom := mustService(t, c, "prometheus")
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/provisioning/datasources/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("want one prometheus data source, got %+v", ds.Datasources)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	if u.Hostname() != "prometheus" ||
		!slices.ContainsFunc(prom.Ports, func(p string) bool { m, ok := parsePort(p); return ok && m.targetPort == port }) {
		t.Errorf("grafana data source %s is not the compose prometheus service", u)
	}
}
