package webhook

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// The simulator's churn, delivered by its webhooks to the receiver, queues exactly the persons
// it changed, with their employments where an employment changed, and nothing for
// compensation-only changes.
func TestSimulatorChurnReachesQueue(t *testing.T) {
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 60, Seed: 11, NoRateLimit: true,
		Webhooks: personiotest.WebhookOptions{Backoff: time.Millisecond}})
	r, reg := newTestReceiver(t, Options{})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	pc, err := personio.New(personio.Config{BaseURL: sim.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, RateLimit: personio.Rate{PerMinute: 6e6, Burst: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.CreateWebhook(t.Context(), personio.WebhookSpec{URL: srv.URL + testPath, Description: "cdc",
		Status: personio.WebhookEnabled, Token: testToken, EnabledEvents: personio.PersonEvents}); err != nil {
		t.Fatal(err)
	}
	res := sim.Churn(personiotest.Churn{Hires: 2, Terminations: 2, Deletions: 1, Renames: 2, EmploymentChanges: 2, SalaryChanges: 3, Bonuses: 2})
	for sim.WebhookStats().Pending > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if st := sim.WebhookStats(); st.Delivered != st.Attempts || st.GivenUp != 0 {
		t.Fatalf("deliveries %+v: the receiver refused some", st)
	}
	got := map[string]bool{} // person -> employments
	for r.Queue().Len() > 0 {
		tg, err := r.Queue().Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got[tg.PersonID] = tg.Employments
		r.Finished(tg, nil)
	}
	want := map[string]bool{}
	for _, ids := range [][]string{res.Hires, res.Terminations, res.Deletions, res.EmploymentChanges} {
		for _, id := range ids {
			want[id] = true
		}
	}
	for _, id := range res.Renames {
		want[id] = false
	}
	for id, emp := range want {
		if g, ok := got[id]; !ok || g != emp {
			t.Errorf("person %s: queued %v with employments %v, want employments %v", id, ok, g, emp)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("person %s queued, but churn changed only their compensations or nothing (salary %v, bonus %v)",
				id, slices.Contains(res.SalaryChanges, id), slices.Contains(res.Bonuses, id))
		}
	}
	if q := deliveries(reg, outcomeQueued); int(q) != len(want) {
		t.Errorf("queued %v entries, want %d", q, len(want))
	}
}
