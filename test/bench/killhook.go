package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	gosync "sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/internal/webhook"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// lockedBuffer is a bytes.Buffer safe for a child's writes and the bench's reads.
type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond every 50 ms until it holds, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fullSyncLogged reports whether a JSON log holds the scheduler's record of a complete full
// sync.
func fullSyncLogged(log string) bool {
	for line := range strings.SplitSeq(log, "\n") {
		var rec struct{ Msg, Component, Kind string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "sync complete" && rec.Component == "scheduler" && rec.Kind == "full" {
			return true
		}
	}
	return false
}

// completedTargetedRuns reads, from the /metrics of the service at admin, how many targeted
// runs completed.
func completedTargetedRuns(ctx context.Context, admin string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil // not listening yet
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return webhookRunsIn(string(b))
}

// webhookRunsIn returns the complete targeted runs a Prometheus text exposition counts:
// personio_cdc_sync_runs_total with kind="webhook" and result="complete", summed over its other
// labels (tenant).
func webhookRunsIn(metrics string) (int, error) {
	n := 0.0
	for line := range strings.SplitSeq(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, "personio_cdc_sync_runs_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(labels, `kind="webhook"`) || !strings.Contains(labels, `result="complete"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		n += v
	}
	return int(n), nil
}

// freeLoopback returns a loopback address no one listens on now.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// changedKeys returns the person and employment keys whose record differs between two
// truths of the simulator (changed, created or deleted): what a burst changed.
func changedKeys(before, after personiotest.Truth) (map[change.Entity]map[string]bool, error) {
	b, err := oracle.Expected(before, benchTenant, nil)
	if err != nil {
		return nil, err
	}
	a, err := oracle.Expected(after, benchTenant, nil)
	if err != nil {
		return nil, err
	}
	keys := map[change.Entity]map[string]bool{}
	for _, e := range []change.Entity{change.Persons, change.Employments} {
		keys[e] = map[string]bool{}
		for k, h := range a[e] {
			if was, ok := b[e][k]; !ok || was != h {
				keys[e][k] = true
			}
		}
		for k := range b[e] {
			if _, ok := a[e][k]; !ok {
				keys[e][k] = true
			}
		}
	}
	return keys, nil
}

// notOnTopics counts the keys of keys whose record on the topics (replayed as the service
// replays them) is not the truth's: missing, stale, or still there although deleted.
func notOnTopics(ctx context.Context, stack *service.Stack, prefix string, truth personiotest.Truth,
	keys map[change.Entity]map[string]bool) (int, error) {
	want, err := oracle.Expected(truth, benchTenant, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for e, ks := range keys {
		rp, err := oracle.ReplayTopic(ctx, stack.Kafka, codec.New(stack.Registry), prefix+"."+string(e), e)
		if err != nil {
			return 0, err
		}
		for k := range ks {
			got, on := rp.State[e][k]
			w, live := want[e][k]
			if on != live || got != w {
				n++
			}
		}
	}
	return n, nil
}

// killCompany is the size of the simulated company of webhook_lost_after_kill: the burst's
// changes fall on about 300 of its persons.
const killCompany = 330

// killAfterRuns is how many targeted runs complete after the first half of the burst was fired
// before the kill: the first takes the first person alone, the next ones up to 50 (those
// queued meanwhile), so that the kill lands while the burst is being processed.
const killAfterRuns = 3

// lostAfterKillFigures measures webhook_lost_after_kill. The built `personio-cdc run` (a child
// process, employment details on, incremental syncs every incr, the receiver on a loopback
// port registered with the simulator) runs its first full sync; then a burst of churn that
// fires burstDeliveries webhook events about some 300 of killCompany persons starts, and the
// child is SIGKILLed once the first half was fired and killAfterRuns targeted runs completed. The
// simulator gives up each delivery after one attempt, so the second half, fired while the
// receiver is down, and every person queued or in flight in the dead process exist only at
// Personio's events endpoint. The service is started again with its webhook trigger alone
// (service.NewWebhooks' receiver, catch-up and consumer over a fresh service.Build: the state
// rebuilt from the topics) and no Scheduler, so that no full or incremental sync runs: what
// reaches the topics is what the webhooks and the catch-up deliver. Once the catch-up is done
// and nothing is queued or in flight, the figure is the number of persons and employments the
// burst changed (created, updated or deleted between the simulator's truth before and after
// it) whose record on the topics is not the simulator's.
func lostAfterKillFigures(ctx context.Context, sc apiScale, e env, incr time.Duration, logf func(string, ...any)) ([]Figure, error) {
	dir, err := os.MkdirTemp("", "bench-killhook-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf("webhook kill: building personio-cdc ...")
	bin, err := buildService(ctx, dir)
	if err != nil {
		return nil, err
	}
	sim, vars, err := webhookSetup(sc, e, killCompany, 21, "bench-killhook", personiotest.WebhookOptions{Attempts: 1})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	admin, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	vars["SYNC_EMPLOYMENT_DETAILS"] = "true"
	vars["FULL_SYNC_INTERVAL"] = "24h"
	vars["INCREMENTAL_SYNC_INTERVAL"] = incr.String()
	vars["ADMIN_ADDR"] = admin
	// The full syncs list every employment (no rolling refresh): the topics hold the truth
	// when the burst starts.
	vars["EMPLOYMENT_REFRESH_PERIOD"] = "0"
	vars["LOG_FORMAT"], vars["LOG_LEVEL"] = "json", "info"
	stack, _, err := newStack(vars)
	if err != nil {
		return nil, err
	}
	defer stack.Close()

	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	alive := func() error {
		select {
		case <-exited:
			return fmt.Errorf("personio-cdc run exited: %s", log.String())
		default:
			return nil
		}
	}
	logf("webhook kill: `personio-cdc run` (child) runs its first full sync of %d persons with employment details ...", killCompany)
	if err := waitFor(ctx, 15*time.Minute, "the first full sync", func() (bool, error) {
		return fullSyncLogged(log.String()), alive()
	}); err != nil {
		return nil, err
	}
	if err := registerHook(ctx, stack, vars); err != nil {
		return nil, err
	}

	before := sim.Truth()
	named := map[string]bool{}
	st0 := sim.WebhookStats()
	churns := 0
	burst := func(until int64) {
		for sim.WebhookStats().Fired-st0.Fired < until {
			res := sim.Churn(personiotest.BurstChurn(churns))
			churns++
			for _, id := range res.Persons() {
				named[id] = true
			}
		}
	}
	logf("webhook kill: burst of %d deliveries, SIGKILL once half were fired and %d targeted runs completed ...", burstDeliveries, killAfterRuns)
	runs0, err := completedTargetedRuns(ctx, admin)
	if err != nil {
		return nil, err
	}
	burst(burstDeliveries / 2)
	if err := waitFor(ctx, 5*time.Minute, "a targeted run", func() (bool, error) {
		n, err := completedTargetedRuns(ctx, admin)
		return n >= runs0+killAfterRuns, errors.Join(err, alive())
	}); err != nil {
		return nil, err
	}
	_ = cmd.Process.Kill()
	<-exited
	atKill := sim.WebhookStats()
	killTruth := sim.Truth()
	keysAtKill, err := changedKeys(before, killTruth)
	if err != nil {
		return nil, err
	}
	notAtKill, err := notOnTopics(ctx, stack, vars["TOPIC_PREFIX"], killTruth, keysAtKill)
	if err != nil {
		return nil, err
	}
	changedAtKill := len(keysAtKill[change.Persons]) + len(keysAtKill[change.Employments])
	burst(burstDeliveries)
	if err := waitFor(ctx, time.Minute, "the deliveries to the dead receiver", func() (bool, error) {
		return sim.WebhookStats().Pending == 0, nil
	}); err != nil {
		return nil, err
	}
	after := sim.Truth()
	keys, err := changedKeys(before, after)
	if err != nil {
		return nil, err
	}
	missingAtKill, err := notOnTopics(ctx, stack, vars["TOPIC_PREFIX"], after, keys)
	if err != nil {
		return nil, err
	}
	fired := sim.WebhookStats().Fired - st0.Fired
	givenUp := sim.WebhookStats().GivenUp - st0.GivenUp

	// The restart: the webhook trigger of `run` alone, over a fresh stack.
	restarted, reg, err := newStack(vars)
	if err != nil {
		return nil, err
	}
	defer restarted.Close()
	var hookLog lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&hookLog, nil))
	rcv, err := webhook.New(webhook.Options{Addr: vars["WEBHOOK_ADDR"], Path: benchHookURL, Token: benchToken,
		QueueSize: restarted.Config.Webhook.QueueSize, Registerer: reg, Logger: logger})
	if err != nil {
		return nil, err
	}
	url := "http://" + vars["WEBHOOK_ADDR"] + benchHookURL // registered over http: WEBHOOK_URL wants https
	hooks := &service.Webhooks{Receiver: rcv, Reader: restarted.Targets, Events: restarted.Personio, URL: url,
		Addr: vars["WEBHOOK_ADDR"], Logger: logger}
	stop := make(chan struct{})
	work, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- hooks.Run(stop, work) }()
	defer func() {
		close(stop)
		<-done
	}()
	logf("webhook kill: %d deliveries about %d persons (%d delivered before the kill, %d given up), %d burst records not on the topics; restarted with the webhook trigger alone ...",
		fired, len(named), atKill.Delivered-st0.Delivered, givenUp, missingAtKill)
	if err := waitFor(ctx, 15*time.Minute, "the catch-up", func() (bool, error) {
		if strings.Contains(hookLog.String(), `"msg":"webhook catch-up failed`) || strings.Contains(hookLog.String(), `"msg":"webhook catch-up skipped`) {
			return false, fmt.Errorf("webhook catch-up: %s", hookLog.String())
		}
		return strings.Contains(hookLog.String(), `"msg":"webhook catch-up done"`), nil
	}); err != nil {
		return nil, err
	}
	if err := settle(ctx, sim, hooks, 15*time.Minute); err != nil {
		return nil, err
	}
	took := time.Since(start)
	lost, err := notOnTopics(ctx, restarted, vars["TOPIC_PREFIX"], sim.Truth(), keys)
	if err != nil {
		return nil, err
	}
	logf("webhook kill: %d of the %d changed records not on the topics after the catch-up (%.1f s)", lost,
		len(keys[change.Persons])+len(keys[change.Employments]), took.Seconds())
	return []Figure{{
		Name: "webhook_lost_after_kill", Value: float64(lost), Goal: "== 0",
		Note: fmt.Sprintf("%d deliveries about %d of %d persons (churn: renames, email, employment and cost center changes, hires, terminations, deletions), employment details on, incremental syncs every %s; `personio-cdc run` SIGKILLed after %d deliveries and %d targeted runs (%d of the %d records changed by then on the topics), the simulator giving each delivery one attempt (%d given up); of the %d persons and employments the burst changed (created, updated or deleted), %d were not on the topics after the kill; restarted with the webhook trigger alone (no sync ran): catch-up and targeted runs done in %.1f s, %d still not on the topics",
			fired, len(named), killCompany, incr, atKill.Delivered-st0.Delivered, killAfterRuns, changedAtKill-notAtKill, changedAtKill, givenUp,
			len(keys[change.Persons])+len(keys[change.Employments]), missingAtKill, took.Seconds(), lost),
	}}, nil
}
