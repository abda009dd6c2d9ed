//go:build integration

package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// faultEnv is one fault case: a simulated company synced into fresh topics.
type faultEnv struct {
	t       *testing.T
	s       *sim
	c       *cdc
	epochs  []epoch
	deleted map[string]bool
	began   time.Time
}

// newFaultEnv starts the simulator with simArgs and a personio-cdc configuration with the
// harness's settings plus cdcEnv (retries are logged at debug level, so LOG_LEVEL=debug).
func newFaultEnv(t *testing.T, simArgs []string, cdcEnv ...string) *faultEnv {
	t.Helper()
	return attach(t, startSim(t, simArgs...), cdcEnv...)
}

// attach configures a personio-cdc with fresh topics for a running simulator.
func attach(t *testing.T, s *sim, cdcEnv ...string) *faultEnv {
	t.Helper()
	c := newCDC(t, s, append([]string{"LOG_LEVEL=debug"}, cdcEnv...)...)
	f := &faultEnv{t: t, s: s, c: c, deleted: map[string]bool{}, began: time.Now()}
	f.epochs = []epoch{newEpoch(t, endOffsets(t, c.topics()...), s.truth())}
	return f
}

// churn changes the company and starts a new epoch.
func (f *faultEnv) churn(ch personiotest.Churn) {
	f.t.Helper()
	start := endOffsets(f.t, f.c.topics()...)
	res := f.s.churn(ch)
	for _, id := range res.Deletions {
		f.deleted[id] = true
	}
	f.epochs = append(f.epochs, newEpoch(f.t, start, f.s.truth()))
}

var standardChurn = personiotest.Churn{Hires: 3, Terminations: 2, Deletions: 2, Renames: 3, EmailChanges: 1,
	AttributeChanges: 1, SalaryChanges: 4, Bonuses: 2, EmploymentChanges: 2, CostCenterChanges: 2}

// converged checks the end state: a further full sync without faults publishes nothing (the
// topics already hold the truth), and the audit of every topic passes.
func (f *faultEnv) converged() {
	f.t.Helper()
	f.s.setFaults(personiotest.Faults{})
	if r := f.c.syncOK("full", 3*time.Minute); r.published() != 0 {
		f.t.Errorf("a full sync after the fault published %d events: the faulted sync had not converged", r.published())
	}
	tl := audit(f.t, f.c, f.epochs, f.deleted, f.s.truth())
	f.t.Logf("%s converged: %s; wall time %s", f.t.Name(), tl, time.Since(f.began).Round(time.Second))
}

// retries counts the personio-cdc log's "personio request retried" lines by reason.
func retries(t *testing.T, p *proc) map[string]int {
	t.Helper()
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(p.log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "personio request retried" {
			out[l.Reason]++
		}
	}
	return out
}

func sortedCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// faultedSync runs a full sync under whatever faults are set and requires it to complete:
// these faults cost time, never data.
func (f *faultEnv) faultedSync(what string) {
	f.t.Helper()
	before := f.s.stats()
	p := f.c.start("full")
	if code := p.wait(f.t, 4*time.Minute); code != 0 {
		f.t.Fatalf("full sync under %s exited %d; log:\n%s", what, code, p.logTail())
	}
	r := p.result(f.t)
	if r.Outcome != "complete" {
		f.t.Fatalf("full sync under %s: outcome %s", what, r.Outcome)
	}
	after := f.s.stats()
	injected := map[string]int64{}
	for k, v := range after.Faults {
		injected[k] = v - before.Faults[k]
	}
	f.t.Logf("%s: sync complete in %s, %d changes; Personio requests %d, 429s %d, 401s %d, injected faults [%s]; client retries by reason %v",
		what, time.Since(p.started).Round(time.Millisecond), r.published(), after.Total-before.Total,
		after.RateLimited-before.RateLimited, statusCount(after, 401)-statusCount(before, 401),
		sortedCounts(injected), retries(f.t, p))
}

