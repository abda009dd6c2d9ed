package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

const tenant = "acme"

// unlimited lifts the client's own rate limit: the simulator runs without one in unit tests.
var (
	unlimited    = personio.Rate{PerMinute: 6e6, Burst: 1000}
	simUnlimited = personiotest.Rate{PerMinute: 6e6, Burst: 1000}
)

// harness is one simulated Personio tenant, an in-process Kafka and schema registry, and the
// real client, codec and Kafka adapter. Runners built from it share all of them, as a restarted
// service would.
type harness struct {
	t       testing.TB
	sim     *personiotest.Server
	cluster *kfake.Cluster
	client  *personio.Client
	kafka   *kafka.Client
	reg     *codec.Registry
	codec   *codec.Codec
	srfake  *srfake.Registry
}

func newHarness(t testing.TB, persons int) *harness {
	t.Helper()
	return newHarnessOpts(t, personiotest.Options{Persons: persons, Seed: 42})
}

// newHarnessOpts is newHarness for a simulator built from opts (rate limits lifted).
func newHarnessOpts(t testing.TB, opts personiotest.Options) *harness {
	t.Helper()
	opts.NoRateLimit = true
	// The client follows the x-ratelimit-* headers, which advertise these rates even when the
	// simulator enforces none.
	opts.RateLimit, opts.CompensationRateLimit = simUnlimited, simUnlimited
	sim := personiotest.NewTestServer(t, opts)
	client, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		RateLimit: unlimited, CompensationRateLimit: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kc, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := codec.NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, sim: sim, cluster: cluster, client: client, kafka: kc, reg: reg, codec: codec.New(reg), srfake: fake}
}

