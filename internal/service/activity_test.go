package service

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

func resultAt(ended time.Time, changes map[string]map[string]int) syncrun.Result {
	res := syncrun.Result{Kind: syncrun.Full, Outcome: syncrun.Complete, Ended: ended}
	for entity, ops := range changes {
		res.Entities = append(res.Entities, syncrun.EntityResult{Entity: entity, Changes: ops})
	}
	return res
}

// TestRecentEventsWindow: the events of a sync count for 24 hours after its end, then drop
// out; a failed sync's published events count too.
func TestRecentEventsWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var r recentEvents
	r.record(resultAt(t0, map[string]map[string]int{"persons": {"c": 10}, "compensations": {"c": 4}}), t0)
	failed := resultAt(t0.Add(23*time.Hour), map[string]map[string]int{"persons": {"u": 2, "d": 0}})
	failed.Outcome = syncrun.Failed
	r.record(failed, t0.Add(23*time.Hour))
	r.record(resultAt(time.Time{}, map[string]map[string]int{"persons": {"d": 1}}), t0.Add(23*time.Hour+30*time.Minute))

	if got, want := r.counts(t0.Add(24*time.Hour-time.Second)), map[string]map[string]int{
		"persons": {"c": 10, "u": 2, "d": 1}, "compensations": {"c": 4},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("within 24 h: %v, want %v", got, want)
	}
	if got, want := r.counts(t0.Add(24*time.Hour)), map[string]map[string]int{
		"persons": {"u": 2, "d": 1},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("24 h after the first sync: %v, want %v", got, want)
	}
	if got := r.counts(t0.Add(48 * time.Hour)); len(got) != 0 || len(r.runs) != 0 {
		t.Errorf("two days later: %v (%d runs kept), want none", got, len(r.runs))
	}
}

type fixedRunner struct{ res syncrun.Result }

func (f fixedRunner) Run(context.Context, syncrun.Kind, ...syncrun.RunOption) (syncrun.Result, error) {
	return f.res, nil
}

// TestStatusCarriesActivity: /status of the service holds, per tenant, the events of the
// last 24 hours (recorded from every sync the scheduler runs) and the Personio API traffic
// with the limiter's budgets.
func TestStatusCarriesActivity(t *testing.T) {
	ended := time.Now()
	rr := recordingRunner{Runner: fixedRunner{resultAt(ended, map[string]map[string]int{"persons": {"c": 3}})},
		events: &recentEvents{}}
	if _, err := rr.Run(t.Context(), syncrun.Full); err != nil {
		t.Fatal(err)
	}
	if got := rr.events.counts(time.Now()); got["persons"]["c"] != 3 {
		t.Errorf("recorded %v, want persons c=3", got)
	}

	cfg := config.Default()
	cfg.Personio.Tenant = "acme"
	cfg.Personio.ClientID = "client-id"
	cfg.Personio.ClientSecret = config.Secret("secret")
	cfg.Admin.Addr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	stack, err := Build(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	life, err := stack.Lifecycle(reg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := life.Admin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = life.Admin.Shutdown(t.Context()) })
	resp, err := http.Get("http://" + life.Admin.Addr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Activity []Activity `json:"activity"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if len(st.Activity) != 1 {
		t.Fatalf("activity %+v, want one tenant\n%s", st.Activity, body)
	}
	a := st.Activity[0]
	want := []BudgetActivity{
		{Budget: "default", PerMinute: cfg.Personio.RateLimitPerMinute, ConfiguredPerMinute: cfg.Personio.RateLimitPerMinute},
		{Budget: "compensations", PerMinute: cfg.Personio.CompensationRateLimitPerMinute,
			ConfiguredPerMinute: cfg.Personio.CompensationRateLimitPerMinute},
	}
	if a.Tenant != "acme" || a.EventsLast24h == nil || a.PersonioAPI.Requests != 0 ||
		!reflect.DeepEqual(a.PersonioAPI.Budgets, want) {
		t.Errorf("activity %+v, want tenant acme, no events, no requests, budgets %+v", a, want)
	}
}