// TestIntegrationFault429 syncs through a Personio with a tight budget while the client is
// configured for 100 times more: the 429 storm costs time only.
func TestIntegrationFault429(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "40", "--seed", "429", "--rate-per-minute", "300", "--burst", "5",
		"--comp-rate-per-minute", "120", "--comp-burst", "2"},
		"PERSONIO_RATE_LIMIT_PER_MINUTE=30000", "PERSONIO_RATE_BURST=200",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE=30000", "COMPENSATION_RATE_BURST=200")
	t.Log("injected: simulator budget 300/min burst 5 (compensations 120/min burst 2); client configured 30000/min burst 200")
	before := f.s.stats().RateLimited
	f.faultedSync("429 storm, initial sync")
	f.churn(standardChurn)
	f.faultedSync("429 storm, after churn")
	if n := f.s.stats().RateLimited - before; n == 0 {
		t.Error("the simulator answered no 429: the storm did not happen")
	}
	f.converged()
}

// TestIntegrationFault5xx syncs through bursts of 500/502/503/504 replies: every other 300 ms
// half of the requests fail.
func TestIntegrationFault5xx(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "80", "--seed", "500", "--no-rate-limit"})
	f.c.syncOK("full", 2*time.Minute)
	f.churn(standardChurn)
	burst := personiotest.Faults{P500: 0.2, P502: 0.1, P503: 0.15, P504: 0.05, Latency: 20 * time.Millisecond, LatencyJitter: 20 * time.Millisecond}
	calm := personiotest.Faults{Latency: 20 * time.Millisecond, LatencyJitter: 20 * time.Millisecond}
	t.Logf("injected: bursts of %+v, 300 ms on, 300 ms off", burst)
	stop := toggleFaults(f.s, burst, calm, 300*time.Millisecond)
	f.faultedSync("5xx bursts")
	stop()
	if st := f.s.stats(); st.Faults["500"]+st.Faults["502"]+st.Faults["503"]+st.Faults["504"] == 0 {
		t.Error("no 5xx was injected")
	}
	f.converged()
}

// toggleFaults alternates between two fault settings every period until stopped.
func toggleFaults(s *sim, on, off personiotest.Faults, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		state := true
		s.setFaults(on)
		for {
			select {
			case <-done:
				s.setFaults(off)
				return
			case <-tick.C:
				state = !state
				if state {
					s.setFaults(on)
				} else {
					s.setFaults(off)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// TestIntegrationFaultLatency syncs while replies take up to 700 ms and the client gives up on
// a request after 450 ms (PERSONIO_REQUEST_TIMEOUT): about a third of the requests time out and
// are retried.
func TestIntegrationFaultLatency(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "40", "--seed", "504", "--no-rate-limit"}, "PERSONIO_REQUEST_TIMEOUT=450ms")
	f.c.syncOK("full", 2*time.Minute)
	f.churn(standardChurn)
	spikes := personiotest.Faults{Latency: 0, LatencyJitter: 700 * time.Millisecond}
	t.Logf("injected: latency U[0, 700ms) on every reply; client request timeout 450ms")
	f.s.setFaults(spikes)
	p := f.c.start("full")
	if code := p.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("full sync under latency spikes exited %d; log:\n%s", code, p.logTail())
	}
	r := retries(t, p)
	t.Logf("latency spikes: sync complete in %s; client retries by reason %v", time.Since(p.started).Round(time.Millisecond), r)
	if len(r) == 0 {
		t.Error("no request was retried: no reply outlived the client timeout")
	}
	f.converged()
}

// TestIntegrationFaultBodies syncs through truncated bodies, malformed JSON and connection
// resets.
func TestIntegrationFaultBodies(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "60", "--seed", "200", "--no-rate-limit"})
	f.c.syncOK("full", 2*time.Minute)
	f.churn(standardChurn)
	bad := personiotest.Faults{Truncate: 0.1, Malformed: 0.1, Reset: 0.05}
	t.Logf("injected: %+v", bad)
	f.s.setFaults(bad)
	f.faultedSync("truncated, malformed and reset replies")
	if st := f.s.stats(); st.Faults["truncate"] == 0 || st.Faults["malformed"] == 0 {
		t.Errorf("faults injected %v: want truncated and malformed bodies", st.Faults)
	}
	f.converged()
}