func (h *harness) config() Config {
	cfg := DefaultConfig()
	cfg.Tenant = tenant
	cfg.Source = h.client
	cfg.Producer = h.kafka
	cfg.Registry = h.reg
	cfg.Codec = h.codec
	cfg.Reader = h.kafka
	cfg.Admin = h.kafka
	cfg.TopicSpec = kafka.TopicSpec{Partitions: 3}
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

func (h *harness) runner(mut ...func(*Config)) *Runner {
	h.t.Helper()
	cfg := h.config()
	for _, m := range mut {
		m(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// expected is the state a complete full sync of the simulator must leave in the topics.
func (h *harness) expected() oracle.State {
	h.t.Helper()
	st, err := oracle.Expected(h.sim.Truth(), tenant, extract.Windows(time.Now(), DefaultLookbackMonths))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// statusOf returns the status of one entity.
func statusOf(st Status, entity string) EntityStatus {
	for _, e := range st.Entities {
		if e.Entity == entity {
			return e
		}
	}
	return EntityStatus{}
}

func (h *harness) replay(e change.Entity) oracle.Replay {
	h.t.Helper()
	rp, err := oracle.ReplayTopic(h.t.Context(), h.kafka, h.codec, publish.Topic(DefaultTopicPrefix, e), e)
	if err != nil {
		h.t.Fatal(err)
	}
	return rp
}

// checkTopics replays both topics from offset 0 and compares the state with want; it also
// checks the per-key version sequence and the tombstone after every delete.
func (h *harness) checkTopics(want oracle.State) map[change.Entity]oracle.Replay {
	h.t.Helper()
	return h.checkTopicsOf(want, change.Entities()...)
}

// checkTopicsOf is checkTopics for some entities only.
func (h *harness) checkTopicsOf(want oracle.State, entities ...change.Entity) map[change.Entity]oracle.Replay {
	h.t.Helper()
	out := map[change.Entity]oracle.Replay{}
	for _, e := range entities {
		rp := h.replay(e)
		if d := oracle.Diff(rp.State[e], want[e]); d != "" {
			h.t.Errorf("%s topic state differs from the truth: %s", e, d)
		}
		for key, vs := range rp.Versions {
			for i, v := range vs {
				if v != int64(i+1) {
					h.t.Errorf("%s %s versions %v, want 1, 2, 3, …", e, key, vs)
					break
				}
			}
		}
		ids := map[string]bool{}
		for i, m := range rp.Messages {
			if !m.Tombstone {
				if ids[m.Event.EventID] {
					h.t.Errorf("%s: event %s published twice", e, m.Event)
				}
				ids[m.Event.EventID] = true
			}
			if m.Event.Op == change.Delete && (i+1 >= len(rp.Messages) || !rp.Messages[i+1].Tombstone || rp.Messages[i+1].Key != m.Key) {
				// Messages interleave across partitions; look for the tombstone later on.
				found := false
				for _, n := range rp.Messages[i+1:] {
					if n.Key == m.Key {
						found = n.Tombstone
						break
					}
				}
				if !found {
					h.t.Errorf("%s: delete of %s not followed by its tombstone", e, m.Key)
				}
			}
			if !m.Tombstone && (m.Headers["event_id"] != m.Event.EventID || m.Headers["op"] != string(m.Event.Op) ||
				m.Headers["tenant"] != tenant || m.Headers["entity"] != string(e)) {
				h.t.Errorf("%s: headers %v do not match event %s", e, m.Headers, m.Event)
			}
		}
		out[e] = rp
	}
	return out
}

func run(t *testing.T, r *Runner, kind Kind) Result {
	t.Helper()
	res, err := r.Run(t.Context(), kind)
	if err != nil {
		t.Fatalf("%s sync: %v (result %+v)", kind, err, res)
	}
	return res
}

func changes(res Result, e change.Entity) map[string]int {
	out := map[string]int{}
	for op, n := range res.Entity(string(e)).Changes {
		if n > 0 {
			out[op] = n
		}
	}
	return out
}

func wantChanges(t *testing.T, res Result, want map[change.Entity]map[string]change.Op) {
	t.Helper()
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		if got, w := changes(res, e), oracle.Count(want[e]); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s changes = %v, want %v", e, got, w)
		}
	}
}

// newOps returns, by key, the op of the events of after that before did not hold.
func newOps(before, after oracle.Replay) map[string]change.Op {
	seen := map[string]bool{}
	for _, m := range before.Messages {
		seen[m.Event.EventID] = true
	}
	out := map[string]change.Op{}
	for _, m := range after.Messages {
		if !m.Tombstone && !seen[m.Event.EventID] {
			out[m.Key] = m.Event.Op
		}
	}
	return out
}

func TestRunLifecycle(t *testing.T) {
	h := newHarness(t, 40)
	r := h.runner()

	// Initial sync: exactly one "c" per entity.
	truth0 := h.expected()
	res := run(t, r, Full)
	if res.Outcome != Complete || !res.Rebuilt {
		t.Fatalf("initial sync: outcome %s rebuilt %v errors %v", res.Outcome, res.Rebuilt, res.Errors)
	}
	wantChanges(t, res, oracle.Changes(oracle.State{}, truth0))
	if truth0.Len(change.Persons) != 40 || truth0.Len(change.Compensations) == 0 {
		t.Fatalf("truth has %d persons, %d compensations in the windows", truth0.Len(change.Persons), truth0.Len(change.Compensations))
	}
	rp := h.checkTopics(truth0)
	for e, want := range map[change.Entity]int{change.Persons: 40, change.Compensations: truth0.Len(change.Compensations)} {
		if n := len(rp[e].Messages); n != want {
			t.Errorf("%s topic has %d messages after the initial sync, want %d", e, n, want)
		}
	}
	if got := r.Status(); statusOf(got, "persons").Phase != PhaseDone || got.Running {
		t.Errorf("status after the initial sync = %+v", got)
	}
	hwm := r.HighWaterMark()
	if hwm.IsZero() {
		t.Error("no high-water mark after a complete full sync")
	}

	// No change: nothing published.
	res = run(t, r, Full)
	if res.Published() != 0 || res.Outcome != Complete || res.Rebuilt {
		t.Errorf("no-change sync published %d (outcome %s, rebuilt %v)", res.Published(), res.Outcome, res.Rebuilt)
	}

	// Churn: exactly the c/u/d the truth implies.
	h.sim.Churn(personiotest.Churn{Hires: 3, Terminations: 2, Deletions: 2, Renames: 2, EmailChanges: 1,
		AttributeChanges: 2, SalaryChanges: 3, Bonuses: 2})
	truth1 := h.expected()
	want := oracle.Changes(truth0, truth1)
	if oracle.Count(want[change.Persons])["d"] != 2 || oracle.Count(want[change.Compensations])["c"] < 3 {
		t.Fatalf("the churn did not produce the changes the test relies on: %v", want)
	}
	before := h.checkTopics(truth0)
	res = run(t, r, Full)
	wantChanges(t, res, want)
	after := h.checkTopics(truth1)
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		got := newOps(before[e], after[e])
		if fmt.Sprint(got) != fmt.Sprint(want[e]) {
			t.Errorf("%s: new events by key = %v, want %v", e, got, want[e])
		}
	}
	if !r.HighWaterMark().After(hwm) {
		t.Errorf("high-water mark %v did not advance past %v after changes", r.HighWaterMark(), hwm)
	}

	// Incremental: persons changed since the high-water mark, compensations of the windows;
	// never a delete.
	h.sim.Churn(personiotest.Churn{Hires: 1, Renames: 2, SalaryChanges: 1, Deletions: 1})
	truth2 := h.expected()
	want = oracle.Changes(truth1, truth2)
	stats0 := h.sim.Stats()
	res = run(t, r, Incremental)
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		w := oracle.Count(want[e])
		delete(w, "d")
		if got := changes(res, e); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("incremental %s changes = %v, want %v (no deletes)", e, got, w)
		}
	}
	// The skew margin re-lists the persons the previous churn touched; never all of them.
	if n := employmentRequests(h.sim.Stats()) - employmentRequests(stats0); n == 0 || n >= 20 {
		t.Errorf("incremental sync fetched employments %d times; want only recently changed persons", n)
	}
	// The next full sync publishes the delete the incremental one left out.
	res = run(t, r, Full)
	if got := changes(res, change.Persons); got["d"] != 1 || len(got) != 1 {
		t.Errorf("full sync after incremental: persons changes %v, want the one delete", got)
	}
	h.checkTopics(truth2)

	// Restart: a new runner rebuilds the state from the topics and repeats nothing.
	r2 := h.runner()
	res = run(t, r2, Full)
	if !res.Rebuilt || res.Published() != 0 {
		t.Errorf("after restart: rebuilt %v, published %d, want a rebuild and nothing published", res.Rebuilt, res.Published())
	}
	if !r2.HighWaterMark().Equal(r.HighWaterMark()) {
		t.Errorf("high-water mark after restart and a full sync %v, want %v", r2.HighWaterMark(), r.HighWaterMark())
	}
	h.sim.Churn(personiotest.Churn{Hires: 1, Deletions: 1, Renames: 1, SalaryChanges: 1, Bonuses: 1})
	truth3 := h.expected()
	res = run(t, r2, Full)
	wantChanges(t, res, oracle.Changes(truth2, truth3))
	h.checkTopics(truth3)
}

