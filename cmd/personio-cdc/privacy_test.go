package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// Markers the proxy below writes into every personal value the simulator serves: names,
// e-mail addresses, titles, reasons, custom attribute values and compensation type names get
// markerText in front, every numeric id markerID, every amount markerAmount. None of them may
// appear in a log line (at debug level), /metrics, /status, the status page, a command's
// output or an error message.
const (
	markerText   = "ZZMARK-"
	markerID     = "9876543"
	markerAmount = "8675309"
)

// markerRE finds the markers: text case-insensitively (e-mail addresses are lower-cased),
// ids as 9876543 followed by the simulator's id, amounts as 8675309 followed by digits.
var markerRE = regexp.MustCompile(`(?i)zzmark-|\b` + markerID + `\d{4,}|\b` + markerAmount + `\d+`)

// proxy modes.
const (
	markNormal        = iota
	markInvalid       // one person's created_at and one compensation's amount are not readable
	markUnprocessable // the persons listing answers 422 with a body echoing a person
	markServerError   // employments answer 400 with a body echoing a person
	markMalformed     // one person's first_name is an object: the page does not decode
	markHuge          // one person carries a custom attribute value too large for the topic
)

// markingProxy serves the simulator with every personal value marked (see the constants)
// and maps marked ids in requests back to the simulator's.
type markingProxy struct {
	sim  *personiotest.Server
	mode atomic.Int32
	srv  *httptest.Server
}

