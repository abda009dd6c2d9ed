package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// rewritingProxy serves the simulator through edit, which may change the body of a
// compensations page (JSON) before the client reads it.
func rewritingProxy(t *testing.T, sim http.Handler, edit func(item map[string]any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if r.URL.Path == "/v2/compensations" && rec.Code == http.StatusOK {
			var page map[string]any
			if err := json.Unmarshal(body, &page); err != nil {
				t.Errorf("simulator page: %v", err)
			} else if items, ok := page["_data"].([]any); ok {
				for _, it := range items {
					if m, ok := it.(map[string]any); ok {
						edit(m)
					}
				}
				body, _ = json.Marshal(page)
			}
		}
		for k, vs := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// splitSource lists compensations from another source.
type splitSource struct {
	extract.Source
	compensations extract.Source
}

func (s splitSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	return s.compensations.ListCompensations(ctx, f, fn)
}

// TestRunSkipsInvalidItems: an item with a date or an instant out of range, or with an
// amount that is not a decimal number ("1.234,56"), is reported and skipped; its scope is
// listed incompletely (no deletes there) and everything else is published — the rest of its
// page included. Before, year-0 dates were published (and crashed Python consumers), and the
// amount failed its whole page.
func TestRunSkipsInvalidItems(t *testing.T) {
	h := newHarness(t, 30)
	run(t, h.runner(), Full)
	truth := h.sim.Truth()
	yearZero := truth.Persons[2]
	h.sim.Churn(personiotest.Churn{Deletions: 1, Renames: 1})

	// Two compensations of the listed windows: one gets a German-formatted amount, the other
	// an effective date in year 0.
	listed := diff.EffectiveIn(windowsOf(extract.Windows(time.Now(), DefaultLookbackMonths))...)
	var inWindows []*change.Compensation
	for _, c := range h.sim.Truth().Compensations {
		if rec, err := change.NewCompensation(c); err == nil && listed(rec) && c.ID != "" {
			inWindows = append(inWindows, rec)
		}
	}
	if len(inWindows) < 10 {
		t.Fatalf("%d compensations in the listed windows; want at least 10", len(inWindows))
	}
	badAmount, badDate := inWindows[0], inWindows[len(inWindows)-1]

	url := rewritingProxy(t, h.sim.Handler(), func(item map[string]any) {
		if item["id"] == badAmount.ID {
			if amount, ok := item["amount"].(map[string]any); ok {
				amount["value"] = "1.234,56"
			}
		}
	})
	client, err := personio.New(personio.Config{BaseURL: url, ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		RateLimit: unlimited, CompensationRateLimit: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	// Persons and employments come straight from the simulator: the URLs it writes into them
	// follow the origin the client used, and only the compensations go through the proxy.
	src := &tamperSource{Source: splitSource{Source: h.client, compensations: client},
		persons: func(ps []personio.Person) []personio.Person {
			for i := range ps {
				if ps[i].ID == yearZero.ID {
					ps[i].CreatedAt = "0000-01-01T00:00:00Z"
				}
			}
			return ps
		},
		compensations: func(cs []personio.Compensation) []personio.Compensation {
			for i := range cs {
				if cs[i].ID == badDate.ID {
					cs[i].EffectiveFrom = "0000-03-01"
				}
			}
			return cs
		},
	}
	compsBefore := h.replay(change.Compensations)
	r := h.runner(func(c *Config) { c.Source = src })
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("err = %v; want a partial outcome without error", err)
	}

	pr := res.Entity("persons")
	if pr.Outcome != Partial || !slices.Equal(pr.IncompleteScopes, []string{"persons"}) || pr.Changes["d"] != 0 || pr.Changes["u"] != 1 {
		t.Errorf("persons %+v; want partial, incomplete, the rename published and no delete", pr)
	}
	if !strings.Contains(strings.Join(pr.Errors, "\n"), CodeRecordInvalid) || !strings.Contains(strings.Join(pr.Errors, "\n"), "field created_at, count 1") {
		t.Errorf("persons errors %q do not report the instant out of range", pr.Errors)
	}

	cr := res.Entity("compensations")
	windows := []string{"compensations:" + badAmount.EffectiveFrom.Format("2006-01"), "compensations:" + badDate.EffectiveFrom.Format("2006-01")}
	slices.Sort(windows)
	windows = slices.Compact(windows)
	incomplete := slices.Sorted(slices.Values(cr.IncompleteScopes))
	if cr.Outcome != Partial || !slices.Equal(incomplete, windows) {
		t.Errorf("compensations %+v; want partial with %v incomplete", cr, windows)
	}
	reasons := strings.Join(cr.Errors, "\n")
	for _, want := range []string{"not a decimal number", "field amount, count 1", "date out of range (1900-01-01 to 9999-12-31)", "field effective_from, count 1"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("compensations errors %q do not report %q", cr.Errors, want)
		}
	}
	if strings.Contains(reasons, "1.234,56") || strings.Contains(strings.Join(res.Errors, "\n"), "1.234,56") {
		t.Errorf("errors %q carry the amount", cr.Errors)
	}
	// Every item was read: the bad amount did not take its page with it.
	if want := len(h.expected()[change.Compensations]); cr.Extracted != want {
		t.Errorf("extracted %d compensations; want all %d listed", cr.Extracted, want)
	}
	if n := testutil.ToFloat64(r.metrics.ItemsSkipped.WithLabelValues("compensations", "invalid")); n != 2 {
		t.Errorf("personio_cdc_items_skipped_total{compensations,invalid} = %v; want 2", n)
	}
	after := h.replay(change.Compensations)
	for _, bad := range []*change.Compensation{badAmount, badDate} {
		key := change.Key(tenant, bad.ID)
		if vs := after.Versions[key]; len(vs) != 1 {
			t.Errorf("compensation %s: versions %v; want only its create (nothing published for the invalid item)", bad.ID, vs)
		}
		inWindow := compensationsIn(t, after, bad.EffectiveFrom.Format("2006-01"))
		for k, op := range newOps(compsBefore, after) {
			if op == change.Delete && inWindow[k] {
				t.Errorf("compensation %s deleted in the incomplete window of %s", k, bad.ID)
			}
		}
	}
	live := h.replay(change.Persons).State[change.Persons]
	for _, p := range truth.Persons {
		if _, ok := live[change.Key(tenant, p.ID)]; !ok {
			t.Errorf("person %s deleted by an incomplete listing", p.ID)
		}
	}

	res = run(t, h.runner(), Full)
	if res.Outcome != Complete {
		t.Errorf("catch-up sync: outcome %s (%v)", res.Outcome, res.Errors)
	}
	h.checkTopics(h.expected())
}

// The JSON the proxy writes must be what the client decodes: a sanity check of the helper.
func TestRewritingProxyKeepsPages(t *testing.T) {
	h := newHarness(t, 5)
	url := rewritingProxy(t, h.sim.Handler(), func(map[string]any) {})
	c, err := personio.New(personio.Config{BaseURL: url, ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, RateLimit: unlimited, CompensationRateLimit: unlimited})
	if err != nil {
		t.Fatal(err)
	}
	var got []personio.Compensation
	w := extract.Windows(time.Now(), 0)[0]
	if err := c.ListCompensations(t.Context(), personio.CompensationFilter{Window: w}, func(cs []personio.Compensation) error {
		got = append(got, cs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var direct []personio.Compensation
	if err := h.client.ListCompensations(t.Context(), personio.CompensationFilter{Window: w}, func(cs []personio.Compensation) error {
		direct = append(direct, cs...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(direct)
	if !bytes.Equal(a, b) {
		t.Errorf("through the proxy:\n%s\ndirect:\n%s", a, b)
	}
}