func employmentRequests(s personiotest.Stats) int64 {
	var n int64
	for ep, byStatus := range s.Requests {
		if strings.Contains(ep, "employments") {
			for _, c := range byStatus {
				n += c
			}
		}
	}
	return n
}

// failingSource fails the persons listing after some pages and one compensation window.
type failingSource struct {
	extract.Source
	personPages int // pages delivered before the listing fails; -1 never fails
	window      string
	drop        func(personio.Person) bool // persons the credential does not see
}

var errListing = errors.New("listing broke off")

func (f *failingSource) ListPersons(ctx context.Context, flt personio.PersonFilter, fn func([]personio.Person) error) error {
	pages := 0
	flt.Limit = 10
	// Every chain of a split listing lists everything here, so "fails after n pages" still
	// means the first n pages of the company are all that was read.
	flt.CreatedAt, flt.CreatedAfter, flt.CreatedBefore = time.Time{}, time.Time{}, time.Time{}
	err := f.Source.ListPersons(ctx, flt, func(ps []personio.Person) error {
		if f.personPages >= 0 && pages == f.personPages {
			return errListing
		}
		pages++
		if f.drop != nil {
			ps = slices.DeleteFunc(slices.Clone(ps), f.drop)
		}
		return fn(ps)
	})
	return err
}

func (f *failingSource) ListCompensations(ctx context.Context, flt personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	if flt.Window.Start.Format("2006-01") == f.window {
		return errListing
	}
	return f.Source.ListCompensations(ctx, flt, fn)
}

