//go:build integration

// Package integration holds the tests that run against real components: Apache Kafka (KRaft),
// Apicurio Registry through its Confluent-compatible API, and an independent Python consumer
// (librdkafka + the Confluent Avro deserializer). scripts/testenv starts them on 127.0.0.1;
// `make test` brings them up, runs every TestIntegration* test and takes them down again.
//
// The helpers in this file are shared by every integration test. A test that cannot reach the
// environment fails: it is never skipped, so a missing environment can't pass as green.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Environment is where the integration test environment runs.
type Environment struct {
	// Brokers are the Kafka bootstrap addresses (host:port).
	Brokers []string
	// RegistryURL is the base URL of the Confluent-compatible schema registry API.
	RegistryURL string
	// VerifierCmd is the command line of the independent Python consumer, without arguments.
	VerifierCmd []string
	// TestenvScript is the path of scripts/testenv.
	TestenvScript string
	// Secure is the same environment as production runs it: Kafka's SASL_SSL listener and the
	// registry behind HTTP basic auth (PERSONIO_CDC_SECURE_* in .testenv/env).
	Secure SecureEnvironment
}

// SecureEnvironment is how scripts/testenv reaches Kafka and the registry as production does:
// TLS with this run's CA, SCRAM-SHA-512, and basic auth at the registry. The passwords are in
// files (test-only values made per run).
type SecureEnvironment struct {
	KafkaBrokers          []string // the SASL_SSL listener
	KafkaCAFile           string   // PEM of the CA that signed the broker's certificate
	KafkaSASLMechanism    string
	KafkaSASLUsername     string
	KafkaSASLPasswordFile string
	RegistryURL           string // the registry behind basic auth (Confluent API)
	RegistryUsername      string
	RegistryPasswordFile  string
}

// secureVars are the variables SecureEnvironment is read from.
var secureVars = []string{"PERSONIO_CDC_SECURE_KAFKA_BROKERS", "PERSONIO_CDC_SECURE_KAFKA_CA_FILE",
	"PERSONIO_CDC_SECURE_KAFKA_SASL_MECHANISM", "PERSONIO_CDC_SECURE_KAFKA_SASL_USERNAME",
	"PERSONIO_CDC_SECURE_KAFKA_SASL_PASSWORD_FILE", "PERSONIO_CDC_SECURE_REGISTRY_URL",
	"PERSONIO_CDC_SECURE_REGISTRY_USERNAME", "PERSONIO_CDC_SECURE_REGISTRY_PASSWORD_FILE"}

// SecureEnv returns the environment with Secure filled in; it fails the test when
// scripts/testenv did not write it (an environment started by an older script).
func SecureEnv(t testing.TB) Environment {
	t.Helper()
	e := Env(t)
	s := e.Secure
	if len(s.KafkaBrokers) == 0 || s.KafkaCAFile == "" || s.KafkaSASLUsername == "" || s.KafkaSASLPasswordFile == "" ||
		s.RegistryURL == "" || s.RegistryUsername == "" || s.RegistryPasswordFile == "" {
		t.Fatalf("%s (PERSONIO_CDC_SECURE_* unset: restart it with scripts/testenv down && scripts/testenv up)", missing)
	}
	return e
}

// Client returns a kafka-go admin client for the environment's first broker.
func (e Environment) Client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(e.Brokers...), Timeout: 30 * time.Second}
}

// missing is the message every test fails with when the environment is not there.
const missing = "integration environment missing: run scripts/testenv up"

var (
	envOnce sync.Once
	envVal  Environment
	envErr  error
)

// Env returns the integration test environment. It reads KAFKA_BROKERS, SCHEMA_REGISTRY_URL,
// PERSONIO_CDC_VERIFIER_PYTHON, PERSONIO_CDC_VERIFIER_SCRIPT and PERSONIO_CDC_TESTENV from the
// process environment when KAFKA_BROKERS and SCHEMA_REGISTRY_URL are both set, else from
// <repo>/.testenv/env as written by `scripts/testenv up`. It fails the test when the environment
// is absent or Kafka does not accept connections.
func Env(t testing.TB) Environment {
	t.Helper()
	envOnce.Do(func() { envVal, envErr = loadEnv() })
	if envErr != nil {
		t.Fatalf("%s (%v)", missing, envErr)
	}
	conn, err := net.DialTimeout("tcp", envVal.Brokers[0], 5*time.Second)
	if err != nil {
		t.Fatalf("%s (kafka at %s does not answer: %v)", missing, envVal.Brokers[0], err)
	}
	_ = conn.Close()
	return envVal
}

