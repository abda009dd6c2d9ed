package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// budget is one request budget of the simulated Personio.
type budget struct {
	perSecond float64
	burst     int
}

// apiScale describes the simulated Personio of the API figures.
type apiScale struct {
	persons      int
	pageSize     int // persons page size asked for (Personio's maximum is 50)
	api, comp    budget
	latency      time.Duration
	jitter       time.Duration
	chains       int
	compWindows  int
	changed      int // persons changed before the incremental sync
	restorePause time.Duration
}

func (a apiScale) rate(b budget) personio.Rate {
	return personio.Rate{PerMinute: b.perSecond * 60, Burst: b.burst}
}

// usage is what one run cost the simulator, from its stats.
type usage struct {
	api, comp, token, limited, total int64
	limitedBy                        []string // "endpoint: 429 count"
}

func usageOf(before, after personiotest.Stats) usage {
	var u usage
	for ep, byStatus := range after.Requests {
		for st, n := range byStatus {
			n -= before.Requests[ep][st]
			if st == http.StatusTooManyRequests || st/100 != 2 {
				continue
			}
			switch ep {
			case "GET /v2/compensations":
				u.comp += n
			case "POST /v2/auth/token", "POST /v2/auth/revoke":
				u.token += n
			default:
				u.api += n
			}
		}
	}
	u.limited = after.RateLimited - before.RateLimited
	for ep, byStatus := range after.Requests {
		if n := byStatus[http.StatusTooManyRequests] - before.Requests[ep][http.StatusTooManyRequests]; n > 0 {
			u.limitedBy = append(u.limitedBy, fmt.Sprintf("%s: %d", ep, n))
		}
	}
	u.total = after.Total - before.Total
	return u
}

// tmin is the least time the successful requests of a run need under the server's budgets:
// the largest, over the two budgets, of (requests − burst) / rate (a budget starts full).
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
	return time.Duration(t * float64(time.Second))
}

// pagedSource sets the persons page size on every listing.
type pagedSource struct {
	extract.Source
	size int
}

func (p pagedSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	f.Limit = p.size
	return p.Source.ListPersons(ctx, f, fn)
}

// syncRun is the outcome of one sync against the simulator.
type syncRun struct {
	wall       time.Duration
	use        usage
	events     []change.Event
	complete   bool
	maxUpdated time.Time
	persons    int
}

// syncer runs syncs (extract, normal form, diff, fold into the state) against one simulator.
type syncer struct {
	sim   *personiotest.Server
	scale apiScale
	store state.Store
	known []time.Time // created_at of the persons in the state
}

func (s *syncer) client(factor float64) (*personio.Client, error) {
	api, comp := s.scale.api, s.scale.comp
	api.perSecond *= factor
	api.burst = int(float64(api.burst) * factor)
	comp.perSecond *= factor
	comp.burst = int(float64(comp.burst) * factor)
	return personio.New(personio.Config{
		BaseURL: s.sim.URL(), ClientID: personiotest.DefaultClientID, ClientSecret: personiotest.DefaultClientSecret,
		RateLimit: s.scale.rate(api), CompensationRateLimit: s.scale.rate(comp),
		Logger: slog.New(slog.DiscardHandler),
	})
}

// run does one sync. factor scales the client's configured budget against the server's.
func (s *syncer) run(ctx context.Context, kind change.SyncKind, since time.Time, factor float64) (syncRun, error) {
	c, err := s.client(factor)
	if err != nil {
		return syncRun{}, err
	}
	ext, err := extract.New(pagedSource{Source: c, size: s.scale.pageSize},
		extract.WithEmploymentDetails(false), extract.WithLookbackMonths(0),
		extract.WithPersonChains(s.scale.chains), extract.WithCompensationWindows(s.scale.compWindows))
	if err != nil {
		return syncRun{}, err
	}
	d, err := diff.New()
	if err != nil {
		return syncRun{}, err
	}
	req := extract.Request{PersonsCreatedAt: s.known}
	if kind == change.Incremental {
		req = extract.Request{PersonsUpdatedSince: since, SkipCompensations: true}
	}
	src := change.Source{Tenant: benchTenant, SyncID: "bench", SyncKind: string(kind), ExtractedAt: time.Now()}
	before := s.sim.Stats()
	start := time.Now()
	var out syncRun
	out.complete = true
	for snap := range ext.Extract(ctx, req) {
		run, err := d.Begin(s.store, snap.Entity, src)
		if err != nil {
			return out, err
		}
		scope := diff.Scope{Complete: snap.Complete}
		switch snap.Entity {
		case change.Persons:
			for _, p := range snap.Persons {
				rec, err := change.NewPerson(p.Person, p.EmploymentList)
				if err != nil {
					return out, err
				}
				if rec.UpdatedAt != nil && rec.UpdatedAt.After(out.maxUpdated) {
					out.maxUpdated = *rec.UpdatedAt
				}
				if err := run.Add(rec); err != nil {
					return out, err
				}
			}
			out.persons += len(snap.Persons)
		case change.Compensations:
			for _, c := range snap.Compensations {
				rec, err := change.NewCompensation(c)
				if err != nil {
					return out, err
				}
				if err := run.Add(rec); err != nil {
					return out, err
				}
			}
			scope.Contains = diff.EffectiveIn(diff.Window{Start: snap.Window.Start, End: snap.Window.End})
		}
		res, err := run.Finish(scope)
		if err != nil {
			return out, err
		}
		out.complete = out.complete && snap.Complete
		out.events = append(out.events, res.Events...)
	}
	out.wall = time.Since(start)
	out.use = usageOf(before, s.sim.Stats())
	if err := state.Apply(s.store, out.events); err != nil {
		return out, err
	}
	if !out.complete {
		return out, fmt.Errorf("%s sync incomplete", kind)
	}
	return out, nil
}