func TestRunIncompleteListingEmitsNoDelete(t *testing.T) {
	h := newHarness(t, 40)
	run(t, h.runner(), Full)
	truth0 := h.expected()

	h.sim.Churn(personiotest.Churn{Deletions: 3, Renames: 3, SalaryChanges: 2, Bonuses: 1})
	current := extract.Windows(time.Now(), 0)[0].Start.Format("2006-01")
	r := h.runner(func(c *Config) {
		c.Source = &failingSource{Source: h.client, personPages: 2, window: current}
	})
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("a partial sync is not an error: %v", err)
	}
	if res.Outcome != Partial {
		t.Errorf("outcome %s, want partial", res.Outcome)
	}
	if pr := res.Entity("persons"); pr.Changes["d"] != 0 || pr.Outcome != Partial || len(pr.IncompleteScopes) != 1 {
		t.Errorf("persons: %+v, want partial with no delete", pr)
	}
	cr := res.Entity("compensations")
	if cr.Outcome != Partial || fmt.Sprint(cr.IncompleteScopes) != "[compensations:"+current+"]" {
		t.Errorf("compensations: %+v, want partial with the current window incomplete", cr)
	}
	if n := res.Entity("persons").Extracted; n != 20 {
		t.Errorf("extracted %d persons, want the 2 pages read before the failure", n)
	}
	st := r.Status()
	if ps := statusOf(st, "persons"); ps.Phase != PhasePartial || (ps.LastErrorDetail == nil || ps.LastErrorDetail.Code != CodeListingBroken) {
		t.Errorf("status %+v, want PARTIAL with the reason", ps)
	}
	// No person was deleted; compensations were deleted only in the windows listed completely.
	truth1 := h.expected()
	live := h.replay(change.Persons).State[change.Persons]
	for key := range truth0[change.Persons] {
		if _, ok := live[key]; !ok {
			t.Errorf("person %s was deleted by an incomplete listing", key)
		}
	}
	comps := h.replay(change.Compensations)
	inFailed := compensationsIn(t, comps, current)
	deletedOutside := 0
	for key := range truth0[change.Compensations] {
		_, live := comps.State[change.Compensations][key]
		_, exists := truth1[change.Compensations][key]
		switch {
		case inFailed[key] && !live:
			t.Errorf("compensation %s of the failed window was deleted", key)
		case !inFailed[key] && !exists && live:
			t.Errorf("compensation %s of a complete window was not deleted", key)
		case !inFailed[key] && !exists:
			deletedOutside++
		}
	}
	if cr.Changes["d"] != deletedOutside {
		t.Errorf("compensations deleted %d, want %d", cr.Changes["d"], deletedOutside)
	}
	// A later complete sync catches up exactly.
	res = run(t, r.reconfigure(t, h), Full)
	h.checkTopics(h.expected())
	if res.Outcome != Complete {
		t.Errorf("catch-up sync outcome %s", res.Outcome)
	}
}

// compensationsIn returns the keys of the compensations of a replay effective in month
// ("2006-01"), as of their last event.
func compensationsIn(t *testing.T, rp oracle.Replay, month string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range rp.Messages {
		if m.Tombstone {
			continue
		}
		rec := m.Event.After
		if rec == nil {
			rec = m.Event.Before
		}
		c, ok := rec.(*change.Compensation)
		if !ok {
			t.Fatalf("compensation event %s carries %T", m.Event, rec)
		}
		out[m.Key] = c.EffectiveFrom.Format("2006-01") == month
	}
	return out
}

// reconfigure returns a runner like r with the harness' plain source (a restart).
func (r *Runner) reconfigure(t *testing.T, h *harness) *Runner {
	t.Helper()
	return h.runner()
}

func TestRunFaultsEveryRequest(t *testing.T) {
	h := newHarness(t, 20)
	run(t, h.runner(), Full)
	h.sim.Churn(personiotest.Churn{Deletions: 2})
	h.sim.SetFaults(personiotest.Faults{P503: 1})
	r := h.runner()
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if res.Outcome != Partial || res.Published() != 0 {
		t.Errorf("outcome %s, published %d: want partial and nothing (no deletes)", res.Outcome, res.Published())
	}
	h.sim.SetFaults(personiotest.Faults{})
	res = run(t, r, Full)
	if got := changes(res, change.Persons); got["d"] != 2 {
		t.Errorf("after the faults: persons changes %v, want the 2 deletes", got)
	}
}