// TestIntegrationFaultTokenExpiry lets every token die 300 ms after it was issued although the
// token response promises a day: the client must take the 401, fetch a new token and go on.
func TestIntegrationFaultTokenExpiry(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "60", "--seed", "401", "--no-rate-limit"})
	f.c.syncOK("full", 2*time.Minute)
	f.churn(standardChurn)
	expiry := personiotest.Faults{TokenTTL: 300 * time.Millisecond, Latency: 20 * time.Millisecond, LatencyJitter: 20 * time.Millisecond}
	t.Logf("injected: %+v", expiry)
	f.s.setFaults(expiry)
	before := statusCount(f.s.stats(), 401)
	f.faultedSync("token expiry")
	if n := statusCount(f.s.stats(), 401) - before; n == 0 {
		t.Error("no request got a 401: no token expired mid-sync")
	}
	f.converged()
}

// TestIntegrationFaultKafkaRestart restarts the broker while a sync publishes: persons are
// published while the slow compensation listing still runs, and the broker goes down then. The
// sync may fail; the next one must converge with nothing lost and nothing falsely deleted.
func TestIntegrationFaultKafkaRestart(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "120", "--seed", "9092", "--no-rate-limit", "--latency", "10ms", "--latency-jitter", "10ms"},
		"COMPENSATION_RATE_LIMIT_PER_MINUTE=120", "COMPENSATION_RATE_BURST=1")
	f.c.syncOK("full", 2*time.Minute)
	f.churn(personiotest.Churn{Hires: 10, Terminations: 3, Deletions: 3, Renames: 10, SalaryChanges: 15, Bonuses: 10,
		EmploymentChanges: 5, CostCenterChanges: 5})
	topics := f.c.topics()
	start := endOffsets(t, topics...)
	p := f.c.start("full")
	for !p.exited() && endOffsets(t, topics...).total() == start.total() {
		time.Sleep(5 * time.Millisecond)
	}
	if p.exited() {
		t.Fatalf("the sync ended (exit %d) before it published anything: the restart would not land mid-publish", p.code)
	}
	t.Logf("injected: scripts/testenv restart-kafka after the sync published %d events (%s in)",
		endOffsets(t, topics...).total()-start.total(), time.Since(p.started).Round(time.Millisecond))
	restart := time.Now()
	integration.RestartKafka(t)
	restarted := time.Now()
	endedDuring := p.exited()
	code := p.wait(t, 4*time.Minute)
	t.Logf("the restart took %s; the sync ended %s", restarted.Sub(restart).Round(time.Millisecond),
		map[bool]string{true: "before the broker was back", false: "after the broker was back"}[endedDuring])
	var outcome string
	if code == 0 {
		outcome = p.result(t).Outcome
	}
	t.Logf("sync during the broker restart: exit %d %s (a failure is allowed); %d events on the topics",
		code, outcome, endOffsets(t, topics...).total()-start.total())
	if code != 0 && !strings.Contains(strings.ToLower(p.log()), "kafka") {
		t.Errorf("the failed sync's log does not name Kafka:\n%s", p.logTail())
	}
	// The next sync converges.
	f.c.syncOK("full", 3*time.Minute)
	f.converged()
}

