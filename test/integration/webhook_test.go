//go:build integration

package integration

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/internal/webhook"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

const (
	hookPath  = "/webhooks/personio"
	hookToken = "integration-webhook-token"
)

// startWebhooks runs the webhook trigger of `run` (receiver, catch-up, consumer) on addr with
// the runner r, and returns it and a stop function that waits for it to end.
func startWebhooks(t *testing.T, p *pipelineEnv, r *sync.Runner, addr, url string) (*service.Webhooks, func()) {
	t.Helper()
	rcv, err := webhook.New(webhook.Options{Addr: addr, Path: hookPath, Token: hookToken, QueueSize: 1000,
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	w := &service.Webhooks{Receiver: rcv, Reader: r, Events: p.client, URL: url, Addr: addr, Logger: slog.New(slog.DiscardHandler)}
	stop := make(chan struct{})
	work, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(stop, work) }()
	for w.ListenAddr() == nil {
		select {
		case err := <-done:
			t.Fatalf("webhook trigger: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return w, func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("webhook trigger: %v", err)
		}
		cancel()
	}
}

// settled waits until the simulator has no delivery pending and the receiver's queue is empty
// with nothing in flight.
func settled(t *testing.T, sim *personiotest.Server, w *service.Webhooks) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for sim.WebhookStats().Pending > 0 || w.Receiver.Queue().Len() > 0 || w.Receiver.Queue().InFlight() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not processed after 2 minutes: simulator %+v, queue %d, in flight %d",
				sim.WebhookStats(), w.Receiver.Queue().Len(), w.Receiver.Queue().InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkPersonsAndEmployments compares the persons and employments topics with the truth: the
// independent Python consumer's state field by field, and the service's replay hash by hash.
func (p *pipelineEnv) checkPersonsAndEmployments() {
	p.t.Helper()
	truth := p.sim.Truth()
	ComparePersons(p.t, pipelineTenant, verifiedState(p.t, RunVerifier(p.t, p.prefix+".persons")), truth)
	CompareEmployments(p.t, pipelineTenant, verifiedState(p.t, RunVerifier(p.t, p.prefix+".employments")), truth)
	want := p.expected()
	for _, e := range []change.Entity{change.Persons, change.Employments} {
		rp, err := oracle.ReplayTopic(p.t.Context(), p.kafka, p.codec, p.prefix+"."+string(e), e)
		if err != nil {
			p.t.Fatal(err)
		}
		if d := oracle.Diff(rp.State[e], want[e]); d != "" {
			p.t.Errorf("%s topic differs from the truth: %s", e, d)
		}
	}
}

// waitForTruth waits until the persons and employments topics, as the service replays them,
// equal the truth (or fails after two minutes).
func (p *pipelineEnv) waitForTruth() {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		want := p.expected()
		diff := ""
		for _, e := range []change.Entity{change.Persons, change.Employments} {
			rp, err := oracle.ReplayTopic(p.t.Context(), p.kafka, p.codec, p.prefix+"."+string(e), e)
			if err != nil {
				p.t.Fatal(err)
			}
			if d := oracle.Diff(rp.State[e], want[e]); d != "" {
				diff += string(e) + ": " + d + "; "
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("topics still differ from the truth after 2 minutes: %s", diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhookEvents counts the events of targeted runs on an entity's topic.
func (p *pipelineEnv) webhookEvents(e change.Entity) int {
	p.t.Helper()
	rp, err := oracle.ReplayTopic(p.t.Context(), p.kafka, p.codec, p.prefix+"."+string(e), e)
	if err != nil {
		p.t.Fatal(err)
	}
	n := 0
	for _, m := range rp.Messages {
		if !m.Tombstone && m.Event.Source.SyncKind == string(sync.Webhook) {
			n++
		}
	}
	return n
}

// TestIntegrationWebhookChurn: against the real Kafka and Apicurio, the simulator's churn
// (hires, terminations, a deletion, renames, employment and cost center changes) is delivered
// by its webhooks to the receiver of `run`, whose targeted runs publish it: with no sync after
// the first, the persons and employments topics equal the truth for the Python consumer and the
// service's replay. Then the receiver is down while more churn happens (the simulator gives
// each delivery up after one attempt); a restarted service, with a new runner whose only
// knowledge is the topics, catches up from Personio's events endpoint from the watermark the
// topics hold, and the topics equal the truth again, still without a sync.
func TestIntegrationWebhookChurn(t *testing.T) {
	p := newPipelineEnv(t, 80, func(o *personiotest.Options) {
		o.Webhooks = personiotest.WebhookOptions{Attempts: 1, Backoff: time.Millisecond}
	})
	r := p.runner()
	p.sync(r, sync.Full)

	w, stop := startWebhooks(t, p, r, "127.0.0.1:0", "")
	addr := w.ListenAddr().(*net.TCPAddr)
	url := "http://" + addr.String() + hookPath
	if _, err := p.client.CreateWebhook(t.Context(), personio.WebhookSpec{URL: url, Description: "personio-cdc",
		Status: personio.WebhookEnabled, Token: hookToken, EnabledEvents: personio.PersonEvents}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	churn := p.sim.Churn(personiotest.Churn{Hires: 2, Terminations: 2, Deletions: 1, Renames: 3, EmailChanges: 2,
		EmploymentChanges: 3, CostCenterChanges: 2})
	settled(t, p.sim, w)
	t.Logf("churn of %d persons published by webhook in %s", len(slices.Concat(churn.Hires, churn.Terminations,
		churn.Deletions, churn.Renames, churn.EmailChanges, churn.EmploymentChanges, churn.CostCenterChanges)), time.Since(start).Round(time.Millisecond))
	if st := p.sim.WebhookStats(); st.GivenUp != 0 {
		t.Fatalf("deliveries %+v: the receiver refused some", st)
	}
	p.checkPersonsAndEmployments()
	if n := p.webhookEvents(change.Employments); n == 0 {
		t.Error("no employment event of a targeted run")
	}
	stop()

	// The receiver is down: every delivery of this churn fails and is given up.
	churn = p.sim.Churn(personiotest.Churn{Hires: 1, Terminations: 1, Deletions: 1, Renames: 2, EmploymentChanges: 2, CostCenterChanges: 1})
	for p.sim.WebhookStats().Pending > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if st := p.sim.WebhookStats(); st.GivenUp == 0 {
		t.Fatalf("deliveries %+v: none given up while the receiver was down", st)
	}
	w, stop = startWebhooks(t, p, p.runner(), addr.String(), url)
	defer stop()
	p.waitForTruth() // the catch-up queues what the events endpoint kept
	settled(t, p.sim, w)
	p.checkPersonsAndEmployments()
}