func TestRunDeleteGuard(t *testing.T) {
	h := newHarness(t, 40)
	run(t, h.runner(), Full)
	before := h.replay(change.Persons)

	// The credential suddenly sees only every other person.
	reg := prometheus.NewRegistry()
	half := func(p personio.Person) bool { return p.ID[len(p.ID)-1]%2 == 0 }
	h.sim.Churn(personiotest.Churn{Bonuses: 1})
	r := h.runner(func(c *Config) {
		c.Source = &failingSource{Source: h.client, personPages: -1, drop: half}
		c.Registerer = reg
	})
	res, err := r.Run(t.Context(), Full)
	if !errors.Is(err, diff.ErrMassDelete) {
		t.Fatalf("err = %v, want a mass delete refusal", err)
	}
	pr := res.Entity("persons")
	if res.Outcome != Failed || pr.Outcome != Failed || !pr.GuardTripped || pr.Guard != GuardMassDelete || pr.Changes["d"] != 0 {
		t.Errorf("result %+v, persons %+v", res, pr)
	}
	if got := changes(res, change.Compensations); got["c"] != 1 {
		t.Errorf("compensations changes %v, want the bonus published regardless", got)
	}
	if n := len(h.replay(change.Persons).Messages); n != len(before.Messages) {
		t.Errorf("persons topic grew from %d to %d messages; the guard must publish nothing", len(before.Messages), n)
	}
	if v := testutil.ToFloat64(r.metrics.DeleteGuardTrips.WithLabelValues("persons")); v != 1 {
		t.Errorf("delete guard trips metric = %v", v)
	}
	if v := testutil.ToFloat64(r.metrics.SyncRuns.WithLabelValues("full", "failed")); v != 1 {
		t.Errorf("failed runs metric = %v", v)
	}
	if st := statusOf(r.Status(), "persons"); st.Phase != PhaseFailed || !st.DeleteGuardTrip || !strings.Contains(st.LastError, CodeMassDelete) {
		t.Errorf("status %+v", st)
	}

	// The operator's override lets it through.
	r = h.runner(func(c *Config) {
		c.Source = &failingSource{Source: h.client, personPages: -1, drop: half}
		c.DeleteGuardOverride = true
	})
	res = run(t, r, Full)
	if d := changes(res, change.Persons)["d"]; d < 15 {
		t.Errorf("override: %d deletes, want the hidden half", d)
	}
}

// lostAcks writes every message but reports a failure, as when the acknowledgement is lost.
type lostAcks struct {
	publish.Producer
	mu    gosync.Mutex
	fails int
}

func (l *lostAcks) Publish(ctx context.Context, msgs []kafka.Message) error {
	if err := l.Producer.Publish(ctx, msgs); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails > 0 {
		l.fails--
		return errors.New("acknowledgement lost")
	}
	return nil
}

func TestRunPublishFailureRebuildsState(t *testing.T) {
	h := newHarness(t, 30)
	prod := &lostAcks{Producer: h.kafka}
	r := h.runner(func(c *Config) { c.Producer = prod })
	run(t, r, Full)

	h.sim.Churn(personiotest.Churn{Renames: 3, SalaryChanges: 2})
	prod.fails = 1
	res, err := r.Run(t.Context(), Full)
	if !errors.Is(err, publish.ErrStateUnknown) || res.Outcome != Failed {
		t.Fatalf("err %v outcome %s, want a failed run with the state unknown", err, res.Outcome)
	}
	// The events did reach Kafka: the rebuilt state knows them and none is sent twice
	// (checkTopics fails on a repeated event id); what the failed run never sent is sent now.
	failed := res
	res = run(t, r, Full)
	if !res.Rebuilt || res.Outcome != Complete {
		t.Errorf("after the lost acknowledgement: rebuilt %v, outcome %s", res.Rebuilt, res.Outcome)
	}
	for _, e := range []string{"persons", "compensations"} {
		published := slices.ContainsFunc(failed.Entity(e).ErrorDetails, func(d ErrorInfo) bool { return d.Code == CodeKafkaWrite })
		if published && changes(res, change.Entity(e))["u"] != 0 {
			t.Errorf("%s: the changes that reached Kafka were sent again: %v", e, changes(res, change.Entity(e)))
		}
	}
	h.checkTopics(h.expected())
}

func TestRunResnapshot(t *testing.T) {
	h := newHarness(t, 25)
	r := h.runner()
	run(t, r, Full)
	truth0 := h.expected()
	h.sim.Churn(personiotest.Churn{Renames: 2})
	want := h.expected()
	renamed := oracle.Count(oracle.Changes(truth0, want)[change.Persons])["u"]
	before := map[change.Entity]oracle.Replay{}
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		before[e] = h.replay(e)
	}
	res := run(t, r, Resnapshot)
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		if got := changes(res, e); fmt.Sprint(got) != fmt.Sprint(map[string]int{"r": want.Len(e)}) {
			t.Errorf("%s resnapshot changes %v, want one r per entity (%d)", e, got, want.Len(e))
		}
		rp := h.replay(e)
		seen := map[string]bool{}
		for _, m := range before[e].Messages {
			seen[m.Event.EventID] = true
		}
		changed := 0
		for _, m := range rp.Messages {
			if seen[m.Event.EventID] {
				continue
			}
			if m.Event.Op != change.Read || m.Event.Before != nil {
				t.Errorf("%s: resnapshot event %s", e, m.Event)
			}
			if len(m.Event.ChangedFields) > 0 {
				changed++
			}
		}
		if e == change.Persons && (changed != renamed || renamed == 0) {
			t.Errorf("%d r events carry changed fields, want the %d renamed persons", changed, renamed)
		}
	}
	h.checkTopics(want)
	if res = run(t, r, Full); res.Published() != 0 {
		t.Errorf("full sync after the resnapshot published %d", res.Published())
	}
}

