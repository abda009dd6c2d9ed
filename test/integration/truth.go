//go:build integration

package integration

import (
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// The checks below compare the state an independent consumer rebuilt from a topic (live: the
// "after" record of every live key, as the Python verifier decoded it) with the simulator's
// ground truth, field by field, decimals exactly. The integration tests and the crash and
// fault suites share them.

// ComparePersons checks the live persons of tenant against every person in the truth.
func ComparePersons(t testing.TB, tenant string, live map[string]map[string]any, tr personiotest.Truth) {
	t.Helper()
	want := map[string]personio.Person{}
	for _, p := range tr.Persons {
		want[change.Key(tenant, p.ID)] = p
	}
	compareKeys(t, "persons", live, want)
	for key, p := range want {
		got, ok := live[key]
		if !ok {
			continue
		}
		checkText(t, key, "id", got["id"], p.ID)
		checkText(t, key, "email", got["email"], strings.ToLower(strings.TrimSpace(p.Email)))
		checkText(t, key, "first_name", got["first_name"], strings.TrimSpace(p.FirstName))
		checkText(t, key, "last_name", got["last_name"], strings.TrimSpace(p.LastName))
		checkText(t, key, "status", got["status"], strings.TrimSpace(p.Status))
		// A person carries its employments as ids; their details are on the employments topic
		// (CompareEmployments).
		emps, _ := got["employments"].([]any)
		wantEmps := tr.Employments[p.ID]
		if len(emps) != len(wantEmps) {
			t.Errorf("%s: %d employments, want %d", key, len(emps), len(wantEmps))
			continue
		}
		byID := map[string]bool{}
		for _, e := range wantEmps {
			byID[e.ID] = true
		}
		for _, raw := range emps {
			e, _ := raw.(map[string]any)
			id, _ := e["id"].(string)
			if !byID[id] {
				t.Errorf("%s: employment %s is not in the truth", key, id)
				continue
			}
			for _, f := range []string{"status", "start_date", "weekly_working_hours", "full_time_weekly_working_hours", "supervisor_id"} {
				if e[f] != nil {
					t.Errorf("%s: employment %s carries %s; want the id only (details on the employments topic)", key, id, f)
				}
			}
		}
	}
}

// CompareCompensations checks the live compensations of tenant against the truth's
// compensations effective inside windows (the months a sync lists).
func CompareCompensations(t testing.TB, tenant string, live map[string]map[string]any, tr personiotest.Truth, windows []personio.Window) {
	t.Helper()
	var recs []*change.Compensation
	source := map[*change.Compensation]personio.Compensation{}
	for _, c := range tr.Compensations {
		rec, err := change.NewCompensation(c)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(windows, func(w personio.Window) bool {
			return !rec.EffectiveFrom.Before(w.Start) && !rec.EffectiveFrom.After(w.End)
		}) {
			recs = append(recs, rec)
			source[rec] = c
		}
	}
	change.NumberCompensations(recs) // items without id that share the composite key
	want := map[string]personio.Compensation{}
	for _, rec := range recs {
		want[change.Key(tenant, rec.RecordID())] = source[rec]
	}
	compareKeys(t, "compensations", live, want)
	for key, c := range want {
		got, ok := live[key]
		if !ok {
			continue
		}
		checkText(t, key, "person_id", got["person_id"], c.Person.ID)
		checkText(t, key, "currency", got["currency"], strings.ToUpper(strings.TrimSpace(c.Amount.Currency)))
		checkText(t, key, "effective_from", got["effective_from"], c.EffectiveFrom[:min(10, len(c.EffectiveFrom))])
		checkText(t, key, "interval", got["interval"], strings.TrimSpace(c.Interval))
		amount := c.Amount.Value
		checkDecimal(t, key, "amount", got["amount"], &amount)
	}
}

// CompareEmployments checks the live employments of tenant (the employments topic, keyed
// "<tenant>:<employment id>") against every employment of the truth (tr.Employments, whether
// or not the person is in tr.Persons): the
// payroll fields, dates as written, hours and cost center weights exactly.
func CompareEmployments(t testing.TB, tenant string, live map[string]map[string]any, tr personiotest.Truth) {
	t.Helper()
	type owned struct {
		personID string
		e        personio.Employment
	}
	want := map[string]owned{}
	for personID, emps := range tr.Employments { // a test may expect employments of a person it left out of Persons
		for _, e := range emps {
			want[change.Key(tenant, e.ID)] = owned{personID, e}
		}
	}
	compareKeys(t, "employments", live, want)
	date := func(s string) string { return strings.TrimSpace(s)[:min(10, len(strings.TrimSpace(s)))] }
	ref := func(r *personio.Ref) string {
		if r == nil {
			return ""
		}
		return strings.TrimSpace(r.ID)
	}
	for key, w := range want {
		got, ok := live[key]
		if !ok {
			continue
		}
		e := w.e
		checkText(t, key, "id", got["id"], e.ID)
		checkText(t, key, "person_id", got["person_id"], w.personID)
		checkText(t, key, "status", got["status"], strings.TrimSpace(e.Status))
		checkText(t, key, "type", got["type"], strings.TrimSpace(e.Type))
		checkText(t, key, "start_date", got["start_date"], date(e.EmploymentStartDate))
		checkText(t, key, "end_date", got["end_date"], date(e.EmploymentEndDate))
		checkText(t, key, "probation_end_date", got["probation_end_date"], date(e.ProbationEndDate))
		checkText(t, key, "contract_end_date", got["contract_end_date"], date(e.ContractEndDate))
		checkText(t, key, "supervisor_id", got["supervisor_id"], ref(e.Supervisor))
		checkText(t, key, "office_id", got["office_id"], ref(e.Office))
		checkText(t, key, "legal_entity_id", got["legal_entity_id"], ref(e.LegalEntity))
		checkDecimal(t, key, "weekly_working_hours", got["weekly_working_hours"], e.WeeklyWorkingHours)
		checkDecimal(t, key, "full_time_weekly_working_hours", got["full_time_weekly_working_hours"], e.FullTimeWeeklyWorkingHours)
		var term personio.Termination
		if e.Termination != nil {
			term = *e.Termination
		}
		checkText(t, key, "termination_date", got["termination_date"], date(term.TerminationDate))
		checkText(t, key, "termination_last_working_day", got["termination_last_working_day"], date(term.LastWorkingDay))
		checkText(t, key, "termination_terminated_at", got["termination_terminated_at"], date(term.TerminatedAt))
		checkText(t, key, "termination_type", got["termination_type"], strings.TrimSpace(term.Type))
		checkText(t, key, "termination_reason", got["termination_reason"], strings.TrimSpace(term.Reason))
		ccs, _ := got["cost_centers"].([]any)
		if len(ccs) != len(e.CostCenters) {
			t.Errorf("%s: %d cost centers, want %d", key, len(ccs), len(e.CostCenters))
			continue
		}
		weights := map[string]*personio.Decimal{}
		for _, cc := range e.CostCenters {
			weights[strings.TrimSpace(cc.ID)] = cc.Weight
		}
		for _, raw := range ccs {
			cc, _ := raw.(map[string]any)
			id, _ := cc["id"].(string)
			w, ok := weights[id]
			if !ok {
				t.Errorf("%s: cost center %s is not in the truth", key, id)
				continue
			}
			checkDecimal(t, key, "cost_centers."+id+".weight", cc["weight"], w)
		}
	}
}

func compareKeys[V any](t testing.TB, what string, got map[string]map[string]any, want map[string]V) {
	t.Helper()
	var missing, extra []string
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Errorf("%s: replayed state has %d keys, truth %d; LOST %v, unexpected %v", what, len(got), len(want), missing, extra)
	}
}

func checkText(t testing.TB, key, field string, got any, want string) {
	t.Helper()
	if want == "" {
		if got != nil {
			t.Errorf("%s %s = %v, want null", key, field, got)
		}
		return
	}
	if s, _ := got.(string); s != want {
		t.Errorf("%s %s = %v, want %q", key, field, got, want)
	}
}

// checkDecimal compares a decimal the verifier rendered as text with the truth's, exactly.
func checkDecimal(t testing.TB, key, field string, got any, want *personio.Decimal) {
	t.Helper()
	if want == nil || *want == "" {
		if got != nil {
			t.Errorf("%s %s = %v, want null", key, field, got)
		}
		return
	}
	s, _ := got.(string)
	g, ok1 := new(big.Rat).SetString(s)
	w, ok2 := new(big.Rat).SetString(string(*want))
	if !ok1 || !ok2 || g.Cmp(w) != 0 {
		t.Errorf("%s %s = %v, want %s exactly", key, field, got, *want)
	}
}
