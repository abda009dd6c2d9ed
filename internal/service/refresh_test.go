package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/refresh"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// budgetRunner runs syncs that spend requests from the shared limiter, as the real runner's
// Personio client does: a full sync budgetFull requests, an incremental one budgetIncr. Every
// incremental sync moves the updated_at of churn persons. It records when each sync started
// and ended.
type budgetRunner struct {
	lim                    *rate.Limiter
	start                  time.Time
	budgetFull, budgetIncr int
	world                  *world

	mu   sync.Mutex
	runs []timedRun
}

type timedRun struct {
	kind       syncrun.Kind
	start, end time.Duration
}

func (r timedRun) String() string { return fmt.Sprintf("%s@%v-%v", r.kind[:1], r.start, r.end) }

func (b *budgetRunner) Run(ctx context.Context, kind syncrun.Kind, _ ...syncrun.RunOption) (syncrun.Result, error) {
	started := time.Since(b.start)
	n := b.budgetIncr
	if kind == syncrun.Full {
		n = b.budgetFull
	}
	for range n {
		if err := b.lim.Wait(ctx); err != nil {
			return syncrun.Result{Kind: kind, Outcome: syncrun.Failed}, err
		}
		time.Sleep(50 * time.Millisecond) // the request's latency
	}
	if kind == syncrun.Incremental {
		b.world.churn()
	}
	b.mu.Lock()
	b.runs = append(b.runs, timedRun{kind, started, time.Since(b.start)})
	b.mu.Unlock()
	return syncrun.Result{Kind: kind, Outcome: syncrun.Complete}, nil
}

// world is the simulated Personio of the refresh: persons, their updated_at, and when each
// person's employments were read. It is an EmploymentReader and a VerificationJournal.
type world struct {
	lim      *rate.Limiter
	start    time.Time
	churnN   int
	persons  []refresh.Person
	next     int // the next person churn moves
	requests int // refresh requests
	reads    map[string][]time.Duration
	moved    map[string][]time.Duration // when churn moved each person's updated_at
	records  []refresh.Record
	mu       sync.Mutex
}

func newWorld(n, churn int, lim *rate.Limiter, start time.Time, period time.Duration) *world {
	w := &world{lim: lim, start: start, churnN: churn, reads: map[string][]time.Duration{}, moved: map[string][]time.Duration{}}
	for i := range n {
		id := fmt.Sprintf("%05d", i)
		w.persons = append(w.persons, refresh.Person{ID: id, UpdatedAt: start.Add(-48 * time.Hour)})
		// The service ran before: each person verified once in the last period, evenly.
		at := start.Add(-time.Duration(i) * period * 9 / 10 / time.Duration(n))
		w.records = append(w.records, refresh.Record{PersonID: id,
			Verification: refresh.Verification{VerifiedAt: at, UpdatedAt: start.Add(-48 * time.Hour)}})
		w.reads[id] = []time.Duration{at.Sub(start)}
	}
	return w
}

func (w *world) churn() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range w.churnN {
		p := &w.persons[w.next%len(w.persons)]
		p.UpdatedAt = time.Now()
		w.moved[p.ID] = append(w.moved[p.ID], time.Since(w.start))
		w.next += 7919 // spread over the ids
	}
}

func (w *world) RefreshEmployments(ctx context.Context, ids []string) ([]string, error) {
	var done []string
	for _, id := range ids {
		if err := w.lim.Wait(ctx); err != nil {
			return done, err
		}
		time.Sleep(50 * time.Millisecond)
		w.mu.Lock()
		w.requests++
		w.reads[id] = append(w.reads[id], time.Since(w.start))
		w.mu.Unlock()
		done = append(done, id)
	}
	return done, nil
}

func (w *world) Persons() ([]refresh.Person, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.persons), true
}

func (w *world) Read(context.Context) ([]refresh.Record, error) { return slices.Clone(w.records), nil }
func (w *world) Write(_ context.Context, recs []refresh.Record) error {
	w.records = append(w.records, recs...)
	return nil
}
func (w *world) Forget(context.Context, []string) error { return nil }