func TestRunConcurrent(t *testing.T) {
	h := newHarness(t, 5)
	r := h.runner()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := r.Run(ctx, Full)
	if !errors.Is(err, context.Canceled) || res.Outcome != Failed {
		t.Errorf("cancelled run: err %v outcome %s", err, res.Outcome)
	}
	if _, err := r.Run(t.Context(), "weekly"); err == nil {
		t.Error("unknown kind accepted")
	}
	r.running.Lock()
	_, err = r.Run(t.Context(), Full)
	r.running.Unlock()
	if !errors.Is(err, ErrRunning) {
		t.Errorf("overlapping run: err %v, want ErrRunning", err)
	}
}

func TestNewValidates(t *testing.T) {
	h := newHarness(t, 1)
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no tenant", func(c *Config) { c.Tenant = "" }, "tenant is required"},
		{"tenant with colon", func(c *Config) { c.Tenant = "a:b" }, "no ':'"},
		{"no prefix", func(c *Config) { c.TopicPrefix = "" }, "topic prefix"},
		{"ratio zero", func(c *Config) { c.DeleteGuardRatio = 0 }, "delete guard ratio"},
		{"ratio above one", func(c *Config) { c.DeleteGuardRatio = 1.5 }, "delete guard ratio"},
		{"negative look-back", func(c *Config) { c.LookbackMonths = -1 }, "look-back"},
		{"negative skew", func(c *Config) { c.SkewMargin = -time.Second }, "skew"},
		{"no workers", func(c *Config) { c.EmploymentWorkers = 0 }, "workers"},
		{"no person chains", func(c *Config) { c.PersonChains = 0 }, "person chains must be in [1, 32], got 0"},
		{"too many person chains", func(c *Config) { c.PersonChains = 33 }, "person chains"},
		{"no sub-windows", func(c *Config) { c.CompensationSubWindows = 0 }, "compensation sub-windows must be in [1, 28], got 0"},
		{"too many sub-windows", func(c *Config) { c.CompensationSubWindows = 29 }, "compensation sub-windows"},
		{"no source", func(c *Config) { c.Source = nil }, "source is required"},
		{"no producer", func(c *Config) { c.Producer = nil }, "producer is required"},
		{"no codec", func(c *Config) { c.Codec = nil }, "codec is required"},
		{"no reader", func(c *Config) { c.Reader = nil }, "reader is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := h.config()
			tt.mut(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	cfg := h.config()
	cfg.LookbackMonths = 0
	if _, err := New(cfg); err != nil {
		t.Errorf("look-back 0 refused: %v", err)
	}
}

// cancellingSource cancels the run's context once the persons listing delivered its first page.
// The compensations listing waits for that cancel, so that neither listing is complete.
type cancellingSource struct {
	extract.Source
	cancel context.CancelFunc
}

func (c *cancellingSource) ListPersons(ctx context.Context, flt personio.PersonFilter, fn func([]personio.Person) error) error {
	flt.Limit = 5
	first := true
	return c.Source.ListPersons(ctx, flt, func(ps []personio.Person) error {
		if err := fn(ps); err != nil {
			return err
		}
		if first {
			first = false
			c.cancel()
		}
		return nil
	})
}

func (c *cancellingSource) ListCompensations(ctx context.Context, flt personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRunCancelledWhileListing(t *testing.T) {
	h := newHarness(t, 30)
	run(t, h.runner(), Full)
	h.sim.Churn(personiotest.Churn{Hires: 2, Deletions: 2, Renames: 2, SalaryChanges: 2})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := h.runner(func(c *Config) { c.Source = &cancellingSource{Source: h.client, cancel: cancel} })
	res, err := r.Run(ctx, Full)
	if !errors.Is(err, context.Canceled) || res.Outcome != Failed {
		t.Fatalf("cancelled run: err %v, outcome %s", err, res.Outcome)
	}
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		if got := changes(res, e); len(got) != 0 {
			t.Errorf("a run cancelled while listing published %s changes %v", e, got)
		}
	}
	if st := r.Status(); st.Running || st.Entities[0].Phase != PhaseFailed || st.Entities[1].Phase != PhaseFailed {
		t.Errorf("status after cancel: %+v", st)
	}
	// The next run, on a fresh runner as after a restart, publishes exactly what is missing.
	res = run(t, h.runner(), Full)
	if res.Outcome != Complete {
		t.Errorf("run after the cancelled one: %s", res.Outcome)
	}
	h.checkTopics(h.expected())
}

// A cancel that lands while Kafka holds a produce request: the run waits for that request's
// verdict, so it reports what reached the topics, and the next run, on the same runner or on a
// fresh one, sends none of it again.
func TestRunCancelledWhilePublishing(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		t.Run(map[bool]string{false: "same runner", true: "fresh runner"}[fresh], func(t *testing.T) {
			h := newHarness(t, 30)
			r := h.runner()
			run(t, r, Full)
			h.sim.Churn(personiotest.Churn{Hires: 3, Deletions: 3, Renames: 3, SalaryChanges: 3})
			before := map[change.Entity]int{}
			for _, e := range []change.Entity{change.Persons, change.Compensations} {
				before[e] = len(h.replay(e).Messages)
			}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var once gosync.Once
			h.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				once.Do(func() {
					cancel()
					// Hold the cluster until the cancel had every chance to be seen.
					time.Sleep(100 * time.Millisecond)
				})
				return nil, nil, false
			})
			res, err := r.Run(ctx, Full)
			if !errors.Is(err, context.Canceled) || res.Outcome != Failed {
				t.Fatalf("cancelled run: err %v, outcome %s", err, res.Outcome)
			}
			reported, landed := 0, 0
			for _, e := range []change.Entity{change.Persons, change.Compensations} {
				for op, n := range changes(res, e) {
					reported += n
					if op == string(change.Delete) {
						reported += n // and its tombstone
					}
				}
				landed += len(h.replay(e).Messages) - before[e]
			}
			if landed == 0 || reported != landed {
				t.Errorf("the cancelled run reported %d messages published; %d reached the topics", reported, landed)
			}

			if fresh {
				r = h.runner()
			}
			if res = run(t, r, Full); res.Outcome != Complete {
				t.Errorf("run after the cancelled one: %s", res.Outcome)
			}
			h.checkTopics(h.expected())
		})
	}
}

