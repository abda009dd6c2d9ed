package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// budget is one request budget of the simulated Personio.
type budget struct {
	perSecond float64
	burst     int
}

// apiScale describes the simulated Personio of the API figures.
type apiScale struct {
	persons      int
	api, comp    budget
	latency      time.Duration
	jitter       time.Duration
	changed      int // persons changed before the incremental sync
	restorePause time.Duration
}

// usage is what one run cost the simulator, from its stats.
type usage struct {
	// api and comp are the successful (2xx) requests per budget, token requests excluded.
	api, comp int64
	// calls is every API request whatever its reply (token requests excluded), compCalls those
	// to the compensations endpoint.
	calls, compCalls int64
	limited, total   int64
	limitedBy        []string // "endpoint: 429 count"
	// compBusy counts the 429 compensations.too_many_requests replies (more than 2 requests in
	// flight; Retry-After: 30).
	compBusy int64
}

// tokenEndpoints are not API requests: the token has its own budget.
var tokenEndpoints = []string{"POST /v2/auth/token", "POST /v2/auth/revoke"}

const compEndpoint = "GET /v2/compensations"

func usageOf(before, after personiotest.Stats) usage {
	var u usage
	for _, ep := range slices.Sorted(maps.Keys(after.Requests)) {
		token := slices.Contains(tokenEndpoints, ep)
		for st, n := range after.Requests[ep] {
			n -= before.Requests[ep][st]
			if !token {
				u.calls += n
				if ep == compEndpoint {
					u.compCalls += n
				}
			}
			if token || st/100 != 2 {
				continue
			}
			if ep == compEndpoint {
				u.comp += n
			} else {
				u.api += n
			}
		}
		if n := after.Requests[ep][http.StatusTooManyRequests] - before.Requests[ep][http.StatusTooManyRequests]; n > 0 {
			u.limitedBy = append(u.limitedBy, fmt.Sprintf("%s: %d", ep, n))
		}
	}
	u.limited = after.RateLimited - before.RateLimited
	u.total = after.Total - before.Total
	u.compBusy = tooManyRequests(before, after)
	return u
}

// tmin is the least time the requests of a run need under the server's limits: the largest
// of (successful requests − burst) / rate over the two budgets (a budget starts full), and of
// the time its compensation requests need with at most 2 in flight (compConcurrencyTmin).
func (a apiScale) tmin(u usage) time.Duration {
	t := 0.0
	for _, x := range []struct {
		n int64
		b budget
	}{{u.api, a.api}, {u.comp, a.comp}} {
		if s := float64(x.n-int64(x.b.burst)) / x.b.perSecond; s > t {
			t = s
		}
	}
	return max(time.Duration(t*float64(time.Second)), compConcurrencyTmin(u.compCalls, a.latency, a.jitter))
}

// serviceEnv is the environment of personio-cdc against the simulator at url and the test
// environment: the defaults users get, except employment details off (see BENCHMARKS.md) and
// the given client budgets (per minute and burst, persons then compensations), all set as a
// user would set them.
func serviceEnv(e env, url, prefix string, api, comp budget) map[string]string {
	return map[string]string{
		"PERSONIO_BASE_URL":                  url,
		"PERSONIO_CLIENT_ID":                 personiotest.DefaultClientID,
		"PERSONIO_CLIENT_SECRET":             personiotest.DefaultClientSecret,
		"PERSONIO_TENANT":                    benchTenant,
		"KAFKA_BROKERS":                      strings.Join(e.brokers, ","),
		"SCHEMA_REGISTRY_URL":                e.registry,
		"TOPIC_PREFIX":                       prefix,
		"KAFKA_REPLICATION_FACTOR":           "1", // the test environment has one broker
		"SYNC_EMPLOYMENT_DETAILS":            "false",
		"PERSONIO_RATE_LIMIT_PER_MINUTE":     strconv.FormatFloat(api.perSecond*60, 'f', -1, 64),
		"PERSONIO_RATE_BURST":                strconv.Itoa(api.burst),
		"COMPENSATION_RATE_LIMIT_PER_MINUTE": strconv.FormatFloat(comp.perSecond*60, 'f', -1, 64),
		"COMPENSATION_RATE_BURST":            strconv.Itoa(comp.burst),
	}
}