// simulateDay runs the scheduler for a simulated day (synctest's fake clock: the day takes
// seconds) with 10,000 persons and returns the syncs it ran and, with refresh, the world.
func simulateDay(t *testing.T, withRefresh bool, share float64) ([]timedRun, *world) {
	return simulate(t, withRefresh, share, 24*time.Hour, true)
}

// simulate runs the scheduler for span with 10,000 persons; resumed starts from verification
// records of the day before, else from none (a first start: every person is read first).
func simulate(t *testing.T, withRefresh bool, share float64, span time.Duration, resumed bool) ([]timedRun, *world) {
	t.Helper()
	const (
		persons = 10000
		period  = 24 * time.Hour
	)
	day := span
	var runs []timedRun
	var w *world
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lim := rate.NewLimiter(5, 15) // Personio: 300 requests per minute, bursts of 15
		w = newWorld(persons, 10, lim, start, period)
		if !resumed {
			w.records, w.reads = nil, map[string][]time.Duration{}
		}
		br := &budgetRunner{lim: lim, start: start, budgetFull: 300, budgetIncr: 3, world: w}
		var opts []SchedulerOption
		if withRefresh {
			cfg := refresh.DefaultConfig()
			cfg.Share = share
			p, err := refresh.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, WithRefresh(Refresh{Planner: p, Reader: w, Journal: w}))
		}
		s := NewScheduler(br, Schedule{Full: time.Hour, Incremental: 5 * time.Minute}, nil, opts...)
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- s.Loop(stop, context.Background()) }()
		time.Sleep(day)
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("Loop: %v", err)
		}
		br.mu.Lock()
		runs = slices.Clone(br.runs)
		br.mu.Unlock()
	})
	return runs, w
}

// TestRefreshDayKeepsPeriodWithinShare: over a simulated day at 10,000 persons (synctest's
// fake clock compresses it into seconds; Personio's budget is a rate.Limiter at 300 per minute,
// burst 15, shared by the syncs and the refresh; each request takes 50 ms), with a full sync
// every hour and an incremental one every 5 minutes that moves 10 persons' updated_at:
//   - the syncs start and end at exactly the same instants as without the refresh: it never
//     delays them, neither by running when one is due nor by leaving the limiter empty;
//   - every person's employments are read within the period (24 h) of the last read, the
//     last read before the day included (the rotation resumed from the records);
//   - the refresh spends at most the configured share of the day's budget, and in no hour more
//     than the share of that hour's budget.
//   - a person whose updated_at moved is read within 10 minutes.
func TestRefreshDayKeepsPeriodWithinShare(t *testing.T) {
	const share = 0.5
	without, _ := simulateDay(t, false, share)
	with, w := simulateDay(t, true, share)
	sameRuns(t, with, without)
	if len(with) < 280 {
		t.Fatalf("only %d syncs in a day", len(with))
	}
	day := 24 * time.Hour
	for id, reads := range w.reads {
		last := reads[0]
		for _, at := range append(reads[1:], day) {
			if at-last > 24*time.Hour {
				t.Fatalf("person %s: %v between reads (%v), want <= 24h", id, at-last, reads)
			}
			last = at
		}
	}
	for id, moves := range w.moved {
		for _, m := range moves {
			if m > day-10*time.Minute {
				continue // the day ends first
			}
			i, _ := slices.BinarySearch(w.reads[id], m)
			if i == len(w.reads[id]) || w.reads[id][i]-m > 10*time.Minute {
				t.Fatalf("person %s moved at %v, read at %v: want a read within 10 minutes", id, m, w.reads[id])
			}
		}
	}
	if len(w.moved) < 2000 {
		t.Fatalf("only %d persons moved", len(w.moved))
	}
	budget := 5 * day.Seconds()
	used := float64(w.requests) / budget
	t.Logf("employment_refresh_share %.4f (%d requests of %.0f)", used, w.requests, budget)
	if used > share || w.requests < 10000 {
		t.Fatalf("refresh used %d requests, share %.4f of the day's budget; want <= %v and at least one per person", w.requests, used, share)
	}
	perHour := make([]int, 24)
	for _, reads := range w.reads {
		for _, at := range reads[1:] {
			perHour[min(int(at/time.Hour), 23)]++
		}
	}
	for h, n := range perHour {
		if float64(n) > share*5*3600+refresh.DefaultMaxBatch {
			t.Fatalf("hour %d: %d refresh requests, more than the share of the hour's budget", h, n)
		}
	}
}