func TestRunResnapshotOneEntity(t *testing.T) {
	h := newHarness(t, 15)
	r := h.runner()
	run(t, r, Full)
	want := h.expected()
	for _, only := range change.Entities() {
		t.Run(string(only), func(t *testing.T) {
			before := map[change.Entity]oracle.Replay{}
			for _, e := range change.Entities() {
				before[e] = h.replay(e)
			}
			statusBefore := r.Status()
			statsBefore := h.sim.Stats()
			res, err := r.Run(t.Context(), Resnapshot, WithEntities(only))
			if err != nil || res.Outcome != Complete {
				t.Fatalf("resnapshot of %s: %v, outcome %s", only, err, res.Outcome)
			}
			if len(res.Entities) != 1 || res.Entities[0].Entity != string(only) {
				t.Fatalf("result entities %+v, want %s only", res.Entities, only)
			}
			if got := changes(res, only); fmt.Sprint(got) != fmt.Sprint(map[string]int{"r": want.Len(only)}) {
				t.Errorf("%s changes %v, want one r per entity (%d)", only, got, want.Len(only))
			}
			for _, e := range change.Entities() {
				seen := map[string]bool{}
				for _, m := range before[e].Messages {
					seen[m.Event.EventID] = true
				}
				var added []oracle.Message
				for _, m := range h.replay(e).Messages {
					if !m.Tombstone && !seen[m.Event.EventID] {
						added = append(added, m)
					}
				}
				if e != only {
					if len(added) != 0 {
						t.Errorf("resnapshot of %s published %d messages to %s", only, len(added), e)
					}
					continue
				}
				if len(added) != want.Len(e) {
					t.Errorf("%s: %d new messages, want %d", e, len(added), want.Len(e))
				}
				for _, m := range added {
					if m.Event.Op != change.Read {
						t.Errorf("%s: resnapshot event %s", e, m.Event)
					}
				}
			}
			// Only the chosen entity was listed (employments: and the persons whose).
			const persons, emps, comps = "GET /v2/persons", "GET /v2/persons/{person_id}/employments", "GET /v2/compensations"
			others := map[change.Entity][]string{change.Persons: {comps, emps}, change.Compensations: {persons, emps},
				change.Employments: {comps}}[only]
			for _, other := range others {
				if n, n0 := h.sim.Stats().Endpoint(other), statsBefore.Endpoint(other); n != n0 {
					t.Errorf("resnapshot of %s sent %d %s requests", only, n-n0, other)
				}
			}
			// The other entity's status is the one it had.
			st := r.Status()
			for i, es := range st.Entities {
				if es.Entity != string(only) && es.LastSyncID != statusBefore.Entities[i].LastSyncID {
					t.Errorf("status of %s changed by a resnapshot of %s: %+v", es.Entity, only, es)
				}
			}
		})
	}
	if _, err := r.Run(t.Context(), Resnapshot, WithEntities("absences")); !errors.Is(err, ErrUnknownEntity) ||
		!strings.Contains(err.Error(), "persons, compensations or employments") {
		t.Errorf("unknown entity: err %v", err)
	}
	h.checkTopics(want)
}