// newStack builds the service as `personio-cdc sync` and `run` do (config.Load, then
// service.Build), from the environment vars.
func newStack(vars map[string]string) (*service.Stack, *prometheus.Registry, error) {
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	st, err := service.Build(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return st, reg, nil
}

// rebuildSeconds is the time the runner spent rebuilding its state so far, from its metrics.
func rebuildSeconds(reg prometheus.Gatherer) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "personio_cdc_state_rebuild_duration_seconds" {
			s := 0.0
			for _, m := range mf.GetMetric() {
				s += m.GetHistogram().GetSampleSum()
			}
			return s
		}
	}
	return 0
}

// syncRun is the outcome of one sync of the service against the simulator.
type syncRun struct {
	kind    syncrun.Kind
	wall    time.Duration
	rebuild time.Duration // of wall, the state rebuild
	use     usage
	res     syncrun.Result
	err     error
}

func (r syncRun) check() error {
	if r.err != nil {
		return fmt.Errorf("%s sync: %w", r.kind, r.err)
	}
	if r.res.Outcome != syncrun.Complete {
		return fmt.Errorf("%s sync: outcome %s: %v", r.kind, r.res.Outcome, r.res.Errors)
	}
	return nil
}

// timedRunner runs the stack's Runner and records what each run cost the simulator.
type timedRunner struct {
	stack *service.Stack
	reg   prometheus.Gatherer
	sim   *personiotest.Server
	// before, when set, is called before each run (outside the timing).
	before func(kind syncrun.Kind)
	// after, when set, is called after each run with every run so far.
	after func(runs []syncRun)
	runs  []syncRun
}

// Run satisfies service.Runner.
func (t *timedRunner) Run(ctx context.Context, kind syncrun.Kind, opts ...syncrun.RunOption) (syncrun.Result, error) {
	if t.before != nil {
		t.before(kind)
	}
	stats, rb := t.sim.Stats(), rebuildSeconds(t.reg)
	start := time.Now()
	res, err := t.stack.Runner.Run(ctx, kind, opts...)
	r := syncRun{kind: kind, wall: time.Since(start), use: usageOf(stats, t.sim.Stats()), res: res, err: err,
		rebuild: time.Duration((rebuildSeconds(t.reg) - rb) * float64(time.Second))}
	t.runs = append(t.runs, r)
	if t.after != nil {
		t.after(t.runs)
	}
	return res, err
}

// once runs one sync of the kind.
func (t *timedRunner) once(ctx context.Context, kind syncrun.Kind) (syncRun, error) {
	_, _ = t.Run(ctx, kind)
	r := t.runs[len(t.runs)-1]
	return r, r.check()
}

