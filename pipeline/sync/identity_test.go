package sync

import (
	"context"
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

// tamperSource passes every page through a function before the extractor sees it: Personio
// serving items as it should not.
type tamperSource struct {
	extract.Source
	persons       func([]personio.Person) []personio.Person
	compensations func([]personio.Compensation) []personio.Compensation
}

func (s *tamperSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	return s.Source.ListPersons(ctx, f, func(page []personio.Person) error {
		if s.persons != nil {
			page = s.persons(slices.Clone(page))
		}
		return fn(page)
	})
}

func (s *tamperSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	return s.Source.ListCompensations(ctx, f, func(page []personio.Compensation) error {
		if s.compensations != nil {
			page = s.compensations(slices.Clone(page))
		}
		return fn(page)
	})
}

// TestRunItemWithoutID: a person Personio serves without an id (absent or null) is neither a
// delete nor dropped in silence. It makes the persons listing incomplete — no person is
// deleted, the outcome is partial — and the reason is reported without personal data. A
// compensation without an identity (no id and no person id) does the same for its window.
func TestRunItemWithoutID(t *testing.T) {
	h := newHarness(t, 30)
	run(t, h.runner(), Full)
	truth0 := h.sim.Truth()
	existing := truth0.Persons[3]
	churn := h.sim.Churn(personiotest.Churn{Hires: 1, Deletions: 1, Renames: 1})
	hired := churn.Hires[0]
	noID := map[string]bool{existing.ID: true, hired: true}

	// One compensation of the listed windows loses its identity (no id, no person id).
	var blanked *change.Compensation
	listed := diff.EffectiveIn(windowsOf(extract.Windows(time.Now(), DefaultLookbackMonths))...)
	for _, c := range h.sim.Truth().Compensations {
		if rec, err := change.NewCompensation(c); err == nil && listed(rec) && c.ID != "" {
			blanked = rec
			break
		}
	}
	if blanked == nil {
		t.Fatal("the simulator has no compensation in the listed windows")
	}
	blankedKey := change.Key(tenant, blanked.ID)
	src := &tamperSource{Source: h.client,
		persons: func(ps []personio.Person) []personio.Person {
			for i := range ps {
				if noID[ps[i].ID] {
					ps[i].ID = ""
				}
			}
			return ps
		},
		compensations: func(cs []personio.Compensation) []personio.Compensation {
			for i := range cs {
				if cs[i].ID == blanked.ID {
					cs[i].ID, cs[i].Person.ID = "", ""
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
	if res.Outcome != Partial || pr.Outcome != Partial || pr.Changes["d"] != 0 || !slices.Equal(pr.IncompleteScopes, []string{"persons"}) {
		t.Errorf("outcome %s, persons %+v; want partial, the persons scope incomplete and no delete", res.Outcome, pr)
	}
	reason := strings.Join(pr.Errors, "\n")
	if !strings.Contains(reason, CodeRecordInvalid) || !strings.Contains(reason, "field id, count 2") {
		t.Errorf("persons errors %q do not report the 2 persons without id", pr.Errors)
	}
	for _, pii := range []string{existing.Email, existing.FirstName, existing.LastName} {
		if pii != "" && strings.Contains(strings.Join(res.Errors, "\n"), pii) {
			t.Errorf("result errors carry personal data %q", pii)
		}
	}
	if n := testutil.ToFloat64(r.metrics.ItemsSkipped.WithLabelValues("persons", "invalid")); n != 2 {
		t.Errorf("personio_cdc_items_skipped_total{persons,invalid} = %v; want 2", n)
	}
	if st := statusOf(r.Status(), "persons"); st.Phase != PhasePartial || !strings.Contains(st.LastError, "field id") {
		t.Errorf("status %+v; want PARTIAL with the reason", st)
	}
	if pr.Changes["u"] != 1 || pr.Changes["c"] != 0 {
		t.Errorf("persons changes %v; want the rename only (the hire has no id)", pr.Changes)
	}
	live := h.replay(change.Persons).State[change.Persons]
	for _, id := range []string{existing.ID, churn.Deletions[0]} {
		if _, ok := live[change.Key(tenant, id)]; !ok {
			t.Errorf("person %s was deleted by a listing with a person without id", id)
		}
	}

	cr := res.Entity("compensations")
	window := "compensations:" + blanked.EffectiveFrom.Format("2006-01")
	if cr.Outcome != Partial || !slices.Equal(cr.IncompleteScopes, []string{window}) {
		t.Errorf("compensations %+v; want partial with %s incomplete", cr, window)
	}
	after := h.replay(change.Compensations)
	inWindow := compensationsIn(t, after, blanked.EffectiveFrom.Format("2006-01"))
	for key, op := range newOps(compsBefore, after) {
		if op == change.Delete && inWindow[key] {
			t.Errorf("compensation %s of the incomplete window %s was deleted", key, window)
		}
	}
	if !strings.Contains(strings.Join(cr.Errors, "\n"), "field person_id") {
		t.Errorf("compensations errors %q do not report the one without identity", cr.Errors)
	}
	if _, ok := after.State[change.Compensations][blankedKey]; !ok {
		t.Errorf("compensation %s served without identity was deleted", blankedKey)
	}

	// Served as it should be again, everything catches up.
	res = run(t, h.runner(), Full)
	if res.Outcome != Complete {
		t.Errorf("catch-up sync: outcome %s (%v)", res.Outcome, res.Errors)
	}
	h.checkTopics(h.expected())
}

// TestRunDuplicateIDConflict: two different persons served with one id are a conflict, as
// the differ treats two different listings of one key: reported, and the key neither updated
// nor deleted. (The extractor kept the first copy without a word.)
func TestRunDuplicateIDConflict(t *testing.T) {
	h := newHarness(t, 30)
	run(t, h.runner(), Full)
	dup := h.sim.Truth().Persons[5]
	h.sim.Churn(personiotest.Churn{Renames: 1})

	src := &tamperSource{Source: h.client, persons: func(ps []personio.Person) []personio.Person {
		for i := range ps {
			if ps[i].ID == dup.ID {
				other := ps[i]
				other.LastName += "-Other"
				return slices.Insert(ps, i, other) // the different copy first
			}
		}
		return ps
	}}
	r := h.runner(func(c *Config) { c.Source = src })
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("err = %v; want a partial outcome without error", err)
	}
	pr := res.Entity("persons")
	if pr.Outcome != Partial || !strings.Contains(strings.Join(pr.Errors, "\n"), CodeDuplicateKeys+": keys listed twice with different content were skipped (count 1)") {
		t.Errorf("persons %+v; want partial with the conflict reported", pr)
	}
	if pr.Changes["u"] != 1 || pr.Changes["d"] != 0 {
		t.Errorf("persons changes %v; want the rename only", pr.Changes)
	}
	if n := testutil.ToFloat64(r.metrics.ItemsSkipped.WithLabelValues("persons", "conflict")); n != 1 {
		t.Errorf("personio_cdc_items_skipped_total{persons,conflict} = %v; want 1", n)
	}
	key := change.Key(tenant, dup.ID)
	rp := h.replay(change.Persons)
	if vs := rp.Versions[key]; len(vs) != 1 {
		t.Errorf("person %s has events of versions %v; want only its create", dup.ID, vs)
	}
	if _, ok := rp.State[change.Persons][key]; !ok {
		t.Errorf("person %s listed twice was deleted", dup.ID)
	}
}

func windowsOf(ws []personio.Window) []diff.Window {
	out := make([]diff.Window, len(ws))
	for i, w := range ws {
		out[i] = diff.Window{Start: w.Start, End: w.End}
	}
	return out
}
