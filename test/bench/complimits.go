package main

import (
	"context"
	"fmt"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// Personio's compensation limits (since 2026-11-04): at most 2 compensation requests without a
// person.id filter in progress per company, and a time limit per request (422
// compensations.unprocessable_content). The simulator enforces both by default.

// compInFlight is how many unfiltered compensation requests Personio lets a company have in
// progress.
const compInFlight = personiotest.DefaultCompensationConcurrency

// compConcurrencyTmin is the least time n compensation requests need when at most 2 are in
// flight and each takes the simulator's mean latency (latency + jitter/2): n × mean / 2. Every
// compensation request counts, whatever its reply: a 422 takes its time too.
func compConcurrencyTmin(n int64, latency, jitter time.Duration) time.Duration {
	mean := latency + jitter/2
	return time.Duration(n) * mean / compInFlight
}

// tooManyRequests is how many compensations.too_many_requests replies (429 with Retry-After)
// the simulator gave between two stats.
func tooManyRequests(before, after personiotest.Stats) int64 {
	const typ = "compensations.too_many_requests"
	return after.CompensationErrors[typ] - before.CompensationErrors[typ]
}

// comp422Figure lists one month of compensations of a company of persons persons (10,000 at
// full scale), whose whole-month request the simulator stops as too large, with the extractor
// and the client at their defaults, and checks the listing against the truth.
func comp422Figure(ctx context.Context, persons int, logf func(string, ...any)) (Figure, error) {
	// At full scale the simulator's default work limit stops the month; a smaller company gets
	// a limit that does the same (persons × days + 100 × limit).
	workLimit := personiotest.DefaultCompensationWorkLimit
	if persons*31+100*personio.DefaultCompensationsLimit <= workLimit {
		workLimit = persons*10 + 100*personio.DefaultCompensationsLimit
	}
	sim, err := personiotest.New(personiotest.Options{Persons: persons, Seed: 9, CompensationMonths: 1, NoRateLimit: true,
		CompensationWorkLimit: workLimit})
	if err != nil {
		return Figure{}, err
	}
	defer sim.Close()
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return Figure{}, err
	}
	fast := personio.Rate{PerMinute: 6e6, Burst: 1000}
	c, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, RateLimit: fast, CompensationRateLimit: fast})
	if err != nil {
		return Figure{}, err
	}
	ex, err := extract.New(c, extract.WithLookbackMonths(0))
	if err != nil {
		return Figure{}, err
	}
	logf("one month of compensations of %d persons, work limit %d ...", persons, workLimit)
	var snap extract.Snapshot
	for s := range ex.Extract(ctx, extract.Request{Entities: []change.Entity{change.Compensations}}) {
		snap = s
	}
	if err := ctx.Err(); err != nil {
		return Figure{}, err
	}
	want := map[string]bool{}
	for _, comp := range sim.Truth().Compensations {
		d, _ := time.Parse(time.DateOnly, comp.EffectiveFrom)
		if !d.Before(snap.Window.Start) && !d.After(snap.Window.End) {
			want[comp.ID] = true
		}
	}
	got := map[string]bool{}
	comps, _ := snap.Items.(change.CompensationItems)
	for _, comp := range comps {
		if want[comp.ID] {
			got[comp.ID] = true
		}
	}
	st := sim.Stats().Requests[compEndpointName]
	requests := int64(0)
	for _, n := range st {
		requests += n
	}
	complete := snap.Exhaustive() && len(got) == len(want) && len(comps) == len(want)
	value := 0.0
	if complete {
		value = 1
	}
	logf("comp_422_recovered: complete %v, %d of %d compensations, %d requests (%d stopped with 422, %d pages)",
		complete, len(got), len(want), requests, st[422], st[200])
	return Figure{Name: "comp_422_recovered", Value: value, Goal: "== 1",
		Note: fmt.Sprintf("1 = the month %s of %d persons, whose whole-month request Personio stops (422 compensations.unprocessable_content), listed completely by halving the range: %d of %d compensations in %d requests (%d stopped, %d pages)",
			snap.Window, persons, len(got), len(want), requests, st[422], st[200])}, nil
}

const compEndpointName = "GET /v2/compensations"

