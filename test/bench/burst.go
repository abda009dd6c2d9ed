package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// The burst of webhook_burst_request_ratio: burstDeliveries deliveries about burstPersons
// distinct persons, person and employment events mixed.
const (
	burstDeliveries = 1000
	burstPersons    = 300
)

// delivery is one webhook event of the burst: employmentID is empty for a person event.
type delivery struct {
	name, personID, employmentID string
}

// burstPlan returns n deliveries about k distinct persons of truth (those with an employment,
// each named at least once), half of them employment.updated of the person's first employment
// and half person.updated, in a random order fixed by seed.
func burstPlan(truth personiotest.Truth, n, k int, seed uint64) ([]delivery, error) {
	var ids []string
	for _, p := range truth.Persons {
		if len(truth.Employments[p.ID]) > 0 {
			ids = append(ids, p.ID)
		}
	}
	slices.Sort(ids)
	if len(ids) < k || n < k {
		return nil, fmt.Errorf("burst: %d deliveries about %d persons, %d persons with an employment", n, k, len(ids))
	}
	rng := rand.New(rand.NewPCG(seed, 14))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:k]
	ds := make([]delivery, n)
	for i := range ds {
		id := ids[i%k] // every person at least once
		if i >= k {
			id = ids[rng.IntN(k)]
		}
		if rng.IntN(2) == 0 {
			ds[i] = delivery{name: personio.EventPersonUpdated, personID: id}
		} else {
			ds[i] = delivery{name: personio.EventEmploymentUpdated, personID: id, employmentID: truth.Employments[id][0].ID}
		}
	}
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return ds, nil
}

// fewestRequests is the least a burst's targeted runs can ask Personio for: its distinct
// persons by id in chunks of extract.IDChunk, and one employment listing per distinct person
// an employment event names (one page each: a person has few employments).
func fewestRequests(ds []delivery) (n, persons, employments int) {
	all, emps := map[string]bool{}, map[string]bool{}
	for _, d := range ds {
		all[d.personID] = true
		if d.employmentID != "" {
			emps[d.personID] = true
		}
	}
	chunks := (len(all) + extract.IDChunk - 1) / extract.IDChunk
	return chunks + len(emps), len(all), len(emps)
}

// targetedKey marks the context of a targeted run, so that countingTransport counts the
// requests made under it.
type targetedKey struct{}

func targeted(ctx context.Context) context.Context {
	return context.WithValue(ctx, targetedKey{}, true)
}

// countingTransport counts the API requests (token requests excluded) sent to host under a
// targeted run's context, whatever their reply: every attempt is a request made.
type countingTransport struct {
	next                         http.RoundTripper
	host                         string
	persons, employments, others atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == c.host && r.Context().Value(targetedKey{}) != nil && !strings.HasPrefix(r.URL.Path, "/v2/auth/") {
		switch {
		case r.URL.Path == "/v2/persons":
			c.persons.Add(1)
		case strings.HasSuffix(r.URL.Path, "/employments"):
			c.employments.Add(1)
		default:
			c.others.Add(1)
		}
	}
	return c.next.RoundTrip(r)
}

func (c *countingTransport) counts() (persons, employments, others int64) {
	return c.persons.Load(), c.employments.Load(), c.others.Load()
}

// countTargetedRequests makes the service's Personio client count the requests of targeted
// runs: the client is built with an http.Client without a Transport (service.NewPersonio), so
// its requests go through http.DefaultTransport, which this wraps until the returned restore.
func countTargetedRequests(simURL string) (*countingTransport, func(), error) {
	u, err := url.Parse(simURL)
	if err != nil {
		return nil, nil, err
	}
	prev := http.DefaultTransport
	c := &countingTransport{next: prev, host: u.Host}
	http.DefaultTransport = c
	return c, func() { http.DefaultTransport = prev }, nil
}

// burstCompany is the size of the burst's simulated company: room for burstPersons, and a
// first full sync with employment details that takes a minute or two at Personio's budget.
const burstCompany = 400

// burstTargets marks the context of each targeted run for countingTransport.
type burstTargets struct{ service.TargetReader }

func (b burstTargets) FetchTargets(ctx context.Context, persons, emps []string) error {
	return b.TargetReader.FetchTargets(targeted(ctx), persons, emps)
}

