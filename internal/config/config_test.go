package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixtureSecrets are the secret values used in testdata; none may ever be printed.
var fixtureSecrets = []string{
	"fixture-client-secret-9f3a",
	"fixture-sasl-password-77b1",
	"fixture-registry-password-c0de",
	"fixture-url-password-1234",
	"fixture-pasted-secret-5e1d", // pasted into a _FILE setting instead of a path
}

// readEnv reads a KEY=VALUE fixture (blank lines and # comments ignored) into a getenv func.
func readEnv(t *testing.T, path string) func(string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		if strings.HasPrefix(v, `"`) {
			// A quoted value is a Go string literal: the fixture can hold control characters.
			if v, err = strconv.Unquote(v); err != nil {
				t.Fatalf("%s: bad quoted value in %q: %v", path, line, err)
			}
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return func(k string) string { return env[k] }
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c := Default()
	want := map[string]any{
		"base url":           c.Personio.BaseURL == "https://api.personio.de",
		"rate":               c.Personio.RateLimitPerMinute == 300 && c.Personio.RateBurst == 15,
		"comp rate":          c.Personio.CompensationRateLimitPerMinute == 300 && c.Personio.CompensationRateBurst == 5,
		"brokers":            reflect.DeepEqual(c.Kafka.Brokers, []string{"localhost:9092"}),
		"prefix":             c.Kafka.TopicPrefix == "personio",
		"topic":              c.Kafka.Topic("persons") == "personio.persons",
		"partitions":         c.Kafka.TopicPartitions == 6 && c.Kafka.ReplicationFactor == -1,
		"compaction lag":     c.Kafka.MinCompactionLag == 168*time.Hour && c.Kafka.MaxCompactionLag == 720*time.Hour,
		"erasure bound":      c.Kafka.SegmentRoll == 24*time.Hour && c.Kafka.DeleteRetention == 168*time.Hour,
		"registry":           c.SchemaRegistry.URL == "http://localhost:8081",
		"intervals":          c.Sync.FullInterval == time.Hour && c.Sync.IncrementalInterval == 5*time.Minute,
		"lookback":           c.Sync.CompensationLookbackMonths == 2,
		"guard":              c.Sync.DeleteGuardRatio == 0.2 && !c.Sync.DeleteGuardOverride,
		"admin":              c.Admin.Addr == "127.0.0.1:9464" && c.Admin.ShutdownTimeout == 30*time.Second,
		"log":                c.Log.Format == "text" && c.Log.Level == "info",
		"no secrets set":     !c.Personio.ClientSecret.IsSet() && !c.Kafka.SASLPassword.IsSet(),
		"compression":        c.Kafka.Compression == "snappy",
		"request timeout":    c.Personio.RequestTimeout == 30*time.Second,
		"listings":           c.Sync.EmploymentDetails && c.Sync.PersonListChains == 6 && c.Sync.CompensationSubWindows == 1,
		"publish batch":      c.Sync.PublishBatchSize == 5000,
		"employment refresh": c.Sync.EmploymentRefreshPeriod == 24*time.Hour && c.Sync.EmploymentRefreshBudgetShare == 0.5,
	}
	for name, ok := range want {
		if ok != true {
			t.Errorf("default %s is wrong: %+v", name, c)
		}
	}
	// Defaults minus the three required settings are valid.
	c.Personio.Tenant, c.Personio.ClientID, c.Personio.ClientSecret = "t", "id", "s"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults plus required settings invalid: %v", err)
	}
}

