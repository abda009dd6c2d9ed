//go:build integration

package integration

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

const pipelineTenant = "acme"

// pipelineEnv is a simulated Personio tenant in process, and the real Kafka and Apicurio of the
// integration environment, reached through the service's own client, codec and Kafka adapter.
type pipelineEnv struct {
	t      *testing.T
	sim    *personiotest.Server
	client *personio.Client
	kafka  *kafka.Client
	reg    *codec.Registry
	codec  *codec.Codec
	prefix string
}

func newPipelineEnv(t *testing.T, persons int, simOpts ...func(*personiotest.Options)) *pipelineEnv {
	t.Helper()
	env := Env(t)
	fast := personiotest.Rate{PerMinute: 6e6, Burst: 1000}
	opts := personiotest.Options{Persons: persons, Seed: 7, NoRateLimit: true, RateLimit: fast, CompensationRateLimit: fast}
	for _, m := range simOpts {
		m(&opts)
	}
	sim := personiotest.NewTestServer(t, opts)
	client, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret,
		RateLimit:    personio.Rate{PerMinute: 6e6, Burst: 1000}, CompensationRateLimit: personio.Rate{PerMinute: 6e6, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kafka.New(kafka.Config{Brokers: env.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })
	reg, err := codec.NewRegistry(env.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	return &pipelineEnv{t: t, sim: sim, client: client, kafka: kc, reg: reg, codec: codec.New(reg),
		prefix: UniqueTopic(t, "pipeline")}
}

// runner builds a fresh runner, as a (re)started service would; mut adjusts its settings.
func (p *pipelineEnv) runner(mut ...func(*sync.Config)) *sync.Runner {
	p.t.Helper()
	cfg := sync.DefaultConfig()
	cfg.Tenant = pipelineTenant
	cfg.TopicPrefix = p.prefix
	cfg.Source = p.client
	cfg.Producer = p.kafka
	cfg.Registry = p.reg
	cfg.Codec = p.codec
	cfg.Reader = p.kafka
	cfg.Admin = p.kafka
	cfg.TopicSpec = kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1}
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Logger = slog.New(slog.DiscardHandler)
	for _, m := range mut {
		m(&cfg)
	}
	r, err := sync.New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

func (p *pipelineEnv) sync(r *sync.Runner, kind sync.Kind) sync.Result {
	p.t.Helper()
	res, err := r.Run(p.t.Context(), kind)
	if err != nil {
		p.t.Fatalf("%s sync: %v\ncause: %s", kind, err, causes(err))
	}
	if res.Outcome != sync.Complete {
		p.t.Fatalf("%s sync outcome %s: %v", kind, res.Outcome, res.Entities)
	}
	return res
}

func (p *pipelineEnv) expected() oracle.State {
	p.t.Helper()
	st, err := oracle.Expected(p.sim.Truth(), pipelineTenant, extract.Windows(time.Now(), sync.DefaultLookbackMonths))
	if err != nil {
		p.t.Fatal(err)
	}
	return st
}

func wantCounts(t *testing.T, res sync.Result, want map[change.Entity]map[string]change.Op) {
	t.Helper()
	for _, e := range change.Entities() {
		got := map[string]int{}
		for op, n := range res.Entity(string(e)).Changes {
			if n > 0 {
				got[op] = n
			}
		}
		if w := oracle.Count(want[e]); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s changes = %v, want %v", e, got, w)
		}
	}
}

// verify replays both topics with the independent Python consumer and checks that the state it
// rebuilds (last event per key, "d" and tombstones remove) is the simulator's ground truth:
// the same keys, and for each the fields payroll relies on, decimals compared exactly.
func (p *pipelineEnv) verify() {
	p.t.Helper()
	truth := p.sim.Truth()
	windows := extract.Windows(time.Now(), sync.DefaultLookbackMonths)

	persons := verifiedState(p.t, RunVerifier(p.t, p.prefix+".persons"))
	ComparePersons(p.t, pipelineTenant, persons, truth)
	comps := verifiedState(p.t, RunVerifier(p.t, p.prefix+".compensations"))
	CompareCompensations(p.t, pipelineTenant, comps, truth, windows)
	emps := verifiedState(p.t, RunVerifier(p.t, p.prefix+".employments"))
	CompareEmployments(p.t, pipelineTenant, emps, truth)
	p.t.Logf("verifier: %d persons, %d compensations and %d employments match the truth", len(persons), len(comps), len(emps))
}

// checkHashes replays every entity's topic with the service's own decoder and compares each
// live key's content hash with the oracle's: every field, not only those verify looks at.
func (p *pipelineEnv) checkHashes() {
	p.t.Helper()
	want := p.expected()
	for _, e := range change.Entities() {
		rp, err := oracle.ReplayTopic(p.t.Context(), p.kafka, p.codec, p.prefix+"."+string(e), e)
		if err != nil {
			p.t.Fatal(err)
		}
		if d := oracle.Diff(rp.State[e], want[e]); d != "" {
			p.t.Errorf("%s topic differs from the truth: %s", e, d)
		}
	}
}

// TestIntegrationPipelineEmployments: against the real Kafka and Apicurio, a full sync
// publishes every employment on <prefix>.employments and persons with their employment ids;
// employments that change without their person's updated_at moving (hours, titles, cost
// centers) and a person deleted are found by the next full sync; the three topics then hold
// exactly the truth, for the independent consumer and for the service's own replay.
func TestIntegrationPipelineEmployments(t *testing.T) {
	p := newPipelineEnv(t, 60)
	r := p.runner()
	truth0 := p.expected()
	if truth0.Len(change.Employments) == 0 {
		t.Fatal("the truth has no employments")
	}
	res := p.sync(r, sync.Full)
	wantCounts(t, res, oracle.Changes(oracle.State{}, truth0))
	p.verify()
	p.checkHashes()

	churn := p.sim.Churn(personiotest.Churn{EmploymentChanges: 4, CostCenterChanges: 3, Deletions: 1})
	if len(churn.EmploymentChanges)+len(churn.CostCenterChanges) == 0 {
		t.Fatalf("churn changed no employment: %+v", churn)
	}
	truth1 := p.expected()
	res = p.sync(r, sync.Full)
	wantCounts(t, res, oracle.Changes(truth0, truth1))
	if n := res.Entity(string(change.Employments)).Changes["u"]; n == 0 {
		t.Error("the full sync after the churn published no employment update")
	}
	p.verify()
	p.checkHashes()

	// A restarted runner rebuilds all three topics and finds nothing to publish.
	res = p.sync(p.runner(), sync.Full)
	if !res.Rebuilt || res.Published() != 0 {
		t.Errorf("restarted runner: rebuilt %v, published %d", res.Rebuilt, res.Published())
	}
}

// verifiedState folds the verifier's records: last event per key wins, a "d" event or a
// tombstone removes the key. It returns each live key's "after" record.
func verifiedState(t *testing.T, recs []VerifiedRecord) map[string]map[string]any {
	t.Helper()
	st := map[string]map[string]any{}
	for _, r := range recs {
		if r.Key == nil {
			t.Fatalf("%s offset %d has no key", r.Topic, r.Offset)
		}
		key := *r.Key
		if r.Value == nil {
			delete(st, key)
			continue
		}
		if op, _ := r.Value["op"].(string); op == "d" {
			delete(st, key)
			continue
		}
		after, ok := r.Value["after"].(map[string]any)
		if !ok {
			t.Fatalf("%s offset %d (%s): op %v without an after record", r.Topic, r.Offset, key, r.Value["op"])
		}
		if r.Headers["event_id"] != r.Value["event_id"] {
			t.Errorf("%s offset %d: header event_id %q, value %q", r.Topic, r.Offset, r.Headers["event_id"], r.Value["event_id"])
		}
		st[key] = after
	}
	return st
}

func TestIntegrationPipelineSync(t *testing.T) {
	p := newPipelineEnv(t, 60)
	r := p.runner()

	truth0 := p.expected()
	res := p.sync(r, sync.Full)
	if !res.Rebuilt {
		t.Error("the first sync did not build its state from the topics")
	}
	wantCounts(t, res, oracle.Changes(oracle.State{}, truth0))
	p.verify()

	res = p.sync(r, sync.Full)
	if n := res.Published(); n != 0 {
		t.Errorf("sync without changes published %d events", n)
	}

	p.sim.Churn(personiotest.Churn{Hires: 3, Terminations: 2, Deletions: 2, Renames: 3, EmailChanges: 2,
		AttributeChanges: 2, SalaryChanges: 4, Bonuses: 2})
	truth1 := p.expected()
	res = p.sync(r, sync.Full)
	wantCounts(t, res, oracle.Changes(truth0, truth1))
	p.verify()

	// Restart: the new runner reads the topics to their end and publishes nothing again.
	r2 := p.runner()
	res = p.sync(r2, sync.Full)
	if !res.Rebuilt || res.Published() != 0 {
		t.Errorf("after restart: rebuilt %v, published %d; want a rebuild and no event", res.Rebuilt, res.Published())
	}
	p.sim.Churn(personiotest.Churn{Hires: 1, Deletions: 1, Renames: 1, SalaryChanges: 2, Bonuses: 1})
	truth2 := p.expected()
	res = p.sync(r2, sync.Full)
	wantCounts(t, res, oracle.Changes(truth1, truth2))
	p.verify()
}

// TestIntegrationPipelineIncremental checks that incremental syncs publish the changes of
// recently updated persons and every compensation change, no deletes, and that the next full
// sync completes the picture.
func TestIntegrationPipelineIncremental(t *testing.T) {
	p := newPipelineEnv(t, 40)
	r := p.runner()
	truth0 := p.expected()
	p.sync(r, sync.Full)

	p.sim.Churn(personiotest.Churn{Hires: 2, Renames: 2, SalaryChanges: 2, Deletions: 1})
	truth1 := p.expected()
	want := oracle.Changes(truth0, truth1)
	res := p.sync(r, sync.Incremental)
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		w := oracle.Count(want[e])
		delete(w, "d")
		got := map[string]int{}
		for op, n := range res.Entity(string(e)).Changes {
			if n > 0 {
				got[op] = n
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("incremental %s changes %v, want %v", e, got, w)
		}
	}
	res = p.sync(r, sync.Full)
	if d := res.Entity("persons").Changes["d"]; d != 1 {
		t.Errorf("full sync after the incremental one deleted %d persons, want 1", d)
	}
	p.verify()
}

// TestIntegrationPipelineFaults syncs through a Personio that fails a share of its requests
// (5xx, resets, truncated and malformed bodies): the client's retries absorb them, and what
// reaches the topics is still exactly the truth.
func TestIntegrationPipelineFaults(t *testing.T) {
	p := newPipelineEnv(t, 50)
	p.sim.SetFaults(personiotest.Faults{P500: 0.03, P503: 0.03, P504: 0.02, Reset: 0.02, Truncate: 0.02, Malformed: 0.02})
	r := p.runner()
	p.sync(r, sync.Full)
	p.verify()
	p.sim.Churn(personiotest.Churn{Hires: 2, Deletions: 2, Renames: 2, SalaryChanges: 3, Bonuses: 2})
	p.sync(r, sync.Full)
	p.verify()
	if f := p.sim.Stats().Faults; len(f) == 0 {
		t.Error("no fault was injected; the test proves nothing")
	} else {
		t.Logf("faults injected: %v", f)
	}
}

// TestIntegrationPipelineKafkaRestart restarts the broker between syncs: the runner's Kafka
// client reconnects, the next sync publishes exactly the churn, and nothing is repeated.
func TestIntegrationPipelineKafkaRestart(t *testing.T) {
	p := newPipelineEnv(t, 30)
	r := p.runner()
	truth0 := p.expected()
	p.sync(r, sync.Full)

	RestartKafka(t)
	p.sim.Churn(personiotest.Churn{Hires: 2, Deletions: 1, Renames: 2, SalaryChanges: 2})
	truth1 := p.expected()
	res := p.sync(r, sync.Full)
	wantCounts(t, res, oracle.Changes(truth0, truth1))

	// A service started after the broker restart rebuilds the same state.
	res = p.sync(p.runner(), sync.Full)
	if !res.Rebuilt || res.Published() != 0 {
		t.Errorf("new runner after the broker restart: rebuilt %v, published %d", res.Rebuilt, res.Published())
	}
	p.verify()
}

// causes renders the chain of errors behind a sync error, one text per level: RunError's own
// text names only codes and settings, and a failing test needs the broker's words.
func causes(err error) string {
	var out []string
	for err != nil {
		out = append(out, err.Error())
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			var parts []string
			for _, c := range j.Unwrap() {
				parts = append(parts, causes(c))
			}
			out = append(out, "["+strings.Join(parts, " | ")+"]")
			break
		}
		err = errors.Unwrap(err)
	}
	return strings.Join(out, "\n  <- ")
}
