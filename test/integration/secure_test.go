//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/tlstest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// maxRefusedConnections bounds the connections a command that is refused at start-up (a wrong
// SASL password, an untrusted certificate) may open before it gives up: one metadata request
// per check, a few checks, no retry loop. A retry storm would open dozens.
const maxRefusedConnections = 6

// TestIntegrationSecure runs the released binary as production runs it: Kafka over TLS (the
// test environment's CA) with SASL/SCRAM-SHA-512, the schema registry behind HTTP basic auth
// (nginx in front of Apicurio), every secret from a *_FILE. sync publishes, replay and tail read
// it back through the same listener, and the independent Python consumer decodes every event
// through the registry with basic auth. A wrong Kafka password, an untrusted broker certificate
// or a wrong registry password stop each command at start-up with exit 1, a message naming the
// setting to fix, a bounded number of connections and no password in the output.
func TestIntegrationSecure(t *testing.T) {
	env := SecureEnv(t)
	sec := env.Secure
	bin := buildCDC(t)
	fast := personiotest.Rate{PerMinute: 6e6, Burst: 1000}
	const persons = 40
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: persons, Seed: 11, NoRateLimit: true,
		RateLimit: fast, CompensationRateLimit: fast})
	kafkaPassword := readSecret(t, sec.KafkaSASLPasswordFile)
	registryPassword := readSecret(t, sec.RegistryPasswordFile)

	// base is the environment of a production deployment against the secure side.
	base := func(prefix string) []string {
		return []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + os.Getenv("HOME"),
			"PERSONIO_BASE_URL=" + sim.URL(),
			"PERSONIO_CLIENT_ID=" + personiotest.DefaultClientID,
			"PERSONIO_CLIENT_SECRET=" + personiotest.DefaultClientSecret,
			"PERSONIO_TENANT=acme",
			"PERSONIO_RATE_LIMIT_PER_MINUTE=600000",
			"PERSONIO_RATE_BURST=500",
			"COMPENSATION_RATE_LIMIT_PER_MINUTE=600000",
			"COMPENSATION_RATE_BURST=500",
			"TOPIC_PREFIX=" + prefix,
			"KAFKA_TOPIC_PARTITIONS=3",
			"KAFKA_REPLICATION_FACTOR=1",
			"KAFKA_BROKERS=" + strings.Join(sec.KafkaBrokers, ","),
			"KAFKA_TLS_ENABLED=true",
			"KAFKA_TLS_CA_FILE=" + sec.KafkaCAFile,
			"KAFKA_SASL_MECHANISM=" + sec.KafkaSASLMechanism,
			"KAFKA_SASL_USERNAME=" + sec.KafkaSASLUsername,
			"KAFKA_SASL_PASSWORD_FILE=" + sec.KafkaSASLPasswordFile,
			"SCHEMA_REGISTRY_URL=" + sec.RegistryURL,
			"SCHEMA_REGISTRY_USERNAME=" + sec.RegistryUsername,
			"SCHEMA_REGISTRY_PASSWORD_FILE=" + sec.RegistryPasswordFile,
			"LOG_FORMAT=json",
		}
	}
	secrets := []string{kafkaPassword, registryPassword}

	prefix := UniqueTopic(t, "secure")
	var topics []string // every entity's topic, in change.Entities' order
	for _, e := range change.Entities() {
		topics = append(topics, prefix+"."+string(e))
	}

	t.Run("SyncReplayTail", func(t *testing.T) {
		res := runCDC(t, bin, base(prefix), 3*time.Minute, secrets, "sync", "--output", "json")
		if res.code != 0 {
			t.Fatalf("sync exited %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
		}
		var out struct {
			Outcome  string `json:"outcome"`
			Entities []struct {
				Entity  string         `json:"entity"`
				Changes map[string]int `json:"changes"`
			} `json:"entities"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
			t.Fatalf("sync output %q: %v", res.stdout, err)
		}
		published := map[string]int{}
		for _, e := range out.Entities {
			published[e.Entity] = e.Changes["c"]
		}
		if out.Outcome != "complete" || published["persons"] != persons || published["compensations"] == 0 || published["employments"] == 0 {
			t.Fatalf("sync outcome %q, published %v; want complete, %d persons, some employments and compensations", out.Outcome, published, persons)
		}
		total := 0
		for _, n := range published {
			total += n
		}
		// every topic holds what the sync published to it, and no more
		matches := func(byTopic map[string]int) bool {
			for _, e := range change.Entities() {
				if byTopic[prefix+"."+string(e)] != published[string(e)] {
					return false
				}
			}
			return byTopic[prefix+".persons"] == persons
		}

		// The schemas were registered through the proxy that demands basic auth.
		for _, topic := range topics {
			if !registryHasSubject(t, env.RegistryURL, topic+"-value") {
				t.Errorf("subject %s-value is not registered", topic)
			}
		}

		// replay reads every event back through the SASL_SSL listener and decodes it.
		res = runCDC(t, bin, base(prefix), 2*time.Minute, secrets, "replay", "--output", "json")
		if res.code != 0 {
			t.Fatalf("replay exited %d\nstderr: %s", res.code, res.stderr)
		}
		byTopic := countEvents(t, "replay", res.stdout)
		if !matches(byTopic) {
			t.Fatalf("replay decoded %v; want %d persons and what the sync published, %v", byTopic, persons, published)
		}

		// tail from the beginning prints every event, then runs on until interrupted.
		lines := tailEvents(t, bin, base(prefix), secrets, total)
		byTopic = countEvents(t, "tail", strings.Join(lines, "\n"))
		if !matches(byTopic) {
			t.Fatalf("tail printed %v; want %d persons and what the sync published, %v", byTopic, persons, published)
		}

		// The independent consumer (librdkafka, Confluent's Avro deserializer) reads the same
		// through TLS + SCRAM and the registry with basic auth.
		for i, topic := range topics {
			recs := runSecureVerifier(t, env, topic)
			decoded := 0
			for _, r := range recs {
				if r.Value != nil && r.Value["after"] != nil {
					decoded++
				}
			}
			want := published[string(change.Entities()[i])]
			if len(recs) != want || decoded != want {
				t.Errorf("verifier read %d records of %s, %d decoded; want %d", len(recs), topic, decoded, want)
			}
		}
	})

	// Kafka refuses: every command stops at start-up naming the setting to fix.
	wrongPassword := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(wrongPassword, []byte("not-"+kafkaPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA, _, _ := tlstest.New(t).Write(t, t.TempDir()) // a CA that signed nothing the broker presents
	refusals := []struct {
		name, setting string
		env           []string
	}{
		{"WrongKafkaPassword", "KAFKA_SASL_PASSWORD", []string{"KAFKA_SASL_PASSWORD_FILE=" + wrongPassword}},
		{"UntrustedCertificate", "KAFKA_TLS_CA_FILE", []string{"KAFKA_TLS_CA_FILE=" + otherCA}},
		{"MechanismNotOffered", "KAFKA_SASL_MECHANISM", []string{"KAFKA_SASL_MECHANISM=SCRAM-SHA-256"}},
		{"TLSNotEnabled", "KAFKA_TLS_ENABLED", []string{"KAFKA_TLS_ENABLED=false", "KAFKA_TLS_CA_FILE="}},
	}
	commands := [][]string{{"sync"}, {"replay"}, {"tail", "--from-beginning"}}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			for _, args := range commands {
				t.Run(args[0], func(t *testing.T) {
					proxy := startCountingProxy(t, sec.KafkaBrokers[0])
					vars := append(base(prefix), append(r.env, "KAFKA_BROKERS="+proxy.addr())...)
					res := runCDC(t, bin, vars, 2*time.Minute, append(secrets, "not-"+kafkaPassword), args...)
					checkRefused(t, res, r.setting)
					t.Logf("%s: %d connections to the broker", args[0], proxy.count())
					if n := proxy.count(); n == 0 || n > maxRefusedConnections {
						t.Errorf("%s opened %d connections to the broker; want 1 to %d (no retry storm)", args[0], n, maxRefusedConnections)
					}
				})
			}
		})
	}

	// The registry refuses the credential: start-up fails naming SCHEMA_REGISTRY_PASSWORD and
	// nothing is published.
	t.Run("WrongRegistryPassword", func(t *testing.T) {
		wrong := "not-" + registryPassword
		fresh := UniqueTopic(t, "secure")
		for _, args := range commands {
			t.Run(args[0], func(t *testing.T) {
				p := prefix
				if args[0] == "sync" {
					p = fresh
				}
				vars := append(base(p), "SCHEMA_REGISTRY_PASSWORD_FILE=", "SCHEMA_REGISTRY_PASSWORD="+wrong)
				res := runCDC(t, bin, vars, 2*time.Minute, append(secrets, wrong), args...)
				checkRefused(t, res, "SCHEMA_REGISTRY_PASSWORD")
			})
		}
		if n := recordsIn(t, env, fresh+".persons", fresh+".employments", fresh+".compensations"); n != 0 {
			t.Errorf("a sync refused by the registry left %d records on its topics", n)
		}
	})
}

// cdcResult is one finished run of the binary.
type cdcResult struct {
	code           int
	stdout, stderr string
}

// runCDC runs personio-cdc with exactly vars as its environment and fails t when it does not
// exit within timeout, or when its output holds one of secrets.
func runCDC(t *testing.T, bin string, vars []string, timeout time.Duration, secrets []string, args ...string) cdcResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = vars
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cdcResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("personio-cdc %s did not exit within %s\nstderr: %s", strings.Join(args, " "), timeout, res.stderr)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("personio-cdc %s: %v", strings.Join(args, " "), err)
	}
	checkNoSecrets(t, args[0], res.stdout+res.stderr, secrets)
	return res
}

func checkNoSecrets(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s printed a password", what)
		}
	}
}

// checkRefused asserts exit 1 and a message that names setting.
func checkRefused(t *testing.T, res cdcResult, setting string) {
	t.Helper()
	if res.code != 1 {
		t.Errorf("exit %d, want 1\nstderr: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, setting) {
		t.Errorf("the error does not name %s\nstderr: %s", setting, res.stderr)
	}
}

// tailEvents runs tail --from-beginning --output json until it printed want events (or two
// minutes passed), interrupts it as an operator would, and returns the lines it printed.
func tailEvents(t *testing.T, bin string, vars []string, secrets []string, want int) []string {
	t.Helper()
	cmd := exec.Command(bin, "tail", "--from-beginning", "--output", "json")
	cmd.Env = vars
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	enough := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) == want {
				close(enough)
			}
		}
	}()
	select {
	case <-enough:
	case <-done:
	case <-time.After(2 * time.Minute):
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tail did not stop within 30 s of SIGINT\nstderr: %s", stderr.String())
	}
	if err != nil {
		t.Fatalf("tail: %v\nstderr: %s", err, stderr.String())
	}
	checkNoSecrets(t, "tail", strings.Join(lines, "\n")+stderr.String(), secrets)
	return lines
}

// countEvents counts decoded events (JSON lines with a value) by topic.
func countEvents(t *testing.T, what, out string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m struct {
			Topic string         `json:"topic"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s printed %q: %v", what, line, err)
		}
		if m.Value == nil || m.Value["after"] == nil {
			t.Fatalf("%s printed an event without a decoded value: %s", what, line)
		}
		n[m.Topic]++
	}
	return n
}

// runSecureVerifier reads topic with the Python consumer over TLS + SCRAM, decoding through the
// registry with basic auth.
func runSecureVerifier(t *testing.T, env Environment, topic string) []VerifiedRecord {
	t.Helper()
	s := env.Secure
	out := runVerifier(t, env, nil, "--brokers", strings.Join(s.KafkaBrokers, ","),
		"--ssl-ca", s.KafkaCAFile, "--sasl-mechanism", s.KafkaSASLMechanism,
		"--sasl-username", s.KafkaSASLUsername, "--sasl-password-file", s.KafkaSASLPasswordFile,
		"--registry", s.RegistryURL, "--registry-username", s.RegistryUsername,
		"--registry-password-file", s.RegistryPasswordFile, "--topic", topic)
	var recs []VerifiedRecord
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	for {
		var r VerifiedRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("verifier output: %v", err)
		}
		recs = append(recs, r)
	}
}