// TestIntegrationFaultKafkaRestartService restarts the broker under the long-running service
// (`personio-cdc run`: a full sync every 3 s, an incremental one every second) while the company
// churns: syncs fail while the broker is away, the service rebuilds its state when it is back
// and carries on. Once the churn stops, two more full syncs must leave the truth on the topics.
func TestIntegrationFaultKafkaRestartService(t *testing.T) {
	f := newFaultEnv(t, []string{"--persons", "100", "--seed", "9093", "--no-rate-limit", "--latency", "5ms", "--latency-jitter", "10ms"},
		"ADMIN_ADDR=127.0.0.1:0", "FULL_SYNC_INTERVAL=3s", "INCREMENTAL_SYNC_INTERVAL=1s",
		// The full syncs read the employments (the refresh would take its period to re-read
		// an employment whose change moved no updated_at).
		"EMPLOYMENT_REFRESH_PERIOD=0")
	p := f.c.startArgs("run")
	defer func() {
		if !p.exited() {
			p.kill()
		}
	}()
	// The churn goes on in this goroutine while the restart runs beside it; a churn waits for
	// the broker (it records the topics' end offsets first).
	env := integration.Env(t)
	restarted := make(chan error, 1)
	churns := 0
	churn := func() {
		f.churn(personiotest.Churn{Hires: 1, Renames: 1, SalaryChanges: 2, Bonuses: 1, Deletions: churns % 3 / 2,
			EmploymentChanges: 1, CostCenterChanges: churns % 2})
		churns++
		time.Sleep(300 * time.Millisecond)
	}
	for range 6 {
		churn()
	}
	t.Log("injected: scripts/testenv restart-kafka under the running service")
	go func() {
		out, err := exec.Command(env.TestenvScript, "restart-kafka").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		restarted <- err
	}()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-restarted:
			waiting = false
		default:
			churn()
		}
	}
	if err != nil {
		t.Fatalf("restart kafka: %v", err)
	}
	for range 10 {
		churn()
	}

	fulls := func() int {
		return p.schedulerSyncs("full")
	}
	n0 := fulls()
	deadline := time.Now().Add(2 * time.Minute)
	for fulls() < n0+2 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the service did not complete two full syncs after the restart (exit %v); log:\n%s", p.exited(), p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	log := p.log()
	t.Logf("service: %d syncs complete, %d failed, %d churns", strings.Count(log, `"msg":"sync complete"`),
		strings.Count(log, `"msg":"sync failed"`), churns)
	checkConverged(t, f.c, f.s.truth(), "full")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, time.Minute); code != 0 {
		t.Errorf("the service exited %d on SIGTERM, want 0", code)
	}
	tl := audit(t, f.c, f.epochs, f.deleted, f.s.truth())
	t.Logf("%s converged: %s; wall time %s", t.Name(), tl, time.Since(f.began).Round(time.Second))
}