func TestGoodConfigs(t *testing.T) {
	tests := []struct {
		fixture string
		args    []string
		check   func(t *testing.T, c Config)
	}{
		{
			fixture: "minimal.env",
			check: func(t *testing.T, c Config) {
				if c.Personio.Tenant != "acme-gmbh" || c.Personio.ClientSecret.Value() != "fixture-client-secret-9f3a" {
					t.Errorf("got %+v", c.Personio)
				}
			},
		},
		{
			fixture: "full.env",
			check: func(t *testing.T, c Config) {
				if got := c.Personio.ClientSecret.Value(); got != "fixture-client-secret-9f3a" {
					t.Errorf("secret from file: got %q", got)
				}
				if got := c.Kafka.SASLPassword.Value(); got != "fixture-sasl-password-77b1" {
					t.Errorf("SASL password from file: got %q", got)
				}
				if !reflect.DeepEqual(c.Kafka.Brokers, []string{"kafka-0:9092", "kafka-1:9092", "kafka-2:9092"}) {
					t.Errorf("brokers %q", c.Kafka.Brokers)
				}
				if c.Kafka.Topic("compensations") != "hr.personio.compensations" {
					t.Errorf("topic %q", c.Kafka.Topic("compensations"))
				}
				if c.Sync.DeleteGuardRatio != 0.05 || c.Sync.FullInterval != 2*time.Hour || c.Admin.ShutdownTimeout != 45*time.Second {
					t.Errorf("sync/admin %+v %+v", c.Sync, c.Admin)
				}
				if c.Sync.EmploymentDetails || c.Sync.PersonListChains != 8 || c.Sync.CompensationSubWindows != 2 || c.Sync.PublishBatchSize != 250 {
					t.Errorf("listing settings %+v", c.Sync)
				}
				if c.Log.SlogLevel() != slog.LevelDebug {
					t.Errorf("level %v", c.Log.SlogLevel())
				}
			},
		},
		{
			// Flags win over the environment.
			fixture: "full.env",
			args:    []string{"--tenant", "from-flag", "--full-sync-interval=3h", "--kafka-brokers", "a:1,b:2", "--delete-guard-override"},
			check: func(t *testing.T, c Config) {
				if c.Personio.Tenant != "from-flag" || c.Sync.FullInterval != 3*time.Hour {
					t.Errorf("flags did not win: %q %v", c.Personio.Tenant, c.Sync.FullInterval)
				}
				if !reflect.DeepEqual(c.Kafka.Brokers, []string{"a:1", "b:2"}) {
					t.Errorf("brokers %q", c.Kafka.Brokers)
				}
				if !c.Sync.DeleteGuardOverride {
					t.Error("bool flag without value should set true")
				}
				if c.Personio.AppID != "acme-payroll" {
					t.Error("env value not given as a flag was lost")
				}
			},
		},
		{
			fixture: "minimal.env",
			args:    []string{"--sync-employment-details=false", "--person-list-chains", "32", "--compensation-sub-windows", "1"},
			check: func(t *testing.T, c Config) {
				if c.Sync.EmploymentDetails || c.Sync.PersonListChains != 32 || c.Sync.CompensationSubWindows != 1 {
					t.Errorf("listing flags not applied: %+v", c.Sync)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+strings.Join(tt.args, "_"), func(t *testing.T) {
			c, err := Load(tt.args, readEnv(t, filepath.Join("testdata", "good", tt.fixture)))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		fixture string
		args    []string
		want    []string // every one must appear, each as its own problem
	}{
		{
			fixture: "empty.env",
			want: []string{
				"PERSONIO_CLIENT_ID is required",
				"PERSONIO_CLIENT_SECRET is required",
				"PERSONIO_TENANT is required",
			},
		},
		{
			fixture: "values.env",
			want: []string{
				"PERSONIO_BASE_URL must be an absolute http:// or https:// URL",
				`PERSONIO_TENANT "acme:gmbh" must be`,
				"PERSONIO_RATE_LIMIT_PER_MINUTE must be greater than 0",
				`PERSONIO_RATE_BURST: "many" is not an integer`,
				`KAFKA_BROKERS entry "kafka-0" is not host:port`,
				`TOPIC_PREFIX "hr/personio" must be`,
				`KAFKA_COMPRESSION "brotli" must be`,
				"KAFKA_TOPIC_PARTITIONS must be between 1 and 10000",
				"KAFKA_REPLICATION_FACTOR must be between 1 and 32767",
				"SCHEMA_REGISTRY_URL must not contain credentials",
				`FULL_SYNC_INTERVAL: "hourly" is not a duration`,
				"INCREMENTAL_SYNC_INTERVAL must not be negative",
				"COMPENSATION_LOOKBACK_MONTHS must be between 0 and 24",
				"DELETE_GUARD_RATIO must be greater than 0 and at most 1",
				`SYNC_EMPLOYMENT_DETAILS: "sometimes" is not a boolean`,
				"PERSON_LIST_CHAINS must be between 1 and 32",
				"COMPENSATION_SUB_WINDOWS must be between 1 and 28",
				"PUBLISH_BATCH_SIZE must be between 1 and 100000",
				`ADMIN_ADDR "9464" is not host:port`,
				"SHUTDOWN_TIMEOUT must be greater than 0",
				`LOG_FORMAT "xml" must be text or json`,
				`LOG_LEVEL "loud" must be`,
			},
		},
		{
			fixture: "secrets.env",
			want: []string{
				"PERSONIO_CLIENT_SECRET and PERSONIO_CLIENT_SECRET_FILE are both set",
				"KAFKA_SASL_PASSWORD_FILE: the file it names cannot be read: not found",
				"KAFKA_SASL_USERNAME is required when KAFKA_SASL_MECHANISM is set",
				"SCHEMA_REGISTRY_PASSWORD_FILE: the file it names is empty",
				"KAFKA_TLS_CA_FILE is set but KAFKA_TLS_ENABLED is false",
			},
		},
		{
			fixture: "pasted.env",
			want: []string{
				"PERSONIO_CLIENT_SECRET_FILE: the file it names cannot be read: not found",
				"KAFKA_SASL_PASSWORD_FILE: the file it names cannot be read: it is a directory",
				"SCHEMA_REGISTRY_PASSWORD_FILE: the file it names cannot be read: not found",
			},
		},
		{
			fixture: "nonfinite.env",
			want: []string{
				"PERSONIO_CLIENT_ID must not contain control characters",
				"PERSONIO_APP_ID must not contain control characters",
				"PERSONIO_PARTNER_ID must not contain control characters",
				`PERSONIO_RATE_LIMIT_PER_MINUTE: "NaN" is not a finite number`,
				`COMPENSATION_RATE_LIMIT_PER_MINUTE: "+Inf" is not a finite number`,
				`DELETE_GUARD_RATIO: "-inf" is not a finite number`,
				"KAFKA_SASL_USERNAME must not contain control characters",
				"KAFKA_TOPIC_PARTITIONS must be between 1 and 10000",
				"KAFKA_REPLICATION_FACTOR must be between 1 and 32767",
				"SCHEMA_REGISTRY_USERNAME must not contain control characters",
			},
		},
		{
			fixture: "minimal.env",
			args:    []string{"--rate-limit", "Inf", "--compensation-rate-limit=nan"},
			want: []string{
				`--rate-limit: "Inf" is not a finite number`,
				`--compensation-rate-limit: "nan" is not a finite number`,
			},
		},
		{
			fixture: "compaction.env",
			want: []string{
				"MAX_COMPACTION_LAG (168h0m0s) must not be shorter than MIN_COMPACTION_LAG (720h0m0s)",
				"SEGMENT_ROLL must be at least 1ms",
				"DELETE_RETENTION must not be negative",
			},
		},
		{
			fixture: "intervals.env",
			want: []string{
				"INCREMENTAL_SYNC_INTERVAL (1h0m0s) must be shorter than FULL_SYNC_INTERVAL (30m0s)",
				"EMPLOYMENT_REFRESH_PERIOD (5m0s) must be at least 10m, or 0 to disable the rolling refresh of employments",
				"EMPLOYMENT_REFRESH_BUDGET_SHARE must be greater than 0 and at most 1",
				"KAFKA_SASL_MECHANISM is required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set",
			},
		},
		{
			fixture: "minimal.env",
			args:    []string{"--rate-burst", "0", "--shutdown-timeout", "soon"},
			want: []string{
				"PERSONIO_RATE_BURST must be at least 1",
				`--shutdown-timeout: "soon" is not a duration`,
			},
		},
		{
			fixture: "minimal.env",
			args:    []string{"--person-list-chains", "0", "--compensation-sub-windows=29"},
			want: []string{
				"PERSON_LIST_CHAINS must be between 1 and 32",
				"COMPENSATION_SUB_WINDOWS must be between 1 and 28",
			},
		},
		{
			fixture: "minimal.env",
			args:    []string{"--client-secret", "x"},
			want:    []string{"flag provided but not defined: -client-secret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+strings.Join(tt.args, "_"), func(t *testing.T) {
			dir := "bad"
			if len(tt.args) > 0 {
				dir = "good"
			}
			_, err := Load(tt.args, readEnv(t, filepath.Join("testdata", dir, tt.fixture)))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			if len(cerr.Problems) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(cerr.Problems), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range cerr.Problems {
					if strings.Contains(p.Message, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q in:\n%v", w, err)
				}
			}
			for _, s := range fixtureSecrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error reveals secret %q:\n%v", s, err)
				}
			}
		})
	}
}

func TestGroupsScopeValidation(t *testing.T) {
	// `tail` loads only Kafka and registry settings: no Personio credentials needed, and no
	// Personio flags offered.
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	l := NewLoader(fs, GroupKafka|GroupRegistry)
	if err := fs.Parse([]string{"--kafka-brokers", "k:9092"}); err != nil {
		t.Fatal(err)
	}
	c, err := l.Load(mapEnv(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Kafka.Brokers[0] != "k:9092" {
		t.Errorf("brokers %q", c.Kafka.Brokers)
	}
	if fs.Lookup("client-id") != nil {
		t.Error("Personio flag registered for a Kafka-only command")
	}
	if fs.Lookup("client-secret") != nil || fs.Lookup("kafka-sasl-password") != nil {
		t.Error("a secret is a flag")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c, err := Load(nil, readEnv(t, "testdata/good/full.env"))
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	jsonLog := slog.New(slog.NewJSONHandler(&logBuf, nil))
	textLog := slog.New(slog.NewTextHandler(&logBuf, nil))
	jsonLog.Info("config", "config", c, "secret", c.Personio.ClientSecret)
	textLog.Info("config", "config", c, "secret", c.Kafka.SASLPassword, "registry", c.SchemaRegistry)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":   c.String(),
		"%v":       fmt.Sprintf("%v", c),
		"%+v":      fmt.Sprintf("%+v", c),
		"%#v":      fmt.Sprintf("%#v", c),
		"%s":       fmt.Sprintf("%s", c.Personio.ClientSecret),
		"%q":       fmt.Sprintf("%q", c.Personio.ClientSecret),
		"%x":       fmt.Sprintf("%x", c.Kafka.SASLPassword),
		"%d":       fmt.Sprintf("%d", c.SchemaRegistry.Password),
		"personio": fmt.Sprintf("%+v %#v", c.Personio, c.Personio),
		"JSON":     string(js),
		"slog":     logBuf.String(),
		"Usage":    Usage(GroupAll),
	}
	for name, out := range outputs {
		for _, s := range fixtureSecrets {
			if strings.Contains(out, s) {
				t.Errorf("%s reveals %q:\n%s", name, s, out)
			}
		}
	}
	var decoded map[string]string
	if err := json.Unmarshal(js, &decoded); err != nil || decoded["PERSONIO_CLIENT_SECRET"] != Redacted ||
		decoded["FULL_SYNC_INTERVAL"] != "2h0m0s" || decoded["KAFKA_BROKERS"] != "kafka-0:9092,kafka-1:9092,kafka-2:9092" {
		t.Errorf("JSON does not show the settings by name, secrets redacted (%v): %s", err, js)
	}
	if !strings.Contains(outputs["String"], "PERSONIO_CLIENT_SECRET=<redacted>\n") {
		t.Errorf("String does not list the redacted secret:\n%s", outputs["String"])
	}
	if !strings.Contains(outputs["slog"], "personio_client_secret=<redacted>") {
		t.Errorf("slog text output does not show the redacted secret:\n%s", logBuf.String())
	}
	if c.Personio.ClientSecret.Value() != "fixture-client-secret-9f3a" {
		t.Error("Value lost the secret")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty, so that 'unset' stays visible")
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	u := Usage(GroupAll)
	for _, s := range settings {
		if !strings.Contains(u, s.env) {
			t.Errorf("usage misses %s", s.env)
		}
	}
	if !strings.Contains(u, "PERSONIO_CLIENT_SECRET (or PERSONIO_CLIENT_SECRET_FILE)") {
		t.Error("usage does not mention the _FILE form of secrets")
	}
}

// Validate catches what the loader would reject too, for a Config built in code: every
// non-finite number and every control character, all at once, each naming its setting.
func TestValidateNonFiniteAndControlCharacters(t *testing.T) {
	c := Default()
	c.Personio.Tenant, c.Personio.ClientID, c.Personio.ClientSecret = "acme", "id", "s"
	c.Personio.AppID = "acme\r\nX-Injected: 1"
	c.Personio.PartnerID = "p\x7f"
	c.Personio.RateLimitPerMinute = math.NaN()
	c.Personio.CompensationRateLimitPerMinute = math.Inf(1)
	c.Sync.DeleteGuardRatio = math.NaN()
	c.Kafka.SASLMechanism, c.Kafka.SASLUsername, c.Kafka.SASLPassword = "PLAIN", "u\n", "pw"
	c.SchemaRegistry.Username, c.SchemaRegistry.Password = "r\r", "pw"
	err := c.Validate()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	got := map[string]bool{}
	for _, p := range cerr.Problems {
		if !strings.HasPrefix(p.Message, p.Setting+" ") {
			t.Errorf("problem %q does not start with its setting %s", p.Message, p.Setting)
		}
		got[p.Setting] = true
	}
	want := []string{"PERSONIO_APP_ID", "PERSONIO_PARTNER_ID", "PERSONIO_RATE_LIMIT_PER_MINUTE",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE", "DELETE_GUARD_RATIO", "KAFKA_SASL_USERNAME", "SCHEMA_REGISTRY_USERNAME"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no problem for %s in:\n%v", w, err)
		}
	}
	if len(cerr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(cerr.Problems), len(want), err)
	}
	if strings.ContainsAny(err.Error(), "\r\x7f") || strings.Contains(err.Error(), "X-Injected") {
		t.Errorf("the error echoes the control characters:\n%q", err.Error())
	}
}

// Why a _FILE setting could not be read is said in words that never contain the value: it may
// be the secret itself, pasted by mistake.
func TestReadProblemNeverEchoesThePath(t *testing.T) {
	const pasted = "fixture-pasted-secret-5e1d"
	tests := []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: pasted, Err: syscall.ENOENT}, "not found"},
		{&fs.PathError{Op: "open", Path: pasted, Err: syscall.EACCES}, "permission denied"},
		{&fs.PathError{Op: "read", Path: pasted, Err: syscall.EISDIR}, "it is a directory"},
		{&fs.PathError{Op: "open", Path: pasted, Err: syscall.ENAMETOOLONG}, "file name too long"},
		{fmt.Errorf("wrapped %s: %w", pasted, errors.New("odd")), "unreadable"},
	}
	for _, tt := range tests {
		got := readProblem(tt.err)
		if !strings.Contains(got, tt.want) || strings.Contains(got, pasted) {
			t.Errorf("readProblem(%v) = %q, want %q and never the path", tt.err, got, tt.want)
		}
	}
}
