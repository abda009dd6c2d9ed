package webhook

import (
	"errors"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// After a restart the receiver reads back from Personio's events endpoint what occurred
// since a point, and queues those persons as deliveries: one entry per person, waiting for
// room in a full queue.
func TestCatchUpFromEventsEndpoint(t *testing.T) {
	now := time.Now()
	clock := now
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 10, NoRateLimit: true,
		Now:      func() time.Time { return clock },
		Webhooks: personiotest.WebhookOptions{Attempts: 1}})
	pc, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, RateLimit: personio.Rate{PerMinute: 6e6, Burst: 100}})
	if err != nil {
		t.Fatal(err)
	}
	// The receiver is down: deliveries fail, the events stay in the endpoint.
	const url = "https://127.0.0.1:1/webhooks/personio"
	w, err := pc.CreateWebhook(t.Context(), personio.WebhookSpec{URL: url, Description: "cdc", Status: personio.WebhookEnabled,
		Token: testToken, EnabledEvents: personio.PersonEvents})
	if err != nil {
		t.Fatal(err)
	}
	sim.FireWebhookEvent(personio.EventPersonUpdated, "1", "") // before the point: not read again
	clock = now.Add(time.Minute)
	since := now.Add(30 * time.Second)
	sim.FireWebhookEvent(personio.EventPersonUpdated, "2", "")
	sim.FireWebhookEvent(personio.EventEmploymentUpdated, "2", "e-2")
	sim.FireWebhookEvent(personio.EventPersonCreated, "3", "")
	sim.FireWebhookEvent(personio.EventEmploymentTerminated, "4", "e-4")

	id, err := FindWebhook(t.Context(), pc, url)
	if err != nil || id != w.ID {
		t.Fatalf("FindWebhook = %q, %v", id, err)
	}
	if _, err := FindWebhook(t.Context(), pc, "https://elsewhere.example.com"); !errors.Is(err, ErrNoWebhook) {
		t.Errorf("FindWebhook of an unknown URL: %v", err)
	}

	r, _ := newTestReceiver(t, Options{QueueSize: 2, Now: func() time.Time { return clock }})
	done := make(chan CatchUpResult, 1)
	go func() {
		res, err := r.CatchUp(t.Context(), pc, id, since)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	// The queue holds 2 persons: the catch-up waits until one is taken.
	first, _ := r.Queue().Next(t.Context())
	res := <-done
	second, _ := r.Queue().Next(t.Context())
	third, _ := r.Queue().Next(t.Context())
	got := []Target{first, second, third}
	if res.Events != 4 || res.Persons != 3 || res.Truncated || !res.Latest.After(since) {
		t.Errorf("result %+v", res)
	}
	want := []struct {
		id          string
		employments bool
	}{{"2", true}, {"3", true}, {"4", true}}
	for i, w := range want {
		if got[i].PersonID != w.id || got[i].Employments != w.employments {
			t.Errorf("target %d = %+v, want person %s employments %v", i, got[i], w.id, w.employments)
		}
	}
	if r.Queue().Len() != 0 {
		t.Errorf("%d more persons queued", r.Queue().Len())
	}

	// A point beyond the endpoint's 30 days is cut to them and said so.
	res, err = r.CatchUp(t.Context(), pc, id, now.Add(-40*24*time.Hour))
	if err != nil || !res.Truncated || res.Events != 5 {
		t.Errorf("catch-up from 40 days ago: %+v, %v", res, err)
	}
}