// TestIntegrationFaultRegistryDown stops Apicurio before a sync starts, with changes waiting
// to be published: the sync must fail with an error naming the schema registry and publish
// nothing at all. Apicurio keeps its schemas in memory, so it comes back empty: the topics
// written before now carry schema ids the registry no longer knows. The next sync on those
// topics must either converge or refuse without publishing anything; a fresh deployment (new
// topics) must converge. It runs last: other topics' schema ids are gone after it.
func TestIntegrationFaultRegistryDown(t *testing.T) {
	env := integration.Env(t)
	f := newFaultEnv(t, []string{"--persons", "40", "--seed", "8081", "--no-rate-limit"})
	topics := f.c.topics()
	f.c.syncOK("full", 2*time.Minute)
	f.churn(standardChurn)
	before := endOffsets(t, topics...)
	requests := f.s.stats().Total

	testenv(t, env, "stop-registry")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			testenv(t, env, "start-registry")
		}
	})
	t.Log("injected: scripts/testenv stop-registry before the sync, with the churn waiting to be published")
	p := f.c.start("full")
	code := p.wait(t, 3*time.Minute)
	if code == 0 {
		t.Fatalf("the sync succeeded without a registry; log:\n%s", p.logTail())
	}
	u, _ := url.Parse(env.RegistryURL)
	msg := lastError(p.log())
	t.Logf("sync without a registry: exit %d after %s; Personio requests %d; error: %s", code,
		time.Since(p.started).Round(time.Millisecond), f.s.stats().Total-requests, msg)
	if !strings.Contains(strings.ToLower(msg), "registry") || !strings.Contains(msg, u.Host) {
		t.Errorf("the error %q does not name the schema registry and its address %s", msg, u.Host)
	}
	if n := endOffsets(t, topics...).total() - before.total(); n != 0 {
		t.Errorf("the sync without a registry published %d records, want none", n)
	}

	testenv(t, env, "start-registry")
	restarted = true

	// The same topics, the registry back but empty. Other schemas take the ids the topics'
	// records carry, as they would in a registry shared with other services: a reader that
	// trusted the ids would decode the history with the wrong schema.
	taken := occupyIDs(t, env.RegistryURL, schemaIDs(t, topics...))
	t.Logf("registered %d unrelated schemas so that the ids of the old records name other schemas", taken)
	p = f.c.start("full")
	code = p.wait(t, 3*time.Minute)
	if code == 0 {
		t.Logf("sync on the old topics with the emptied registry: complete")
		f.converged()
	} else {
		t.Logf("sync on the old topics with the emptied registry: exit %d, %s", code, lastError(p.log()))
		if n := endOffsets(t, topics...).total() - before.total(); n != 0 {
			t.Errorf("the sync that could not read its topics published %d records, want none", n)
		}
	}

	// A fresh deployment against the registry that is back converges.
	g := attach(t, f.s)
	g.c.syncOK("full", 2*time.Minute)
	g.churn(standardChurn)
	g.c.syncOK("full", 2*time.Minute)
	g.converged()
}

// schemaIDs returns the schema ids the records of topics carry in their wire format.
func schemaIDs(t *testing.T, topics ...string) map[int]int {
	t.Helper()
	env := integration.Env(t)
	kc, err := kafka.New(kafka.Config{Brokers: env.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := map[int]int{}
	for _, tp := range topics {
		err := kc.ReadToEnd(ctx, tp, func(r kafka.Record) error {
			if len(r.Value) >= 5 && r.Value[0] == 0 {
				ids[int(binary.BigEndian.Uint32(r.Value[1:5]))]++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read %s: %v", tp, err)
		}
	}
	return ids
}

// occupyIDs registers unrelated Avro schemas until the registry has handed out every id in
// ids (at most 1000 schemas); it returns how many it registered.
func occupyIDs(t *testing.T, registry string, ids map[int]int) int {
	t.Helper()
	top := 0
	for id := range ids {
		top = max(top, id)
	}
	n := 0
	for last := 0; last < top && n < 1000; n++ {
		schema := fmt.Sprintf(`{"type":"record","name":"Unrelated%d","fields":[{"name":"note","type":"string"}]}`, n)
		body, _ := json.Marshal(map[string]string{"schema": schema})
		subject := fmt.Sprintf("%s-unrelated-%d", t.Name(), n)
		resp, err := http.Post(registry+"/subjects/"+url.PathEscape(subject)+"/versions",
			"application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			ID int `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("register %s: %s %v", subject, resp.Status, err)
		}
		last = out.ID
	}
	return n
}

// lastError returns the message of the last error the log carries: the last line at level
// ERROR, or else the last line.
func lastError(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var l map[string]any
		if json.Unmarshal([]byte(lines[i]), &l) == nil {
			if l["level"] == "ERROR" {
				return strings.TrimSpace(lines[i])
			}
			continue
		}
		if strings.TrimSpace(lines[i]) != "" {
			return strings.TrimSpace(lines[i]) // plain text from main, e.g. "personio-cdc sync: …"
		}
	}
	return ""
}

func testenv(t *testing.T, env integration.Environment, cmd string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, env.TestenvScript, cmd)
	c.Env = os.Environ()
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/testenv %s: %v\n%s", cmd, err, out)
	}
	t.Logf("scripts/testenv %s: %s", cmd, strings.TrimSpace(string(out)))
}