// compLimitFigures are the figures of Personio's compensation limits, measured on their own:
// a full listing (persons and the compensations of the current month and the look-back, the
// extractor and the client at their defaults, employment details off) against a simulator of
// the scale's company with every compensation limit on (2 unfiltered requests in progress,
// the time limit, and the 5/s compensation budget of 2027-01-13), then comp_422_recovered.
func compLimitFigures(ctx context.Context, sc apiScale, logf func(string, ...any)) ([]Figure, error) {
	sim, err := personiotest.New(personiotest.Options{Persons: sc.persons, Seed: 7,
		RateLimit:                 personiotest.Rate{PerMinute: sc.api.perSecond * 60, Burst: sc.api.burst},
		CompensationRateLimit:     personiotest.Rate{PerMinute: sc.comp.perSecond * 60, Burst: sc.comp.burst},
		CompensationRateLimitFrom: time.Unix(0, 0), // the 5/s of 2027-01-13 in force
		Faults:                    personiotest.Faults{Latency: sc.latency, LatencyJitter: sc.jitter}})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	c, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret:          personiotest.DefaultClientSecret,
		RateLimit:             personio.Rate{PerMinute: sc.api.perSecond * 60, Burst: sc.api.burst},
		CompensationRateLimit: personio.Rate{PerMinute: sc.comp.perSecond * 60, Burst: sc.comp.burst}})
	if err != nil {
		return nil, err
	}
	ex, err := extract.New(c)
	if err != nil {
		return nil, err
	}
	logf("full listing of %d persons and 3 months of compensations under Personio's compensation limits ...", sc.persons)
	before := sim.Stats()
	start := time.Now()
	complete, items := true, 0
	// Employments left out, as the API figures run with SYNC_EMPLOYMENT_DETAILS=false.
	for s := range ex.Extract(ctx, extract.Request{Entities: []change.Entity{change.Persons, change.Compensations}}) {
		complete = complete && s.Exhaustive()
		if s.Items != nil {
			items += s.Items.Len()
		}
	}
	wall := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after := sim.Stats()
	var api, comp, compCalls int64
	for ep, byStatus := range after.Requests {
		for st, n := range byStatus {
			n -= before.Requests[ep][st]
			switch {
			case ep == compEndpointName:
				compCalls += n
				if st/100 == 2 {
					comp += n
				}
			case ep != "POST /v2/auth/token" && st/100 == 2:
				api += n
			}
		}
	}
	budget := func(n int64, b budget) time.Duration {
		return time.Duration(float64(n-int64(b.burst)) / b.perSecond * float64(time.Second))
	}
	tConc := compConcurrencyTmin(compCalls, sc.latency, sc.jitter)
	tmin := max(budget(api, sc.api), budget(comp, sc.comp), tConc)
	tooMany := tooManyRequests(before, after)
	logf("full listing: %s, complete %v, %d items, %d + %d requests (%d compensation requests in all), T_min %s (under 2 in flight %s), %d compensations.too_many_requests",
		wall.Round(time.Millisecond), complete, items, api, comp, compCalls, tmin.Round(time.Millisecond), tConc.Round(time.Millisecond), tooMany)
	if !complete {
		return nil, fmt.Errorf("full listing under the compensation limits: incomplete")
	}
	f422, err := comp422Figure(ctx, sc.persons, logf)
	if err != nil {
		return nil, err
	}
	return []Figure{
		{Name: "full_sync_vs_tmin_comp_limits", Value: wall.Seconds() / tmin.Seconds(), Goal: "<= 1.05",
			Note: fmt.Sprintf("full listing (extractor and client at their defaults, employment details off, no Kafka) of %d persons + 3 months of compensations with every compensation limit on: %.1f s, %d + %d requests (%d compensation requests in all, 422s included); T_min %.1f s = the largest of the two budgets' (n - burst) / rate and the concurrency bound %.1f s (every compensation request takes the mean latency, 2 in flight)",
				sc.persons, wall.Seconds(), api, comp, compCalls, tmin.Seconds(), tConc.Seconds())},
		{Name: "comp_concurrency_429s", Value: float64(tooMany), Goal: "== 0",
			Note: "429 compensations.too_many_requests (Retry-After: 30) during that listing"},
		f422,
	}, nil
}
