package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// Secret values of the test world; none may reach logs, /status or stdout.
const (
	testClientSecret   = "client-secret-that-must-never-print-5f1e"
	testRegistryPass   = "registry-password-never-printed-93ab"
	testRegistryUser   = "cdc"
	testPersons        = 20
	testTenant         = "acme"
	testRegistryHeader = "Basic " // + base64(user:pass), see newWorld
)

// syncBuffer is an io.Writer safe for the concurrent writes of a running command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// invoke runs the CLI in-process and returns its exit code, stdout and stderr.
func invoke(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errOut syncBuffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	code := runMain(ctx, a, args)
	return code, out.String(), errOut.String()
}

// world is a simulated Personio, an in-process Kafka and a schema registry with basic auth.
type world struct {
	sim *personiotest.Server
	env map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	rate := personiotest.Rate{PerMinute: 60000, Burst: 200}
	sim := personiotest.NewTestServer(t, personiotest.Options{
		Persons: testPersons, Seed: 7, ClientSecret: testClientSecret, RateLimit: rate, CompensationRateLimit: rate,
	})
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	auth := testRegistryHeader + base64.StdEncoding.EncodeToString([]byte(testRegistryUser+":"+testRegistryPass))
	reg := srfake.New(srfake.WithAuth(auth))
	t.Cleanup(reg.Close)
	secretFile := filepath.Join(t.TempDir(), "client_secret")
	if err := os.WriteFile(secretFile, []byte(testClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &world{sim: sim, env: map[string]string{
		"PERSONIO_BASE_URL":                  sim.URL(),
		"PERSONIO_CLIENT_ID":                 personiotest.DefaultClientID,
		"PERSONIO_CLIENT_SECRET_FILE":        secretFile,
		"PERSONIO_TENANT":                    testTenant,
		"PERSONIO_RATE_LIMIT_PER_MINUTE":     "60000",
		"PERSONIO_RATE_BURST":                "200",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE": "60000",
		"COMPENSATION_RATE_BURST":            "200",
		"KAFKA_BROKERS":                      strings.Join(cluster.ListenAddrs(), ","),
		"KAFKA_REPLICATION_FACTOR":           "1",
		"KAFKA_TOPIC_PARTITIONS":             "3",
		"SCHEMA_REGISTRY_URL":                reg.URL(),
		"SCHEMA_REGISTRY_USERNAME":           testRegistryUser,
		"SCHEMA_REGISTRY_PASSWORD":           testRegistryPass,
		"LOG_LEVEL":                          "debug",
		"LOG_FORMAT":                         "json",
	}}
}

func (w *world) with(kv ...string) map[string]string {
	env := make(map[string]string, len(w.env)+len(kv)/2)
	for k, v := range w.env {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{testClientSecret, testRegistryPass} {
		if strings.Contains(text, s) {
			t.Errorf("%s reveals a secret:\n%s", where, text)
		}
	}
}

func TestDemoJSONEmitsCreatesUpdatesDeletes(t *testing.T) {
	code, stdout, stderr := invoke(t.Context(), nil, "demo", "--output", "json", "--cycles", "4", "--persons", "15")
	if code != exitOK {
		t.Fatalf("demo exit %d\nstderr:\n%s", code, stderr)
	}
	ops := map[string]int{}
	entities := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		var m struct {
			Topic string `json:"topic"`
			Key   string `json:"key"`
			Value *struct {
				Op      string `json:"op"`
				EventID string `json:"event_id"`
				Source  struct {
					Tenant string `json:"tenant"`
				} `json:"source"`
			} `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", lines, err, sc.Text())
		}
		entities[m.Topic] = true
		if m.Value == nil {
			ops["tombstone"]++
			continue
		}
		ops[m.Value.Op]++
		if len(m.Value.EventID) != 32 || !strings.HasPrefix(m.Key, m.Value.Source.Tenant+":") {
			t.Errorf("line %d: event id %q, key %q, tenant %q", lines, m.Value.EventID, m.Key, m.Value.Source.Tenant)
		}
	}
	for _, op := range []string{"c", "u", "d", "tombstone"} {
		if ops[op] == 0 {
			t.Errorf("no %q events in the demo output (got %v)", op, ops)
		}
	}
	if ops["d"] != ops["tombstone"] {
		t.Errorf("every delete needs a tombstone: %d d, %d tombstones", ops["d"], ops["tombstone"])
	}
	for _, e := range change.Names() {
		if !entities["personio."+e] {
			t.Errorf("no event on personio.%s; topics seen: %v", e, entities)
		}
	}
}

func TestDemoTextShowsCyclesAndReplay(t *testing.T) {
	code, stdout, stderr := invoke(t.Context(), nil, "demo", "--cycles", "2", "--persons", "5")
	if code != exitOK {
		t.Fatalf("demo exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"cycle 1/2 · full sync", "cycle 2/2 · full sync", "complete:", "matches the simulator"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestSyncExitCodes(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()

	code, out, errOut := invoke(ctx, w.env, "sync")
	if code != exitOK {
		t.Fatalf("first full sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "full sync") || !strings.Contains(out, "complete") {
		t.Errorf("sync output:\n%s", out)
	}
	assertNoSecrets(t, "sync stdout", out)
	assertNoSecrets(t, "sync logs", errOut)
	if !strings.Contains(errOut, `"personio_client_secret":`) {
		t.Errorf("the debug log lacks the (redacted) configuration:\n%s", errOut)
	}

	code, out, _ = invoke(ctx, w.env, "sync", "--incremental", "--output", "json")
	var res struct {
		Kind    string `json:"kind"`
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || res.Kind != "incremental" || res.Outcome != "complete" {
		t.Errorf("incremental sync: exit %d, %+v (%v)\n%s", code, res, err, out)
	}

	// Half the company disappears (a credential that lost a scope looks like this): the
	// mass-delete guard refuses, the sync fails; the override publishes the deletes.
	w.sim.Churn(personiotest.Churn{Deletions: testPersons / 2})
	code, out, _ = invoke(ctx, w.env, "sync")
	if code != exitError || !strings.Contains(out, "DELETE GUARD TRIPPED") {
		t.Errorf("guarded sync: exit %d, want %d\n%s", code, exitError, out)
	}
	code, out, errOut = invoke(ctx, w.env, "sync", "--delete-guard-override")
	if code != exitOK {
		t.Errorf("override sync: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = invoke(ctx, w.env, "resnapshot")
	if code != exitOK || !strings.Contains(out, "r="+fmt.Sprint(len(w.sim.Truth().Persons))) {
		t.Errorf("resnapshot: exit %d\n%s\n%s", code, out, errOut)
	}

	// One entity only: "r" for every compensation, nothing for persons.
	code, out, errOut = invoke(ctx, w.env, "resnapshot", "--entity", "compensations", "--output", "json")
	var one struct {
		Outcome  string `json:"outcome"`
		Entities []struct {
			Entity  string         `json:"entity"`
			Changes map[string]int `json:"changes"`
		} `json:"entities"`
	}
	if err := json.Unmarshal([]byte(out), &one); err != nil || code != exitOK || one.Outcome != "complete" ||
		len(one.Entities) != 1 || one.Entities[0].Entity != "compensations" || one.Entities[0].Changes["r"] == 0 {
		t.Errorf("resnapshot --entity compensations: exit %d, %+v (%v)\n%s\n%s", code, one, err, out, errOut)
	}

	checkReplayAndTail(t, w)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"both full and incremental", w.env, []string{"sync", "--full", "--incremental"}, exitConfig},
		{"bad flag value", w.env, []string{"sync", "--full-sync-interval", "soon"}, exitConfig},
		{"unknown flag", w.env, []string{"sync", "--nope"}, exitConfig},
		{"help", w.env, []string{"sync", "--help"}, exitOK},
		{"unknown entity", w.env, []string{"resnapshot", "--entity", "absences"}, exitConfig},
		{"unknown entity in a list", w.env, []string{"resnapshot", "--entity", "persons,absences"}, exitConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := invoke(ctx, tt.env, tt.args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.want, out, errOut)
			}
			if strings.HasPrefix(tt.name, "unknown entity") && !strings.Contains(errOut, "want persons or compensations") {
				t.Errorf("the error does not name the valid entities:\n%s", errOut)
			}
			assertNoSecrets(t, "stderr", errOut)
		})
	}
}

// TestSyncWithWrongSecretFails: a refused credential fails the sync at once (not partial), the
// message names the settings to fix, and the secret is printed nowhere.
func TestSyncWithWrongSecretFails(t *testing.T) {
	w := newWorld(t)
	const secret = "wrong-secret-never-printed-77c2"
	code, out, errOut := invoke(t.Context(), w.with("PERSONIO_CLIENT_SECRET_FILE", "", "PERSONIO_CLIENT_SECRET", secret), "sync")
	if code != exitError {
		t.Errorf("exit %d, want %d\n%s", code, exitError, out)
	}
	for _, want := range []string{": failed in", "config.credential_refused", "PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "sync failed") || !strings.Contains(errOut, "PERSONIO_CLIENT_SECRET") {
		t.Errorf("stderr lacks the failure naming the setting:\n%s", errOut)
	}
	for where, text := range map[string]string{"stdout": out, "stderr": errOut} {
		assertNoSecrets(t, where, text)
		if strings.Contains(text, secret) {
			t.Errorf("%s reveals the wrong secret", where)
		}
	}
	if n := w.sim.Stats().Endpoint("POST /v2/auth/token"); n > 2 {
		t.Errorf("%d token requests, want at most 2", n)
	}
}

func TestBadConfigurationExits2NamingEveryProblem(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{
			args: []string{"run"},
			want: []string{"PERSONIO_CLIENT_ID is required", "PERSONIO_CLIENT_SECRET is required", "PERSONIO_TENANT is required"},
		},
		{
			args: []string{"run", "--tenant", "acme", "--client-id", "x", "--admin-addr", "nope", "--delete-guard-ratio", "2"},
			env:  map[string]string{"PERSONIO_CLIENT_SECRET": testClientSecret, "KAFKA_BROKERS": "k", "LOG_FORMAT": "xml"},
			want: []string{`ADMIN_ADDR "nope" is not host:port`, "DELETE_GUARD_RATIO must be greater than 0", `KAFKA_BROKERS entry "k"`, `LOG_FORMAT "xml"`},
		},
		{
			args: []string{"tail", "--schema-registry-url", "ftp://x"},
			want: []string{"SCHEMA_REGISTRY_URL must be an absolute http:// or https:// URL"},
		},
		{args: []string{"frobnicate"}, want: []string{`unknown command "frobnicate"`}},
		{args: []string{"demo", "--cycles", "0", "--output", "yaml"}, want: []string{"--cycles", "--output \"yaml\""}},
		{args: []string{}, want: []string{"Usage: personio-cdc <command>"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := invoke(t.Context(), tt.env, tt.args...)
			if code != exitConfig {
				t.Errorf("exit %d, want %d\n%s", code, exitConfig, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			assertNoSecrets(t, "stderr", errOut)
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesMetricsStatusAndStopsOnSignal(t *testing.T) {
	w := newWorld(t)
	addr := freeAddr(t)
	env := w.with("ADMIN_ADDR", addr, "FULL_SYNC_INTERVAL", "1h", "INCREMENTAL_SYNC_INTERVAL", "0")
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, a, []string{"run"}) }()

	// Wait for the first full sync to finish (the status says DONE for every entity).
	base := "http://" + addr
	var status string
	for i := 0; ; i++ {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d\n%s", code, stderr.String())
		default:
		}
		var code int
		code, status = get(t, base+"/status")
		if code == http.StatusOK && strings.Count(status, `"phase": "DONE"`) == 3 {
			break
		}
		if i > 3000 {
			t.Fatalf("no completed sync; last status:\n%s\nlogs:\n%s", status, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz %d %s", code, body)
	}
	code, metrics := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics %d", code)
	}
	for _, series := range []string{
		`personio_cdc_build_info{`,
		// The full sync, and the employment refresh's batches (runs of kind full) after it. Every
		// per-tenant series carries the tenant label; the shared Kafka client's do not.
		`personio_cdc_sync_runs_total{kind="full",result="complete",tenant="acme"} `,
		`personio_cdc_employment_refresh_persons{tenant="acme"} ` + fmt.Sprint(testPersons),
		`personio_cdc_changes_total{entity="persons",op="c",tenant="acme"} ` + fmt.Sprint(testPersons),
		`personio_cdc_last_successful_sync_timestamp_seconds{entity="persons",tenant="acme"}`,
		`personio_cdc_last_successful_sync_timestamp_seconds{entity="compensations",tenant="acme"}`,
		`personio_cdc_api_requests_total{`,
		`personio_cdc_kafka_messages_written_total{topic="personio.persons"}`,
		`personio_cdc_state_entities{entity="persons",tenant="acme"} ` + fmt.Sprint(testPersons),
		`personio_cdc_state_topic_reads_total{topic="personio.persons"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	for _, want := range []string{`"tenant": "acme"`, `"state": "running"`, `"PERSONIO_CLIENT_SECRET": "\u003credacted\u003e"`, `"SCHEMA_REGISTRY_PASSWORD": "\u003credacted\u003e"`, `"FULL_SYNC_INTERVAL": "1h0m0s"`} {
		if !strings.Contains(status, want) {
			t.Errorf("/status lacks %s:\n%s", want, status)
		}
	}
	assertNoSecrets(t, "/status", status)
	assertNoSecrets(t, "/metrics", metrics)

	cancel() // SIGTERM
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run exit %d after a signal, want 0\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not stop after the signal")
	}
	logs := stderr.String()
	assertNoSecrets(t, "logs", logs)
	for _, want := range []string{"personio-cdc started", "sync complete", "personio-cdc stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != 0 {
		t.Error("admin server still up after run returned")
	}
}

// checkReplayAndTail reads the topics back: replay's current state of every entity's topic
// (persons, compensations, employments: change.Entities) matches the simulator, and tail
// --from-beginning prints every record of every topic, decoded (JSON and text), then stops
// cleanly on a signal.
func checkReplayAndTail(t *testing.T, w *world) {
	t.Helper()
	ctx := t.Context()
	code, out, errOut := invoke(ctx, w.env, "replay")
	if code != exitOK {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	truth := w.sim.Truth()
	want, err := oracle.Expected(truth, testTenant, extract.Windows(time.Now(), config.Default().Sync.CompensationLookbackMonths))
	if err != nil {
		t.Fatal(err)
	}
	var records int
	perTopic := map[string]int{} // records per topic
	live := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		var topic string
		var rec, keys, lv int
		if n, _ := fmt.Sscanf(line, "%s %d %d %d", &topic, &rec, &keys, &lv); n == 4 {
			records += rec
			perTopic[topic] = rec
			live[topic] = lv
		}
	}
	for _, e := range change.Entities() {
		topic := "personio." + string(e)
		if live[topic] != want.Len(e) || perTopic[topic] == 0 {
			t.Errorf("replay: %s has %d live keys in %d records, simulator %d\n%s", topic, live[topic], perTopic[topic], want.Len(e), out)
		}
	}
	code, out, _ = invoke(ctx, w.env, "replay", "--topic", "persons", "--output", "json")
	if n := strings.Count(out, "\n"); code != exitOK || n != len(truth.Persons) {
		t.Errorf("replay --output json: exit %d, %d lines, want %d", code, n, len(truth.Persons))
	}
	assertNoSecrets(t, "replay", out)
	// An entity name stands for its topic: the employments, each naming its person.
	code, out, _ = invoke(ctx, w.env, "replay", "--topic", "employments", "--output", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != want.Len(change.Employments) {
		t.Errorf("replay --topic employments: exit %d, %d lines, want %d", code, len(lines), want.Len(change.Employments))
	}
	persons := map[string]bool{}
	for _, p := range truth.Persons {
		persons[p.ID] = true
	}
	for _, l := range lines {
		var m struct {
			Topic string `json:"topic"`
			Value struct {
				After struct {
					PersonID           string `json:"person_id"`
					WeeklyWorkingHours any    `json:"weekly_working_hours"`
				} `json:"after"`
			} `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Topic != "personio.employments" || !persons[m.Value.After.PersonID] {
			t.Errorf("replay --topic employments: line %s (%v): want an employment of a person of the simulator", l, err)
			break
		}
	}

	// tail, JSON and text: every record of every topic.
	for _, output := range []string{"json", "text"} {
		tctx, cancel := context.WithCancel(ctx)
		var stdout, stderr syncBuffer
		a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return w.env[k] }}
		done := make(chan int, 1)
		go func() { done <- runMain(tctx, a, []string{"tail", "--from-beginning", "--output", output}) }()
		for i := 0; strings.Count(stdout.String(), "\n") < records; i++ {
			if i > 3000 {
				t.Fatalf("tail --output %s printed %d of %d records\n%s", output, strings.Count(stdout.String(), "\n"), records, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("tail --output %s: exit %d after a signal\n%s", output, code, stderr.String())
		}
		if got := strings.Count(stdout.String(), "\n"); got != records {
			t.Errorf("tail --output %s printed %d records, replay read %d", output, got, records)
		}
		got := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if output == "json" {
				var m struct {
					Topic string `json:"topic"`
				}
				_ = json.Unmarshal([]byte(l), &m)
				got[m.Topic]++
				continue
			}
			// "<op> <entity> <key> ...": the entity column names the topic's entity.
			if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[2], testTenant+":") {
				got["personio."+f[1]]++
			}
		}
		for topic, n := range perTopic {
			if got[topic] != n {
				t.Errorf("tail --output %s printed %d records of %s, replay read %d", output, got[topic], topic, n)
			}
		}
	}
}

func TestSchemasCommands(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	env := map[string]string{"SCHEMA_REGISTRY_URL": reg.URL(), "TOPIC_PREFIX": "hr"}
	ctx := t.Context()

	code, out, errOut := invoke(ctx, env, "schemas", "print", "--entity", "compensations")
	if code != exitOK || !strings.Contains(out, `"name": "CompensationChange"`) || strings.Contains(out, "PersonChange") {
		t.Errorf("print: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(ctx, env, "schemas", "check")
	if code != exitOK || !strings.Contains(out, "hr.persons-value: compatible") {
		t.Errorf("check before register: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(ctx, env, "schemas", "register")
	if code != exitOK || !strings.Contains(out, "hr.persons-value: registered, id") || !strings.Contains(out, "hr.compensations-value: registered") ||
		!strings.Contains(out, "hr.employments-value: registered") {
		t.Errorf("register: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(ctx, env, "schemas", "check", "--entity", "persons")
	if code != exitOK || !strings.Contains(out, "hr.persons-value: compatible") {
		t.Errorf("check after register: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = invoke(ctx, env, "schemas", "check", "--entity", "employments")
	if code != exitOK || !strings.Contains(out, "hr.employments-value: compatible") {
		t.Errorf("check employments after register: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := invoke(ctx, env, "schemas", "drop"); code != exitConfig {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	if code, _, _ := invoke(ctx, env, "schemas", "print", "--entity", "payslips"); code != exitConfig {
		t.Errorf("unknown entity: exit %d", code)
	}
	if code, out, _ := invoke(ctx, nil, "version", "--output", "json"); code != exitOK || !strings.Contains(out, `"go_version"`) {
		t.Errorf("version: %d %s", code, out)
	}
}

func TestHelpGoesToStdoutWithExamples(t *testing.T) {
	for _, c := range commands() {
		args := []string{c.name, "--help"}
		if c.name == "schemas" {
			args = []string{"schemas", "print", "--help"}
		}
		code, out, errOut := invoke(t.Context(), nil, args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%s --help: exit %d, stderr %q", c.name, code, errOut)
		}
		if !strings.Contains(out, "Usage: personio-cdc "+c.name) || (c.name != "version" && !strings.Contains(out, "Examples:")) {
			t.Errorf("%s --help lacks usage or examples:\n%s", c.name, out)
		}
	}
}

func TestReplayBeforeAnySyncExplains(t *testing.T) {
	w := newWorld(t)
	code, _, errOut := invoke(t.Context(), w.env, "replay")
	if code != exitError || !strings.Contains(errOut, "the topic does not exist") {
		t.Errorf("replay of missing topics: exit %d\n%s", code, errOut)
	}
}

// TestRunStopsWhenTheCredentialIsRefused: `run` with a wrong secret does not retry forever: the
// second refused sync stops the service with exit 1 and a log line naming the settings.
func TestRunStopsWhenTheCredentialIsRefused(t *testing.T) {
	w := newWorld(t)
	const secret = "wrong-secret-never-printed-0b3d"
	env := w.with("ADMIN_ADDR", freeAddr(t), "FULL_SYNC_INTERVAL", "1h", "INCREMENTAL_SYNC_INTERVAL", "100ms",
		"PERSONIO_CLIENT_SECRET_FILE", "", "PERSONIO_CLIENT_SECRET", secret)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails rather than blocks
	defer cancel()
	code, out, errOut := invoke(ctx, env, "run")
	if ctx.Err() != nil {
		t.Fatalf("run did not stop on its own\n%s", errOut)
	}
	if code != exitError {
		t.Errorf("exit %d, want %d\n%s", code, exitError, errOut)
	}
	var stopped map[string]any
	for line := range strings.SplitSeq(errOut, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(fmt.Sprint(rec["msg"]), "personio-cdc stopped:") {
			stopped = rec
		}
	}
	if stopped == nil || stopped["level"] != "ERROR" || !strings.Contains(fmt.Sprint(stopped["err"]), "PERSONIO_CLIENT_SECRET") ||
		!strings.Contains(fmt.Sprint(stopped["err"]), "2 consecutive syncs") {
		t.Errorf("no error line saying why the service stopped: %v\n%s", stopped, errOut)
	}
	for where, text := range map[string]string{"stdout": out, "stderr": errOut} {
		assertNoSecrets(t, where, text)
		if strings.Contains(text, secret) {
			t.Errorf("%s reveals the wrong secret", where)
		}
	}
}

// TestSecretPastedIntoFileSettingIsNotPrinted: a secret pasted into PERSONIO_CLIENT_SECRET_FILE
// instead of a path is reported as a file that cannot be read, naming the setting and why, and
// the value appears nowhere.
func TestSecretPastedIntoFileSettingIsNotPrinted(t *testing.T) {
	w := newWorld(t)
	const pasted = "pasted-secret-never-printed-4b9e"
	code, out, errOut := invoke(t.Context(), w.with("PERSONIO_CLIENT_SECRET_FILE", pasted), "sync")
	if code != exitConfig {
		t.Errorf("exit %d, want %d\n%s", code, exitConfig, errOut)
	}
	if !strings.Contains(errOut, "PERSONIO_CLIENT_SECRET_FILE: the file it names cannot be read: not found") {
		t.Errorf("stderr does not say which file setting failed and why:\n%s", errOut)
	}
	for where, text := range map[string]string{"stdout": out, "stderr": errOut} {
		if strings.Contains(text, pasted) {
			t.Errorf("%s reveals the value of PERSONIO_CLIENT_SECRET_FILE:\n%s", where, text)
		}
	}
}

// TestReplayInterruptedFails: a replay stopped before it read the topics to their end printed
// nothing, so it must not exit 0 as if the topics were empty.
func TestReplayInterruptedFails(t *testing.T) {
	w := newWorld(t)
	if code, out, errOut := invoke(t.Context(), w.env, "sync"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // interrupted before it starts reading
	code, out, errOut := invoke(ctx, w.env, "replay", "--output", "json")
	if code != exitError || !strings.Contains(errOut, "interrupted") {
		t.Errorf("interrupted replay: exit %d, want %d with a message\nstdout:\n%s\nstderr:\n%s", code, exitError, out, errOut)
	}
}