// newSim starts a simulator of the scale's company with its budgets and latency.
func newSim(sc apiScale, quiet bool) (*personiotest.Server, error) {
	sim, err := personiotest.New(personiotest.Options{Persons: sc.persons, Seed: 7,
		RateLimit:             personiotest.Rate{PerMinute: sc.api.perSecond * 60, Burst: sc.api.burst},
		CompensationRateLimit: personiotest.Rate{PerMinute: sc.comp.perSecond * 60, Burst: sc.comp.burst},
		NoRateLimitHeaders:    quiet,
		Faults:                personiotest.Faults{Latency: sc.latency, LatencyJitter: sc.jitter}})
	if err != nil {
		return nil, err
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return sim, nil
}

// timesBudget is b with rate and burst multiplied by f.
func timesBudget(b budget, f float64) budget {
	return budget{perSecond: b.perSecond * f, burst: int(float64(b.burst) * f)}
}

// scheduledSyncs runs the service's Scheduler (internal/service) on a fresh topic prefix
// until it has run a full sync and the incremental sync after it; sc.changed persons are
// renamed just before the incremental sync starts.
func scheduledSyncs(ctx context.Context, sc apiScale, e env, sim *personiotest.Server, prefix string) (full, incr syncRun, renamed int, err error) {
	stack, reg, err := newStack(serviceEnv(e, sim.URL(), prefix, sc.api, sc.comp))
	if err != nil {
		return full, incr, 0, err
	}
	defer stack.Close()
	stop := make(chan struct{})
	tr := &timedRunner{stack: stack, reg: reg, sim: sim}
	tr.before = func(kind syncrun.Kind) {
		if kind == syncrun.Incremental {
			renamed = len(sim.Churn(personiotest.Churn{Renames: sc.changed}).Renames)
		}
	}
	tr.after = func(runs []syncRun) {
		if len(runs) == 2 || runs[0].check() != nil {
			close(stop)
		}
	}
	// The incremental sync comes restorePause after the full one, which lets the server's
	// buckets fill again; the next full sync is far away.
	sched := service.NewScheduler(tr, service.Schedule{Full: 24 * time.Hour, Incremental: sc.restorePause}, nil)
	if err := sched.Loop(stop, ctx); err != nil {
		return full, incr, 0, err
	}
	if len(tr.runs) == 1 {
		return full, incr, 0, tr.runs[0].check()
	}
	if len(tr.runs) != 2 {
		return full, incr, 0, fmt.Errorf("the scheduler ran %d syncs, want a full and an incremental one", len(tr.runs))
	}
	full, incr = tr.runs[0], tr.runs[1]
	if full.kind != syncrun.Full || incr.kind != syncrun.Incremental {
		return full, incr, 0, fmt.Errorf("the scheduler ran a %s and a %s sync, want full then incremental", full.kind, incr.kind)
	}
	if err := full.check(); err != nil {
		return full, incr, 0, err
	}
	return full, incr, renamed, incr.check()
}

// fullSync runs one full sync of a service whose client is configured at factor times the
// server's budgets, on the topics of prefix.
func fullSync(ctx context.Context, sc apiScale, e env, sim *personiotest.Server, prefix string, factor float64) (syncRun, error) {
	stack, reg, err := newStack(serviceEnv(e, sim.URL(), prefix, timesBudget(sc.api, factor), timesBudget(sc.comp, factor)))
	if err != nil {
		return syncRun{}, err
	}
	defer stack.Close()
	tr := &timedRunner{stack: stack, reg: reg, sim: sim}
	return tr.once(ctx, syncrun.Full)
}

// apiFigures runs the API figures with the service as cmd builds it (config.Load,
// service.Build, the Runner, and the Scheduler for the full and incremental syncs) against
// the simulator, publishing to the test environment.
func apiFigures(ctx context.Context, sc apiScale, e env, logf func(string, ...any)) ([]Figure, error) {
	sim, err := newSim(sc, false)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	prefix := topicPrefix("bench-api")
	var figs []Figure
	pause := func() { time.Sleep(sc.restorePause) } // let the server's buckets fill again

	logf("scheduled full sync of %d persons, then an incremental one after %d renames ...", sc.persons, sc.changed)
	full, inc, renamed, err := scheduledSyncs(ctx, sc, e, sim, prefix)
	if err != nil {
		return nil, err
	}
	tmin := sc.tmin(full.use)
	logf("full sync: %s (state rebuild %s), %d+%d requests, T_min %s, %d published, 429s %v (%d compensations.too_many_requests)", full.wall.Round(time.Millisecond),
		full.rebuild.Round(time.Millisecond), full.use.api, full.use.comp, tmin.Round(time.Millisecond), full.res.Published(), full.use.limitedBy, full.use.compBusy)
	figs = append(figs,
		Figure{Name: "full_sync_vs_tmin", Value: full.wall.Seconds() / tmin.Seconds(), Goal: "<= 1.05",
			Note: fmt.Sprintf("the service's first full sync (Scheduler → Runner.Run, publishing to Kafka): %.1f s for %d persons + %d months of compensations (%d + %d requests); T_min %.1f s; state rebuild %.2f s of it",
				full.wall.Seconds(), full.res.Entities[0].Extracted, len(extract.Windows(time.Now(), syncrun.DefaultLookbackMonths)), full.use.api, full.use.comp, tmin.Seconds(), full.rebuild.Seconds())},
		Figure{Name: "full_sync_429s", Value: float64(full.use.limited), Goal: "== 0", Note: "429 replies during the full sync"},
	)
	logf("incremental sync: %s, %d requests (%d persons, %d compensations), %d published", inc.wall.Round(time.Millisecond),
		inc.use.calls, inc.use.calls-inc.use.compCalls, inc.use.compCalls, inc.res.Published())
	figs = append(figs,
		Figure{Name: "incremental_requests", Value: float64(inc.use.calls), Goal: "<= 3",
			Note: fmt.Sprintf("every API request (any reply, token excluded) of the incremental sync the Scheduler ran after the full one, %d of %d persons renamed: %d persons, %d compensations; %.1f s, %d events",
				renamed, sc.persons, inc.use.calls-inc.use.compCalls, inc.use.compCalls, inc.wall.Seconds(), inc.res.Published())},
		Figure{Name: "incremental_person_requests", Value: float64(inc.use.calls - inc.use.compCalls), Goal: "<= 3",
			Note: "of those, the requests for persons"},
	)

	pause()
	logf("full sync of a restarted service (state rebuilt from the topics), client configured at twice the server's budget ...")
	adapt, err := fullSync(ctx, sc, e, sim, prefix, 2)
	if err != nil {
		return nil, fmt.Errorf("adaptive sync: %w", err)
	}
	figs = append(figs, adaptiveFigures(sc, adapt, "", "x-ratelimit-* headers on every reply", logf)...)
	figs = append(figs, Figure{Name: "nochange_events", Value: float64(adapt.res.Published()), Goal: "== 0",
		Note: "events of that full sync, nothing changed since the incremental sync"})

	logf("the same against a simulator that sends no rate-limit headers (fresh topics) ...")
	quiet, err := newSim(sc, true)
	if err != nil {
		return nil, err
	}
	defer quiet.Close()
	qadapt, err := fullSync(ctx, sc, e, quiet, topicPrefix("bench-api-quiet"), 2)
	if err != nil {
		return nil, fmt.Errorf("adaptive sync without headers: %w", err)
	}
	figs = append(figs, adaptiveFigures(sc, qadapt, "_no_headers", "no x-ratelimit-* headers: only 429s to learn from; a first sync on fresh topics", logf)...)

	pause()
	logf("sequential baseline ...")
	windows := extract.Windows(time.Now(), syncrun.DefaultLookbackMonths)
	before := sim.Stats()
	seqStart := time.Now()
	seqItems, err := sequentialSync(ctx, sim.URL(), personio.DefaultPersonsLimit, windows)
	if err != nil {
		return nil, fmt.Errorf("sequential baseline: %w", err)
	}
	seqWall := time.Since(seqStart)
	seqUse := usageOf(before, sim.Stats())
	logf("sequential: %s, %d items, %d requests, %d 429s", seqWall.Round(time.Millisecond), seqItems, seqUse.calls, seqUse.limited)
	figs = append(figs, Figure{Name: "vs_sequential_speedup", Value: seqWall.Seconds() / full.wall.Seconds(), Goal: ">= 2",
		Note: fmt.Sprintf("plain loop with net/http, one request after another, over the same persons and %d months (a week of compensations per request): %.1f s (%d requests, %d 429s) vs %.1f s", len(windows), seqWall.Seconds(), seqUse.calls, seqUse.limited, full.wall.Seconds())})
	return figs, nil
}

// adaptiveFigures are adaptive_vs_tmin and adaptive_429_share of one run; suffix ends their
// names.
func adaptiveFigures(sc apiScale, r syncRun, suffix, how string, logf func(string, ...any)) []Figure {
	t := sc.tmin(r.use)
	share := 100 * float64(r.use.limited) / float64(max(r.use.total, 1))
	logf("adaptive%s: %s (state rebuild %s), T_min %s, %d of %d requests 429 %v (%d compensations.too_many_requests)", suffix, r.wall.Round(time.Millisecond),
		r.rebuild.Round(time.Millisecond), t.Round(time.Millisecond), r.use.limited, r.use.total, r.use.limitedBy, r.use.compBusy)
	return []Figure{
		{Name: "adaptive_vs_tmin" + suffix, Value: r.wall.Seconds() / t.Seconds(), Goal: "<= 1.15",
			Note: fmt.Sprintf("client budget 2x the server's, %s; %.1f s (state rebuild %.2f s), T_min %.1f s", how, r.wall.Seconds(), r.rebuild.Seconds(), t.Seconds())},
		{Name: "adaptive_429_share" + suffix, Value: share, Unit: "%", Goal: "<= 1%",
			Note: fmt.Sprintf("%d of %d requests (%d of them compensations.too_many_requests, more than 2 in flight, Retry-After 30 s)", r.use.limited, r.use.total, r.use.compBusy)},
	}
}

// topicPrefix is a fresh topic prefix.
func topicPrefix(base string) string {
	return base + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
