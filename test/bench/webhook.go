package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	gosync "sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
)

// Webhook latency measurement: a steady 2 changes/s for webhookSteady, delivered by the
// simulator's webhooks to the service's trigger while the scheduled incremental syncs run.
const (
	webhookRate  = 2 // changes per second
	benchToken   = "bench-webhook-token-0123456789"
	benchHookURL = "/webhooks/personio"
)

// latencyTargets is the runner's targeted run, noting when each changed person's run finished
// (the publisher returns once Kafka acknowledged every event).
type latencyTargets struct {
	service.TargetReader
	mu      gosync.Mutex
	changed map[string]time.Time // person → when the simulator changed it (not yet published)
	lat     []time.Duration
	failed  int
}

func (l *latencyTargets) FetchTargets(ctx context.Context, persons, emps []string) error {
	start := time.Now()
	err := l.TargetReader.FetchTargets(ctx, persons, emps)
	done := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		return err
	}
	for _, id := range persons {
		// A run that started before the change cannot have read it.
		if t, ok := l.changed[id]; ok && start.After(t) {
			l.lat = append(l.lat, done.Sub(t))
			delete(l.changed, id)
		}
	}
	return nil
}

// quantile returns the q-quantile of ds (nearest rank); ds is sorted.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// webhookFigures runs the service as `run` builds it (service.Build, the Scheduler, the webhook
// trigger with the runner's targeted runs) against the simulator with the API scale's budgets
// and latency: after the first full sync, one person is renamed every 1/webhookRate s for
// steady; the simulator delivers person.updated to the receiver at once, and the figure is the
// time from the change to the end of the targeted run that published it (Kafka acknowledged),
// with incremental syncs every incr in between.
func webhookFigures(ctx context.Context, sc apiScale, e env, steady, incr time.Duration, logf func(string, ...any)) ([]Figure, error) {
	sim, vars, err := webhookSetup(sc, e, sc.persons, 7, "bench-webhook", personiotest.WebhookOptions{})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	stack, reg, err := newStack(vars)
	if err != nil {
		return nil, err
	}
	defer stack.Close()

	targets := &latencyTargets{TargetReader: stack.Targets, changed: map[string]time.Time{}}
	hooks, err := service.NewWebhooks(stack.Config, targets, nil, reg, slog.New(slog.DiscardHandler))
	if err != nil || hooks == nil {
		return nil, fmt.Errorf("webhook trigger: %v", err)
	}
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	stopHooks, stopSched := make(chan struct{}), make(chan struct{})
	var wg gosync.WaitGroup
	var hookErr, schedErr error
	wg.Go(func() { hookErr = hooks.Run(stopHooks, work) })
	defer func() {
		close(stopHooks)
		close(stopSched)
		wg.Wait()
	}()

	// The scheduler's first full sync builds the state; the changes start after it.
	tr := &timedRunner{stack: stack, reg: reg, sim: sim}
	fullDone := make(chan struct{})
	tr.after = func(runs []syncRun) {
		if len(runs) == 1 {
			close(fullDone)
		}
	}
	sched := service.NewScheduler(tr, service.Schedule{Full: 24 * time.Hour, Incremental: incr}, nil)
	wg.Go(func() { schedErr = sched.Loop(stopSched, work) })
	logf("webhooks: full sync of %d persons first ...", sc.persons)
	select {
	case <-fullDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := tr.runs[0].check(); err != nil {
		return nil, err
	}
	if err := registerHook(ctx, stack, vars); err != nil {
		return nil, err
	}
	logf("webhooks: %d changes/s for %s, incremental syncs every %s ...", webhookRate, steady, incr)
	tick := time.NewTicker(time.Second / webhookRate)
	end := time.Now().Add(steady)
	changes := 0
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		at := time.Now()
		for _, id := range sim.Churn(personiotest.Churn{Renames: 1}).Renames {
			targets.mu.Lock()
			if _, ok := targets.changed[id]; !ok {
				targets.changed[id] = at
			}
			targets.mu.Unlock()
			changes++
		}
	}
	tick.Stop()
	// Let the last deliveries be published (at most a minute).
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		targets.mu.Lock()
		left := len(targets.changed)
		targets.mu.Unlock()
		if left == 0 {
			break
		}
	}
	targets.mu.Lock()
	lat, left, failed := slices.Sorted(slices.Values(targets.lat)), len(targets.changed), targets.failed
	targets.mu.Unlock()
	if hookErr != nil || schedErr != nil {
		return nil, fmt.Errorf("webhook trigger: %v; scheduler: %v", hookErr, schedErr)
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("webhooks: none of %d changes was published (%d targeted runs failed)", changes, failed)
	}
	incrs := len(tr.runs) - 1
	note := fmt.Sprintf("%d renames at %d/s delivered by the simulator's webhooks, from the change to Kafka's acknowledgement of the targeted run; %d incremental syncs ran meanwhile (every %s), %d changes not published within a minute after, %d targeted runs failed",
		changes, webhookRate, incrs, incr, left, failed)
	return []Figure{
		{Name: "webhook_latency_p50_seconds", Value: quantile(lat, 0.5).Seconds(), Unit: "s", Note: note},
		{Name: "webhook_latency_p99_seconds", Value: quantile(lat, 0.99).Seconds(), Unit: "s", Goal: "<= 5", Note: note},
	}, nil
}

// webhookSetup starts a simulator of persons at the API scale's budgets and latency that
// delivers its webhooks at once, and returns it with the service's settings against it: the
// topics under prefix, the receiver on a free loopback port with the bench's token and path.
// The caller closes the simulator. hooks are the simulator's delivery options (a zero Backoff
// is 100 ms).
func webhookSetup(sc apiScale, e env, persons int, seed int64, prefix string, hooks personiotest.WebhookOptions) (*personiotest.Server, map[string]string, error) {
	if hooks.Backoff == 0 {
		hooks.Backoff = 100 * time.Millisecond
	}
	sim, err := personiotest.New(personiotest.Options{Persons: persons, Seed: seed,
		RateLimit:             personiotest.Rate{PerMinute: sc.api.perSecond * 60, Burst: sc.api.burst},
		CompensationRateLimit: personiotest.Rate{PerMinute: sc.comp.perSecond * 60, Burst: sc.comp.burst},
		Faults:                personiotest.Faults{Latency: sc.latency, LatencyJitter: sc.jitter},
		Webhooks:              hooks})
	if err != nil {
		return nil, nil, err
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for WEBHOOK_ADDR
	if err != nil {
		_ = sim.Close()
		return nil, nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	vars := serviceEnv(e, sim.URL(), topicPrefix(prefix), sc.api, sc.comp)
	vars["WEBHOOK_ADDR"], vars["WEBHOOK_TOKEN"], vars["WEBHOOK_PATH"] = addr, benchToken, benchHookURL
	return sim, vars, nil
}

// registerHook registers the service's receiver (vars, of webhookSetup) with the simulator,
// enabled for the person and employment events, as `personio-cdc webhooks register` does
// (over plain http: the simulator allows it on loopback).
func registerHook(ctx context.Context, stack *service.Stack, vars map[string]string) error {
	_, err := stack.Personio.CreateWebhook(ctx, personio.WebhookSpec{URL: "http://" + vars["WEBHOOK_ADDR"] + benchHookURL,
		Description: "bench", Status: personio.WebhookEnabled, Token: benchToken, EnabledEvents: personio.PersonEvents})
	return err
}
