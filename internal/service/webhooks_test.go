package service

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// fakeTargets records the targeted runs asked for.
type fakeTargets struct {
	mu    sync.Mutex
	calls [][2][]string
	got   chan struct{}
}

func (f *fakeTargets) FetchTargets(_ context.Context, persons, emps []string) error {
	f.mu.Lock()
	f.calls = append(f.calls, [2][]string{slices.Clone(persons), slices.Clone(emps)})
	f.mu.Unlock()
	f.got <- struct{}{}
	return nil
}

func (f *fakeTargets) WebhookWatermark(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func (f *fakeTargets) fetched() (persons, emps map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	persons, emps = map[string]bool{}, map[string]bool{}
	for _, c := range f.calls {
		for _, p := range c[0] {
			persons[p] = true
		}
		for _, p := range c[1] {
			emps[p] = true
		}
	}
	return persons, emps
}

const hookToken = "Bearer svc-hook-token-4e2a9c"

func TestWebhooksOffWithoutAddrOrReader(t *testing.T) {
	cfg := config.Default()
	if w, err := NewWebhooks(cfg, &fakeTargets{}, nil, prometheus.NewRegistry(), nil); w != nil || err != nil {
		t.Errorf("without WEBHOOK_ADDR: %v, %v", w, err)
	}
	cfg.Webhook.Addr, cfg.Webhook.Token = "127.0.0.1:0", hookToken
	if w, err := NewWebhooks(cfg, nil, nil, prometheus.NewRegistry(), nil); w != nil || err != nil {
		t.Errorf("without a reader: %v, %v", w, err)
	}
}

// The trigger catches up from Personio's events endpoint at start, then turns deliveries into
// targeted runs (employments where an employment event asked), and stops at stop.
func TestWebhooksRun(t *testing.T) {
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 5, NoRateLimit: true,
		Webhooks: personiotest.WebhookOptions{Attempts: 1}})
	pc, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, RateLimit: personio.Rate{PerMinute: 6e6, Burst: 100}})
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://127.0.0.1:1/webhooks/personio" // nobody listens: deliveries fail, events stay
	if _, err := pc.CreateWebhook(t.Context(), personio.WebhookSpec{URL: url, Description: "cdc", Status: personio.WebhookEnabled,
		Token: hookToken, EnabledEvents: personio.PersonEvents}); err != nil {
		t.Fatal(err)
	}
	sim.FireWebhookEvent(personio.EventEmploymentUpdated, "1000101", "e-1") // while the service was down

	cfg := config.Default()
	cfg.Webhook.Addr, cfg.Webhook.Token, cfg.Webhook.URL = "127.0.0.1:0", hookToken, url
	ft := &fakeTargets{got: make(chan struct{}, 10)}
	w, err := NewWebhooks(cfg, ft, pc, prometheus.NewRegistry(), nil)
	if err != nil || w == nil {
		t.Fatalf("NewWebhooks = %v, %v", w, err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(stop, t.Context()) }()
	<-ft.got // the catch-up's run
	for w.ListenAddr() == nil {
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+w.ListenAddr().String()+config.DefaultWebhookPath,
		strings.NewReader(`{"company_id":"1","occurred_at":"2026-12-06T10:00:00Z","event_name":"person.updated","payload":{"id":"1000202"}}`))
	req.Header.Set("Authorization", hookToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delivery: %d", resp.StatusCode)
	}
	<-ft.got
	close(stop)
	if err := <-done; err != nil {
		t.Errorf("Run after stop: %v", err)
	}
	persons, emps := ft.fetched()
	if !persons["1000101"] || !emps["1000101"] || !persons["1000202"] || emps["1000202"] {
		t.Errorf("targeted runs of persons %v, employments of %v", persons, emps)
	}
}