func loadEnv() (Environment, error) {
	vars := map[string]string{}
	if os.Getenv("KAFKA_BROKERS") != "" && os.Getenv("SCHEMA_REGISTRY_URL") != "" {
		for _, k := range append([]string{"KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "PERSONIO_CDC_VERIFIER_PYTHON",
			"PERSONIO_CDC_VERIFIER_SCRIPT", "PERSONIO_CDC_TESTENV"}, secureVars...) {
			vars[k] = os.Getenv(k)
		}
	} else {
		root, err := repoRoot()
		if err != nil {
			return Environment{}, err
		}
		vars, err = readEnvFile(filepath.Join(root, ".testenv", "env"))
		if err != nil {
			return Environment{}, err
		}
	}
	e := Environment{
		RegistryURL:   strings.TrimRight(vars["SCHEMA_REGISTRY_URL"], "/"),
		TestenvScript: vars["PERSONIO_CDC_TESTENV"],
	}
	for _, b := range strings.Split(vars["KAFKA_BROKERS"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.Brokers = append(e.Brokers, b)
		}
	}
	e.Secure = SecureEnvironment{
		KafkaCAFile:           vars["PERSONIO_CDC_SECURE_KAFKA_CA_FILE"],
		KafkaSASLMechanism:    vars["PERSONIO_CDC_SECURE_KAFKA_SASL_MECHANISM"],
		KafkaSASLUsername:     vars["PERSONIO_CDC_SECURE_KAFKA_SASL_USERNAME"],
		KafkaSASLPasswordFile: vars["PERSONIO_CDC_SECURE_KAFKA_SASL_PASSWORD_FILE"],
		RegistryURL:           strings.TrimRight(vars["PERSONIO_CDC_SECURE_REGISTRY_URL"], "/"),
		RegistryUsername:      vars["PERSONIO_CDC_SECURE_REGISTRY_USERNAME"],
		RegistryPasswordFile:  vars["PERSONIO_CDC_SECURE_REGISTRY_PASSWORD_FILE"],
	}
	for _, b := range strings.Split(vars["PERSONIO_CDC_SECURE_KAFKA_BROKERS"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.Secure.KafkaBrokers = append(e.Secure.KafkaBrokers, b)
		}
	}
	if len(e.Brokers) == 0 || e.RegistryURL == "" {
		return Environment{}, errors.New("KAFKA_BROKERS or SCHEMA_REGISTRY_URL is empty")
	}
	if py, script := vars["PERSONIO_CDC_VERIFIER_PYTHON"], vars["PERSONIO_CDC_VERIFIER_SCRIPT"]; py != "" && script != "" {
		e.VerifierCmd = []string{py, script}
	}
	if e.TestenvScript == "" {
		if root, err := repoRoot(); err == nil {
			e.TestenvScript = filepath.Join(root, "scripts", "testenv")
		}
	}
	return e, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// readEnvFile parses the `export KEY=VALUE` lines scripts/testenv writes.
func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		vars[k] = v
	}
	return vars, sc.Err()
}

// UniqueTopic returns a topic name that no other test or run uses: base, the test's name and a
// random suffix, restricted to the characters Kafka allows.
func UniqueTopic(t testing.TB, base string) string {
	t.Helper()
	var sfx [4]byte
	if _, err := rand.Read(sfx[:]); err != nil {
		t.Fatalf("random topic suffix: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		default:
			return '_'
		}
	}, base+"."+t.Name())
	if len(name) > 200 {
		name = name[:200]
	}
	return name + "." + hex.EncodeToString(sfx[:])
}

// CreateTopic creates a topic with replication factor 1 and the given configs, failing the test
// when Kafka refuses it.
func CreateTopic(t testing.TB, topic string, partitions int, configs map[string]string) {
	t.Helper()
	env := Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := env.Client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// VerifiedRecord is one record as the independent Python consumer decoded it.
type VerifiedRecord struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       *string           `json:"key"`
	Headers   map[string]string `json:"headers"`
	// Value is the decoded Avro record (nil for a tombstone): decimals are strings with their full
	// scale, dates "YYYY-MM-DD", timestamps RFC 3339 UTC with milliseconds, bytes base64, numbers
	// json.Number.
	Value map[string]any `json:"value"`
}

// RunVerifier reads topic from offset 0 to its end with the independent Python consumer and
// returns every record, ordered by partition then offset.
func RunVerifier(t testing.TB, topic string) []VerifiedRecord {
	t.Helper()
	env := Env(t)
	out := runVerifier(t, env, nil, "--brokers", strings.Join(env.Brokers, ","),
		"--registry", env.RegistryURL, "--topic", topic)
	var recs []VerifiedRecord
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	for {
		var r VerifiedRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("verifier output: %v", err)
		}
		recs = append(recs, r)
	}
	return recs
}

// VerifierPartitions returns, for each key, the partition librdkafka's murmur2_random
// partitioner (the Java client's default for keyed records) picks among partitions partitions.
func VerifierPartitions(t testing.TB, partitions int, keys []string) map[string]int {
	t.Helper()
	env := Env(t)
	in := strings.Join(keys, "\n") + "\n"
	out := runVerifier(t, env, strings.NewReader(in), "--brokers", strings.Join(env.Brokers, ","),
		"--partitions", strconv.Itoa(partitions), "--keys-file", "-")
	got := make(map[string]int, len(keys))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var r struct {
			Key       string `json:"key"`
			Partition int    `json:"partition"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("verifier output %q: %v", sc.Text(), err)
		}
		got[r.Key] = r.Partition
	}
	if len(got) != len(keys) {
		t.Fatalf("verifier placed %d keys, want %d", len(got), len(keys))
	}
	return got
}

func runVerifier(t testing.TB, env Environment, stdin *strings.Reader, args ...string) []byte {
	t.Helper()
	if len(env.VerifierCmd) == 0 {
		t.Fatalf("%s (no verifier command: PERSONIO_CDC_VERIFIER_PYTHON/_SCRIPT unset)", missing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.VerifierCmd[0], append(env.VerifierCmd[1:], args...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("verifier %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// RestartKafka stops the broker with SIGTERM and starts it again on the same data and port,
// returning once it answers.
func RestartKafka(t testing.TB) {
	t.Helper()
	env := Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, env.TestenvScript, "restart-kafka").CombinedOutput()
	if err != nil {
		t.Fatalf("restart kafka: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// String renders the environment for test logs.
func (e Environment) String() string {
	return fmt.Sprintf("kafka %s, registry %s", strings.Join(e.Brokers, ","), e.RegistryURL)
}