func TestRunWrongSecretFails(t *testing.T) {
	h := newHarness(t, 20)
	const secret = "wrong-secret-never-printed"
	client, err := personio.New(personio.Config{BaseURL: h.sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: secret, RateLimit: unlimited, CompensationRateLimit: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	r := h.runner(func(c *Config) { c.Source = client })
	res, err := r.Run(t.Context(), Full)
	if !errors.Is(err, personio.ErrAuth) || !errors.Is(err, ErrCredential) || res.Outcome != Failed {
		t.Fatalf("err %v, outcome %s; want a failed run matching personio.ErrAuth", err, res.Outcome)
	}
	for _, s := range []string{"PERSONIO_CLIENT_ID", "PERSONIO_CLIENT_SECRET"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(strings.Join(res.Errors, "\n"), secret) {
		t.Errorf("the secret leaks: %v", err)
	}
	if n := res.Published(); n != 0 {
		t.Errorf("published %d events", n)
	}
	// One refused token request stops the run: no listing asks on its own, none reaches the API.
	stats := h.sim.Stats()
	if n := stats.Endpoint("POST /v2/auth/token"); n > 2 || stats.Total != n {
		t.Errorf("%d token requests, %d requests in all; want at most 2, all of them token requests", n, stats.Total)
	}
	for _, es := range r.Status().Entities {
		if es.Phase != PhaseFailed || !strings.Contains(es.LastError, "PERSONIO_CLIENT_SECRET") {
			t.Errorf("status %s: phase %s, last error %q", es.Entity, es.Phase, es.LastError)
		}
	}
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		if n := len(h.replay(e).Messages); n != 0 {
			t.Errorf("%s topic has %d messages", e, n)
		}
	}
}

// TestRunMonthTooLargeForPersonio: when Personio stops every compensation request as too
// large even for one day (422 compensations.unprocessable_content), the compensation months
// are partial with Personio's error type as the code and no compensation is deleted, while
// the persons listing goes on and publishes its deletes.
func TestRunMonthTooLargeForPersonio(t *testing.T) {
	h := newHarness(t, 40)
	run(t, h.runner(), Full)

	h.sim.Churn(personiotest.Churn{Deletions: 3})
	h.sim.SetCompensationWorkLimit(1)
	r := h.runner()
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("a partial sync is not an error: %v", err)
	}
	if res.Outcome != Partial {
		t.Errorf("outcome %s, want partial", res.Outcome)
	}
	if pr := res.Entity("persons"); pr.Outcome != Complete || pr.Changes["d"] != 3 {
		t.Errorf("persons: %+v, want complete with 3 deletes", pr)
	}
	cr := res.Entity("compensations")
	if cr.Outcome != Partial || cr.Changes["d"] != 0 || len(cr.IncompleteScopes) != DefaultLookbackMonths+1 {
		t.Errorf("compensations: %+v, want partial, every month incomplete, no delete", cr)
	}
	var info *ErrorInfo
	for _, e := range r.Status().Entities {
		if e.Entity == "compensations" {
			info = e.LastErrorDetail
		}
	}
	if info == nil || info.Code != "personio.compensations.unprocessable_content" || info.ErrorType != personio.TypeCompensationsUnprocessable ||
		!strings.HasPrefix(info.Scope, "compensations:") || !strings.Contains(info.Message, "..") {
		t.Errorf("status %+v, want the error type as code and the day named", info)
	}
	if n := h.sim.Stats().CompensationErrors["compensations.unprocessable_content"]; n == 0 {
		t.Error("the simulator stopped no request")
	}
}