// apiFigures runs the API figures: full sync, the same with an over-configured client (which
// also checks that a sync without changes publishes nothing), the sequential baseline and the
// incremental sync.
func apiFigures(ctx context.Context, sc apiScale, logf func(string, ...any)) ([]Figure, error) {
	sim, err := personiotest.New(personiotest.Options{Persons: sc.persons, Seed: 7,
		RateLimit:             personiotest.Rate{PerMinute: sc.api.perSecond * 60, Burst: sc.api.burst},
		CompensationRateLimit: personiotest.Rate{PerMinute: sc.comp.perSecond * 60, Burst: sc.comp.burst},
		Faults:                personiotest.Faults{Latency: sc.latency, LatencyJitter: sc.jitter}})
	if err != nil {
		return nil, err
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer sim.Close()

	s := &syncer{sim: sim, scale: sc, store: state.NewMemory()}
	for _, p := range sim.Truth().Persons {
		if t, err := time.Parse(time.RFC3339, p.CreatedAt); err == nil {
			s.known = append(s.known, t)
		}
	}
	var figs []Figure
	pause := func() { time.Sleep(sc.restorePause) } // let the server's buckets fill again

	logf("full sync of %d persons ...", sc.persons)
	full, err := s.run(ctx, change.Full, time.Time{}, 1)
	if err != nil {
		return nil, fmt.Errorf("full sync: %w", err)
	}
	tmin := sc.tmin(full.use)
	logf("full sync: %s, %d+%d requests, T_min %s, %d events, 429s %v", full.wall.Round(time.Millisecond), full.use.api, full.use.comp, tmin.Round(time.Millisecond), len(full.events), full.use.limitedBy)
	figs = append(figs,
		Figure{Name: "full_sync_vs_tmin", Value: full.wall.Seconds() / tmin.Seconds(), Goal: "<= 1.05",
			Note: fmt.Sprintf("%.1f s for %d persons + 1 month of compensations (%d + %d requests); T_min %.1f s", full.wall.Seconds(), full.persons, full.use.api, full.use.comp, tmin.Seconds())},
		Figure{Name: "full_sync_429s", Value: float64(full.use.limited), Goal: "== 0", Note: "429 replies during the full sync"},
	)

	pause()
	logf("full sync again, client configured at twice the server's budget ...")
	adapt, err := s.run(ctx, change.Full, time.Time{}, 2)
	if err != nil {
		return nil, fmt.Errorf("adaptive sync: %w", err)
	}
	atmin := sc.tmin(adapt.use)
	share := 100 * float64(adapt.use.limited) / float64(max(adapt.use.total, 1))
	logf("adaptive: %s, T_min %s, %d of %d requests 429", adapt.wall.Round(time.Millisecond), atmin.Round(time.Millisecond), adapt.use.limited, adapt.use.total)
	figs = append(figs,
		Figure{Name: "adaptive_vs_tmin", Value: adapt.wall.Seconds() / atmin.Seconds(), Goal: "<= 1.15",
			Note: fmt.Sprintf("client budget 2x the server's; %.1f s, T_min %.1f s", adapt.wall.Seconds(), atmin.Seconds())},
		Figure{Name: "adaptive_429_share", Value: share, Unit: "%", Goal: "<= 1%",
			Note: fmt.Sprintf("%d of %d requests", adapt.use.limited, adapt.use.total)},
		Figure{Name: "nochange_events", Value: float64(len(adapt.events)), Goal: "== 0",
			Note: "events of the second full sync, nothing changed in between"},
	)

	pause()
	logf("sequential baseline ...")
	before := sim.Stats()
	seqStart := time.Now()
	seqItems, err := sequentialSync(ctx, sim.URL(), sc.pageSize, extract.Windows(time.Now(), 0)[0])
	if err != nil {
		return nil, fmt.Errorf("sequential baseline: %w", err)
	}
	seqWall := time.Since(seqStart)
	seqUse := usageOf(before, sim.Stats())
	logf("sequential: %s, %d items, %d 429s", seqWall.Round(time.Millisecond), seqItems, seqUse.limited)
	figs = append(figs, Figure{Name: "vs_sequential_speedup", Value: seqWall.Seconds() / full.wall.Seconds(), Goal: ">= 2",
		Note: fmt.Sprintf("plain loop with net/http, one request after another: %.1f s (%d 429s) vs %.1f s", seqWall.Seconds(), seqUse.limited, full.wall.Seconds())})

	pause()
	res := sim.Churn(personiotest.Churn{Renames: sc.changed})
	logf("incremental sync after %d renames ...", len(res.Renames))
	inc, err := s.run(ctx, change.Incremental, full.maxUpdated, 1)
	if err != nil {
		return nil, fmt.Errorf("incremental sync: %w", err)
	}
	figs = append(figs, Figure{Name: "incremental_requests", Value: float64(inc.use.api + inc.use.comp), Goal: "<= 3",
		Note: fmt.Sprintf("persons listed since the high-water mark after %d of %d persons changed; %d events", len(res.Renames), sc.persons, len(inc.events))})
	return figs, nil
}