func newMarkingProxy(t *testing.T, sim *personiotest.Server) *markingProxy {
	p := &markingProxy{sim: sim}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

var markedIDRE = regexp.MustCompile(`\b` + markerID + `(\d+)`)

func (p *markingProxy) serve(w http.ResponseWriter, r *http.Request) {
	// Marked ids in the path and the query go back to the simulator's ids.
	r.URL.Path = markedIDRE.ReplaceAllString(r.URL.Path, "$1")
	r.URL.RawPath = ""
	r.URL.RawQuery = markedIDRE.ReplaceAllString(r.URL.RawQuery, "$1")
	r.RequestURI = r.URL.RequestURI()
	mode := p.mode.Load()
	echo := `{"personio_trace_id":"trace-1","errors":[{"title":"ZZMARK-Jane ZZMARK-Doe (` + markerID + `0000001) is broken",` +
		`"detail":"person ` + markerID + `0000001 zzmark-jane@zzmark.example salary ` + markerAmount + `1.00","type":"persons.invalid"}]}`
	switch {
	case mode == markUnprocessable && r.URL.Path == "/v2/persons":
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, echo)
		return
	case mode == markServerError && strings.HasSuffix(r.URL.Path, "/employments"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, echo)
		return
	}
	rec := httptest.NewRecorder()
	p.sim.Handler().ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK && strings.HasPrefix(r.URL.Path, "/v2/") && !strings.HasPrefix(r.URL.Path, "/v2/auth") {
		var doc any
		if err := json.Unmarshal(body, &doc); err == nil {
			first := true
			markJSON(doc, "", func(kind string, m map[string]any) {
				if !first || kind != "person" || r.URL.Path != "/v2/persons" {
					if mode != markInvalid {
						return
					}
				}
				switch {
				case !first:
				case mode == markMalformed:
					m["first_name"] = map[string]any{"ZZMARK-nested": markerID + "0000002"}
					first = false
				case mode == markHuge:
					m["custom_attributes"] = []any{map[string]any{"id": "dynamic_huge", "type": "STRING",
						"value": strings.Repeat(markerText+"huge ", 300000)}}
					first = false
				case mode != markInvalid:
				case kind == "person" && r.URL.Path == "/v2/persons":
					m["created_at"] = markerText + "not-a-time"
					first = false
				case kind == "compensation":
					if a, ok := m["amount"].(map[string]any); ok {
						a["value"] = markerText + "1.234,56"
						first = false
					}
				}
			})
			body, _ = json.Marshal(doc)
		}
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// textKeys are the keys whose text values are personal (or may be).
var textKeys = map[string]bool{"first_name": true, "last_name": true, "preferred_name": true, "email": true,
	"gender": true, "title": true, "reason": true, "name": true, "label": false}

// markJSON marks a decoded JSON document in place. visit sees each object with a guess of
// what it is (person, compensation, other).
func markJSON(v any, key string, visit func(kind string, m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch s, isText := e.(string); {
			case k == "href" || k == "_meta":
				continue
			case isText && k == "id" && regexp.MustCompile(`^\d+$`).MatchString(s):
				x[k] = markerID + s
			case isText && k == "email":
				x[k] = strings.ToLower(markerText) + s
			case isText && textKeys[k] && s != "":
				x[k] = markerText + s
			case isText && k == "value" && key == "amount":
				x[k] = markerAmount + s
			case k == "value" && key != "amount" && e != nil:
				// A custom attribute's value, whatever its type: a marked text.
				b, _ := json.Marshal(e)
				x[k] = markerText + string(b)
			default:
				markJSON(e, k, visit)
			}
		}
		kind := "other"
		switch {
		case x["amount"] != nil && x["effective_from"] != nil:
			kind = "compensation"
		case x["email"] != nil || x["first_name"] != nil:
			kind = "person"
		}
		visit(kind, x)
	case []any:
		for _, e := range x {
			markJSON(e, key, visit)
		}
	}
}

// findMarkers returns the markers in text, for a message.
func findMarkers(text string) []string {
	return markerRE.FindAllString(text, 5)
}

// markedWorld is the simulator behind a marking proxy, an in-process Kafka and registry, and
// the environment of a service using them at debug level.
type markedWorld struct {
	sim       *personiotest.Server
	proxy     *markingProxy
	cluster   *kfake.Cluster
	clusterUp *bool
	env       map[string]string
	addr      string
}

func newMarkedWorld(t *testing.T) *markedWorld {
	t.Helper()
	rate := personiotest.Rate{PerMinute: 60000, Burst: 200}
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: testPersons, Seed: 11, ClientSecret: testClientSecret,
		RateLimit: rate, CompensationRateLimit: rate})
	proxy := newMarkingProxy(t, sim)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	clusterUp := new(bool)
	*clusterUp = true
	t.Cleanup(func() {
		if *clusterUp {
			cluster.Close()
		}
	})
	auth := testRegistryHeader + base64.StdEncoding.EncodeToString([]byte(testRegistryUser+":"+testRegistryPass))
	reg := srfake.New(srfake.WithAuth(auth))
	t.Cleanup(reg.Close)
	secretFile := filepath.Join(t.TempDir(), "client_secret")
	if err := os.WriteFile(secretFile, []byte(testClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := map[string]string{
		"PERSONIO_BASE_URL": proxy.srv.URL, "PERSONIO_CLIENT_ID": personiotest.DefaultClientID,
		"PERSONIO_CLIENT_SECRET_FILE": secretFile, "PERSONIO_TENANT": testTenant,
		"PERSONIO_RATE_LIMIT_PER_MINUTE": "60000", "PERSONIO_RATE_BURST": "200",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE": "60000", "COMPENSATION_RATE_BURST": "200",
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "KAFKA_REPLICATION_FACTOR": "1",
		"KAFKA_TOPIC_PARTITIONS": "3", "SCHEMA_REGISTRY_URL": reg.URL(),
		"SCHEMA_REGISTRY_USERNAME": testRegistryUser, "SCHEMA_REGISTRY_PASSWORD": testRegistryPass,
		"LOG_LEVEL": "debug", "LOG_FORMAT": "json", "ADMIN_ADDR": addr,
		"FULL_SYNC_INTERVAL": "1h", "INCREMENTAL_SYNC_INTERVAL": "0",
		"PERSONIO_REQUEST_TIMEOUT": "5s",
	}
	return &markedWorld{sim: sim, proxy: proxy, cluster: cluster, clusterUp: clusterUp, env: env, addr: addr}
}

// checkMarkers fails the test for every marker in text.
func checkMarkers(t *testing.T, what, text string) {
	t.Helper()
	if m := findMarkers(text); len(m) > 0 {
		t.Errorf("%s carries personal data %q:\n%s", what, m, text)
	}
}

// waitStatus polls /status until ok says it is what the caller waits for.
func waitStatus(t *testing.T, base string, ok func(string) bool, logs func() string) string {
	t.Helper()
	var status string
	for i := 0; ; i++ {
		var code int
		code, status = get(t, base+"/status")
		if code == http.StatusOK && ok(status) {
			return status
		}
		if i > 3000 {
			t.Fatalf("/status never got there; last:\n%s\nlogs:\n%s", status, logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkAdmin fetches /status, /metrics and the status page and looks for markers.
func checkAdmin(t *testing.T, base, when string) {
	t.Helper()
	for _, path := range []string{"/status", "/metrics", "/"} {
		code, body := get(t, base+path)
		if code != http.StatusOK {
			t.Errorf("%s %s: %d", when, path, code)
		}
		checkMarkers(t, when+" "+path, body)
	}
}

// TestNothingPersonalInLogsMetricsStatusAndErrors runs the service and failing syncs against
// the simulator with every personal value marked, at debug level, and looks for the markers
// in every log line, /metrics, /status, the status page, the commands' output (text and JSON)
// and every error message.
func TestNothingPersonalInLogsMetricsStatusAndErrors(t *testing.T) {
	w := newMarkedWorld(t)
	sim, proxy, cluster, env := w.sim, w.proxy, w.cluster, w.env
	check := func(what, text string) { t.Helper(); checkMarkers(t, what, text) }

	// The service: a complete full sync, then incremental syncs that Personio refuses with a
	// body echoing a person; everything it shows after each.
	env["INCREMENTAL_SYNC_INTERVAL"] = "100ms"
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, a, []string{"run"}) }()
	base := "http://" + w.addr
	waitStatus(t, base, func(s string) bool { return strings.Count(s, `"phase": "DONE"`) == 3 }, stderr.String)
	checkAdmin(t, base, "after a complete sync")
	proxy.mode.Store(markUnprocessable)
	waitStatus(t, base, func(s string) bool { return strings.Contains(s, "personio.http_422") }, stderr.String)
	checkAdmin(t, base, "after a failed sync")
	proxy.mode.Store(markNormal)
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("run exit %d", code)
	}
	env["INCREMENTAL_SYNC_INTERVAL"] = "0"
	check("run's log", stderr.String())
	check("run's output", stdout.String())
	// The markers reached Kafka, or the test proves nothing.
	code, out, errOut := invoke(t.Context(), env, "replay", "--output", "json")
	if code != exitOK || !markerRE.MatchString(out) {
		t.Fatalf("replay: exit %d; the published records carry no markers, so the proxy marked nothing\n%s", code, errOut)
	}
	for _, want := range []string{"zzmark-", markerID, markerAmount} {
		if !strings.Contains(strings.ToLower(out), want) {
			t.Fatalf("the published records carry no %q", want)
		}
	}

	syncs := []struct {
		name  string
		setup func()
		args  []string
	}{
		{"invalid items", func() { proxy.mode.Store(markInvalid) }, []string{"sync"}},
		{"a 422 echoing a person", func() { proxy.mode.Store(markUnprocessable) }, []string{"sync", "--output", "json"}},
		{"a 400 echoing a person on employments", func() { proxy.mode.Store(markServerError) }, []string{"sync"}},
		{"the field-loss guard", func() {
			proxy.mode.Store(markNormal)
			if err := sim.SetHiddenFields([]string{"email", "first_name", "custom_attributes.dynamic_1207"}); err != nil {
				t.Fatal(err)
			}
		}, []string{"sync"}},
		{"the delete guard", func() {
			_ = sim.SetHiddenFields(nil)
			sim.Churn(personiotest.Churn{Deletions: testPersons / 2})
		}, []string{"sync", "--output", "json"}},
		{"a page that does not decode", func() {
			sim.Churn(personiotest.Churn{Renames: 2})
			proxy.mode.Store(markMalformed)
		}, []string{"sync", "--delete-guard-override"}},
		{"an event too large for its topic", func() { proxy.mode.Store(markHuge) }, []string{"sync", "--output", "json"}},
		{"Kafka refuses every write", func() {
			proxy.mode.Store(markNormal)
			sim.Churn(personiotest.Churn{Renames: 3, SalaryChanges: 3})
			// An error Kafka does not retry, so the sync fails at once.
			cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				req := kreq.(*kmsg.ProduceRequest)
				resp := req.ResponseKind().(*kmsg.ProduceResponse)
				resp.Version = req.Version
				for _, rt := range req.Topics {
					st := kmsg.NewProduceResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewProduceResponseTopicPartition()
						sp.Partition = rp.Partition
						sp.ErrorCode = kerr.InvalidRequiredAcks.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
		}, []string{"sync"}},
		{"Kafka down", func() {
			cluster.Close()
			*w.clusterUp = false
		}, []string{"sync", "--delete-guard-override"}},
	}
	for _, s := range syncs {
		t.Run(s.name, func(t *testing.T) {
			s.setup()
			start := time.Now()
			code, out, errOut := invoke(t.Context(), env, s.args...)
			t.Logf("%s: exit %d in %s\n%s\n%s", s.name, code, time.Since(start).Round(time.Millisecond), out, errOut)
			if code != exitError {
				t.Errorf("exit %d, want %d (a failed or partial sync)\n%s\n%s", code, exitError, out, errOut)
			}
			check("output", out)
			check("log and errors", errOut)
		})
	}
}

// TestBinaryNothingPersonal runs the real binary at debug level against the marking proxy:
// the service through a complete and a refused sync (/status, /metrics, the status page, its
// log), then one-off syncs with invalid items and a 422 echoing a person (output and log).
func TestBinaryNothingPersonal(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	w := newMarkedWorld(t)
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range w.env {
		if k != "INCREMENTAL_SYNC_INTERVAL" {
			env = append(env, k+"="+v)
		}
	}
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "run")
	cmd.Env = append(env, "INCREMENTAL_SYNC_INTERVAL=100ms")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := "http://" + w.addr
	waitStatus(t, base, func(s string) bool { return strings.Count(s, `"phase": "DONE"`) == 3 }, stderr.String)
	checkAdmin(t, base, "after a complete sync")
	w.proxy.mode.Store(markUnprocessable)
	waitStatus(t, base, func(s string) bool { return strings.Contains(s, "personio.http_422") }, stderr.String)
	checkAdmin(t, base, "after a refused sync")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	checkMarkers(t, "the service's log", stderr.String())
	checkMarkers(t, "the service's output", stdout.String())

	for _, mode := range []int32{markInvalid, markUnprocessable, markServerError} {
		w.proxy.mode.Store(mode)
		var out, errOut syncBuffer
		c := exec.Command(bin, "sync", "--output", "json")
		c.Env = append(env, "INCREMENTAL_SYNC_INTERVAL=0")
		c.Stdout, c.Stderr = &out, &errOut
		var exit *exec.ExitError
		if err := c.Run(); !errors.As(err, &exit) || exit.ExitCode() != exitError {
			t.Errorf("sync in mode %d: %v, want exit %d\n%s", mode, err, exitError, errOut.String())
		}
		checkMarkers(t, fmt.Sprintf("sync's output (mode %d)", mode), out.String())
		checkMarkers(t, fmt.Sprintf("sync's log (mode %d)", mode), errOut.String())
	}
	// The markers are in what was published, or none of this proves anything.
	w.proxy.mode.Store(markNormal)
	c := exec.Command(bin, "replay", "--output", "json")
	c.Env = env
	out, err := c.Output()
	if err != nil || !markerRE.Match(out) {
		t.Errorf("replay: %v; the published records carry no markers", err)
	}
}