// burstFigures runs the service as `run` builds it (service.Build, the Scheduler with
// incremental syncs every incr, the webhook trigger), with employment details on (the
// default: without them a targeted run lists no employments) against a simulator of
// burstCompany persons at the API scale's budgets and latency. After the scheduler's first
// full sync it fires the burst (the simulator delivers it at once), waits until every delivery
// is processed, and returns the requests the targeted runs made ÷ the fewest they need.
func burstFigures(ctx context.Context, sc apiScale, e env, incr time.Duration, logf func(string, ...any)) ([]Figure, error) {
	sim, vars, err := webhookSetup(sc, e, burstCompany, 14, "bench-burst", personiotest.WebhookOptions{})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	count, restore, err := countTargetedRequests(sim.URL())
	if err != nil {
		return nil, err
	}
	defer restore()
	vars["SYNC_EMPLOYMENT_DETAILS"] = "true"
	stack, reg, err := newStack(vars)
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	hooks, err := service.NewWebhooks(stack.Config, burstTargets{stack.Targets}, nil, reg, slog.New(slog.DiscardHandler))
	if err != nil || hooks == nil {
		return nil, fmt.Errorf("webhook trigger: %v", err)
	}
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	stopHooks, stopSched := make(chan struct{}), make(chan struct{})
	var wg gosync.WaitGroup
	wg.Go(func() { _ = hooks.Run(stopHooks, work) })
	defer func() {
		close(stopHooks)
		close(stopSched)
		wg.Wait()
	}()
	tr := &timedRunner{stack: stack, reg: reg, sim: sim}
	fullDone := make(chan struct{})
	var syncs atomic.Int64 // scheduled syncs finished
	var firstErr atomic.Value
	tr.after = func(runs []syncRun) {
		syncs.Store(int64(len(runs)))
		if len(runs) == 1 {
			if err := runs[0].check(); err != nil {
				firstErr.Store(err)
			}
			close(fullDone)
		}
	}
	sched := service.NewScheduler(tr, service.Schedule{Full: 24 * time.Hour, Incremental: incr}, nil)
	wg.Go(func() { _ = sched.Loop(stopSched, work) })
	logf("webhook burst: full sync of %d persons with employment details first ...", burstCompany)
	select {
	case <-fullDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	if err := registerHook(ctx, stack, vars); err != nil {
		return nil, err
	}

	ds, err := burstPlan(sim.Truth(), burstDeliveries, burstPersons, 14)
	if err != nil {
		return nil, err
	}
	least, persons, emps := fewestRequests(ds)
	p0, e0, o0 := count.counts()
	i0 := syncs.Load()
	logf("webhook burst: %d deliveries about %d persons (%d named by an employment event), incremental syncs every %s ...", len(ds), persons, emps, incr)
	start := time.Now()
	for _, d := range ds {
		sim.FireWebhookEvent(d.name, d.personID, d.employmentID)
	}
	if err := settle(ctx, sim, hooks, 10*time.Minute); err != nil {
		return nil, fmt.Errorf("burst: %w", err)
	}
	took := time.Since(start)
	p1, e1, o1 := count.counts()
	p, e2, o := p1-p0, e1-e0, o1-o0
	made := p + e2 + o
	if st := sim.WebhookStats(); st.GivenUp > 0 {
		return nil, fmt.Errorf("burst: the simulator gave up %d deliveries (%+v)", st.GivenUp, st)
	}
	if made == 0 {
		return nil, errors.New("burst: the targeted runs made no request")
	}
	return []Figure{{
		Name: "webhook_burst_request_ratio", Value: float64(made) / float64(least), Goal: "<= 1.1",
		Note: fmt.Sprintf("%d deliveries about %d of %d persons (person.updated and employment.updated mixed) fired at once, employment details on, incremental syncs every %s; requests of the targeted runs (any reply, token excluded): %d persons, %d employment listings, %d others = %d, ÷ the fewest %d (%d chunks of %d persons by id + %d employment listings); processed in %.1f s, %d scheduled syncs ran meanwhile",
			len(ds), persons, burstCompany, incr, p, e2, o, made, least, least-emps, extract.IDChunk, emps, took.Seconds(), syncs.Load()-i0),
	}}, nil
}

// settle waits until the simulator has no delivery pending and the receiver nothing queued or
// in flight.
func settle(ctx context.Context, sim *personiotest.Server, hooks *service.Webhooks, limit time.Duration) error {
	q := hooks.Receiver.Queue()
	deadline := time.Now().Add(limit)
	for sim.WebhookStats().Pending > 0 || q.Len() > 0 || q.InFlight() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("deliveries not processed within %s: simulator %+v, queued %d, in flight %d",
				limit, sim.WebhookStats(), q.Len(), q.InFlight())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
