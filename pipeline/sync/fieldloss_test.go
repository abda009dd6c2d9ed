package sync

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

// A credential that loses the scope of a person field makes Personio leave the field out of
// every person: the field-loss guard withholds the persons and publishes nothing for them.
func TestRunFieldLossGuard(t *testing.T) {
	h := newHarness(t, 40)
	run(t, h.runner(), Full)
	before := h.replay(change.Persons)

	r := h.runner()
	h.sim.Churn(personiotest.Churn{Bonuses: 1})
	if err := h.sim.SetHiddenFields([]string{"email"}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(t.Context(), Full)
	if !errors.Is(err, diff.ErrMassFieldLoss) || errors.Is(err, diff.ErrMassDelete) {
		t.Fatalf("err = %v, want a field-loss refusal", err)
	}
	var fle *diff.FieldLossError
	if !errors.As(err, &fle) || fle.Field != "email" || fle.Entity != change.Persons || fle.Count != 40 || fle.Lost != 40 {
		t.Errorf("field-loss error %+v, want email lost for 40 of 40 persons", fle)
	}
	if strings.Contains(err.Error(), "@") {
		t.Errorf("the error carries an email address: %v", err)
	}
	pr := res.Entity("persons")
	if res.Outcome != Failed || pr.Outcome != Failed || !pr.GuardTripped || pr.Guard != GuardFieldLoss || len(changes(res, change.Persons)) != 0 {
		t.Errorf("result %s, persons %+v: want failed, guard tripped, nothing published", res.Outcome, pr)
	}
	if cr := res.Entity("compensations"); cr.Outcome != Complete || cr.GuardTripped {
		t.Errorf("compensations %+v, want complete", cr)
	}
	if got := changes(res, change.Compensations); len(got) != 1 || got["c"] != 1 {
		t.Errorf("compensations changes %v, want the bonus published regardless", got)
	}
	if n := len(h.replay(change.Persons).Messages); n != len(before.Messages) {
		t.Errorf("persons topic grew from %d to %d messages; the guard must publish nothing", len(before.Messages), n)
	}
	if v := testutil.ToFloat64(r.metrics.FieldLossGuardTrips.WithLabelValues("persons")); v != 1 {
		t.Errorf("field-loss guard trips metric = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.metrics.DeleteGuardTrips.WithLabelValues("persons")); v != 0 {
		t.Errorf("delete guard trips metric = %v, want 0", v)
	}
	if v := testutil.ToFloat64(r.metrics.SyncRuns.WithLabelValues("full", "failed")); v != 1 {
		t.Errorf("failed runs metric = %v", v)
	}
	var st EntityStatus
	for _, e := range r.Status().Entities {
		if e.Entity == "persons" {
			st = e
		}
	}
	if st.Phase != PhaseFailed || !st.DeleteGuardTrip || !strings.Contains(st.LastError, CodeFieldLoss) {
		t.Errorf("persons status %+v", st)
	}

	// The guard holds as long as the field is hidden.
	if _, err := r.Run(t.Context(), Full); !errors.Is(err, diff.ErrMassFieldLoss) {
		t.Errorf("second sync with the email hidden: err = %v", err)
	}

	// The scope restored, the listing equals the state: nothing to publish.
	if err := h.sim.SetHiddenFields(nil); err != nil {
		t.Fatal(err)
	}
	res = run(t, r, Full)
	if res.Outcome != Complete || res.Published() != 0 {
		t.Errorf("after unhiding: outcome %s, published %d; want complete and nothing", res.Outcome, res.Published())
	}
	h.checkTopics(h.expected())

	// The operator's override publishes what Personio sends.
	if err := h.sim.SetHiddenFields([]string{"email"}); err != nil {
		t.Fatal(err)
	}
	res = run(t, h.runner(func(c *Config) { c.DeleteGuardOverride = true }), Full)
	if got := changes(res, change.Persons); len(got) != 1 || got["u"] != 40 {
		t.Errorf("override: persons changes %v, want 40 updates", got)
	}
}

// A credential that cannot read compensation amounts gets compensations without one: they are
// invalid (the amount is required), so their scopes are incomplete and nothing is published
// or deleted.
func TestRunHiddenAmount(t *testing.T) {
	h := newHarness(t, 30)
	run(t, h.runner(), Full)
	before := h.replay(change.Compensations)

	r := h.runner()
	h.sim.Churn(personiotest.Churn{Renames: 1})
	if err := h.sim.SetHiddenFields([]string{"amount"}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("err = %v, want a partial outcome without error", err)
	}
	cr := res.Entity("compensations")
	if res.Outcome != Partial || cr.Outcome != Partial || len(cr.IncompleteScopes) == 0 || cr.GuardTripped {
		t.Errorf("result %s, compensations %+v: want partial with incomplete scopes", res.Outcome, cr)
	}
	if got := changes(res, change.Compensations); len(got) != 0 {
		t.Errorf("compensations changes %v, want none (no deletes, no amounts nulled)", got)
	}
	if got := changes(res, change.Persons); len(got) != 1 || got["u"] != 1 {
		t.Errorf("persons changes %v, want the rename", got)
	}
	if n := len(h.replay(change.Compensations).Messages); n != len(before.Messages) {
		t.Errorf("compensations topic grew from %d to %d messages", len(before.Messages), n)
	}
	if !strings.Contains(strings.Join(cr.Errors, "\n"), "amount") {
		t.Errorf("compensation errors %q do not name the amount", cr.Errors)
	}

	if err := h.sim.SetHiddenFields(nil); err != nil {
		t.Fatal(err)
	}
	res = run(t, r, Full)
	if res.Outcome != Complete || res.Published() != 0 {
		t.Errorf("after unhiding: outcome %s, published %d; want complete and nothing", res.Outcome, res.Published())
	}
	h.checkTopics(h.expected())
}
