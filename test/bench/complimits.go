package main

import (
	"context"
	"fmt"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
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
	for s := range ex.Extract(ctx, extract.Request{SkipPersons: true}) {
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
	for _, comp := range snap.Compensations {
		if want[comp.ID] {
			got[comp.ID] = true
		}
	}
	st := sim.Stats().Requests[compEndpointName]
	requests := int64(0)
	for _, n := range st {
		requests += n
	}
	complete := snap.Exhaustive() && len(got) == len(want) && len(snap.Compensations) == len(want)
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