// registryHasSubject asks the registry directly (without the proxy) whether subject exists.
func registryHasSubject(t *testing.T, registryURL, subject string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, registryURL+"/subjects", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry subjects: %v", err)
	}
	defer resp.Body.Close()
	var subjects []string
	if err := json.NewDecoder(resp.Body).Decode(&subjects); err != nil {
		t.Fatalf("registry subjects: %s: %v", resp.Status, err)
	}
	return slices.Contains(subjects, subject)
}

// recordsIn counts the records on topics (through the plain listener); a topic that does not
// exist holds none.
func recordsIn(t *testing.T, env Environment, topics ...string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := env.Client()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			continue // unknown topic: nothing was published
		}
		for _, p := range tp.Partitions {
			req.Topics[tp.Name] = append(req.Topics[tp.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req.Topics) == 0 {
		return 0
	}
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var n int64
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatalf("list offsets %s/%d: %v", topic, p.Partition, p.Error)
			}
			n += p.LastOffset
		}
	}
	return n
}

// readSecret returns the content of a password file, without the trailing newline.
func readSecret(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		t.Fatalf("%s is empty", path)
	}
	return s
}

// countingProxy forwards TCP connections to a broker and counts them: how often a client
// tried to connect.
type countingProxy struct {
	ln    net.Listener
	n     atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.n.Add(1)
			up, err := net.DialTimeout("tcp", target, 10*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }
func (p *countingProxy) count() int64 { return p.n.Load() }

// buildCDC builds personio-cdc from this checkout into a temporary directory.
func buildCDC(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/personio-cdc")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "personio-cdc")
}