// sameRuns fails unless the syncs ran at the same instants with and without the refresh.
func sameRuns(t *testing.T, with, without []timedRun) {
	t.Helper()
	if slices.Equal(with, without) {
		return
	}
	for i := range min(len(with), len(without)) {
		if with[i] != without[i] {
			t.Fatalf("sync %d: %v with the refresh, %v without (%d and %d syncs)", i, with[i], without[i], len(with), len(without))
		}
	}
	t.Fatalf("%d syncs with the refresh, %d without", len(with), len(without))
}

// TestRefreshFirstStartAtCap: a first start (no verification records) reads every person at
// Share of the budget, in batches every few seconds, so many end just before a sync: the syncs
// still run exactly as without the refresh, no hour spends more than the share, and all
// 10,000 persons are read within 2 hours (10,000 / 2.5 per second = 67 minutes, plus the
// time of the syncs).
func TestRefreshFirstStartAtCap(t *testing.T) {
	const share = 0.5
	span := 2 * time.Hour
	without, _ := simulate(t, false, share, span, false)
	with, w := simulate(t, true, share, span, false)
	sameRuns(t, with, without)
	perMinute := map[int]int{}
	for id, reads := range w.reads {
		if len(reads) == 0 {
			t.Fatalf("person %s never read", id)
		}
		for _, at := range reads {
			perMinute[int(at/time.Minute)]++
		}
	}
	if len(w.reads) != 10000 {
		t.Fatalf("%d persons read, want 10000", len(w.reads))
	}
	for m, n := range perMinute {
		if limit := share*300 + refresh.DefaultMaxBatch; float64(n) > limit {
			t.Fatalf("minute %d: %d refresh requests, want <= %v (the share of 300 and one batch)", m, n, limit)
		}
	}
}

// staticPersons is an EmploymentReader for the wiring test: it reads nothing.
type staticPersons struct{}

func (staticPersons) RefreshEmployments(context.Context, []string) ([]string, error) { return nil, nil }
func (staticPersons) Persons() ([]refresh.Person, bool)                              { return nil, false }

// The refresh is wired from the settings: with a reader and a period, /status carries
// employment_refresh with the configured period and share, and the metrics are on the
// service's registry; with EMPLOYMENT_REFRESH_PERIOD=0, or without a reader, it is off.
func TestLifecycleWiresRefresh(t *testing.T) {
	for _, tc := range []struct {
		name   string
		period time.Duration
		reader EmploymentReader
		on     bool
	}{
		{"on", 12 * time.Hour, staticPersons{}, true},
		{"period 0", 0, staticPersons{}, false},
		{"no reader", 12 * time.Hour, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Personio.BaseURL = "http://127.0.0.1:1"
			cfg.Personio.ClientID = "id"
			cfg.Personio.ClientSecret = config.Secret("secret")
			cfg.Personio.Tenant = "acme"
			cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
			cfg.SchemaRegistry.URL = "http://127.0.0.1:1"
			cfg.Sync.EmploymentRefreshPeriod = tc.period
			cfg.Sync.EmploymentRefreshBudgetShare = 0.25
			reg := prometheus.NewRegistry()
			s, err := Build(cfg, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			s.Employments = tc.reader
			l, err := s.Lifecycle(reg, "test")
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			l.Admin.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
			var doc struct {
				EmploymentRefresh *refresh.Status `json:"employment_refresh"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("/status: %v\n%s", err, rec.Body)
			}
			if !tc.on {
				if doc.EmploymentRefresh != nil {
					t.Fatalf("/status has employment_refresh %+v with the refresh off", doc.EmploymentRefresh)
				}
				return
			}
			if st := doc.EmploymentRefresh; st == nil || st.Period != "12h0m0s" || st.BudgetShare != 0.25 {
				t.Fatalf("/status employment_refresh = %+v, want period 12h and share 0.25", st)
			}
			if got := gaugeValue(t, reg, "personio_cdc_employment_refresh_budget_share"); got != 0.25 {
				t.Fatalf("personio_cdc_employment_refresh_budget_share = %v", got)
			}
		})
	}
}

// gaugeValue returns the value of the unlabelled gauge name on reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}
