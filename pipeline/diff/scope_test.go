package diff_test

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

// withoutWeeklyHours lists copies of comps without their weekly working hours.
func withoutWeeklyHours(comps []*change.Compensation) []change.Record {
	listing := make([]change.Record, 0, len(comps))
	for _, c := range comps {
		c := *c
		c.WeeklyWorkingHours = nil
		listing = append(listing, &c)
	}
	return listing
}

// monthsOfSalaries is a state that kept every month it ever saw: months × perMonth salaries,
// the last month being 2026-11. It returns the state, the compensations of the last three
// months as stored, and those three month windows.
func monthsOfSalaries(t testing.TB, months, perMonth int) (*state.Memory, []*change.Compensation, []diff.Window) {
	t.Helper()
	st := state.NewMemory()
	last := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var recent []*change.Compensation
	var windows []diff.Window
	for m := range months {
		first := last.AddDate(0, -(months - 1 - m), 0)
		isRecent := m >= months-3
		if isRecent {
			windows = append(windows, diff.Window{Start: first, End: first.AddDate(0, 1, -1)})
		}
		for i := range perMonth {
			c := &change.Compensation{
				ID: fmt.Sprintf("c-%d-%d", m, i), PersonID: fmt.Sprint(i), Amount: big.NewRat(4000+int64(m), 1),
				Currency: "EUR", EffectiveFrom: first.AddDate(0, 0, i%28), Interval: ptr("monthly"),
				WeeklyWorkingHours: change.Dec(big.NewRat(40, 1)),
			}
			e, err := state.NewEntry(1, c)
			if err != nil {
				t.Fatal(err)
			}
			st.Put(change.Compensations, change.Key("acme", c.ID), e)
			if isRecent {
				recent = append(recent, c)
			}
		}
	}
	return st, recent, windows
}

// TestGuardCountsOnlyTheListedScope: the guards compare with the entries of the scope that
// was listed, not with every entry the state ever kept. After two years the last three
// months hold an eighth of the stored compensations, so a complete but empty listing of
// them (a legal-entity filter set on the credential) deleted every current salary, and a
// listing that lost a field emptied it everywhere, without tripping either guard.
func TestGuardCountsOnlyTheListedScope(t *testing.T) {
	src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: string(change.Full), ExtractedAt: clock()}
	d, err := diff.New(diff.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("mass delete", func(t *testing.T) {
		st, recent, windows := monthsOfSalaries(t, 24, 50)
		res, err := d.Diff(st, change.Compensations, src, nil,
			diff.Scope{Complete: true, Contains: diff.EffectiveIn(windows...)})
		var mde *diff.MassDeleteError
		if !errors.As(err, &mde) {
			t.Fatalf("an empty listing of the last 3 months published %d events (err %v); want the mass-delete guard to trip", len(res.Events), err)
		}
		if mde.Deletes != len(recent) || mde.Count != len(recent) {
			t.Errorf("guard: %d deletes of %d; want %d of %d (the listed months only)", mde.Deletes, mde.Count, len(recent), len(recent))
		}
		if len(res.Events) != 0 {
			t.Errorf("%d events returned with the guard tripped", len(res.Events))
		}
	})

	t.Run("mass delete, listing shrunk to a third", func(t *testing.T) {
		st, recent, windows := monthsOfSalaries(t, 24, 50)
		var listing []change.Record
		for i, c := range recent {
			if i%3 == 0 {
				listing = append(listing, c)
			}
		}
		_, err := d.Diff(st, change.Compensations, src, listing,
			diff.Scope{Complete: true, Contains: diff.EffectiveIn(windows...)})
		if !errors.Is(err, diff.ErrMassDelete) {
			t.Fatalf("err = %v; want the mass-delete guard to trip", err)
		}
	})

	t.Run("few deletes in the listed months pass", func(t *testing.T) {
		st, recent, windows := monthsOfSalaries(t, 24, 50)
		listing := make([]change.Record, 0, len(recent))
		for _, c := range recent[5:] { // 5 of 150 gone
			listing = append(listing, c)
		}
		res, err := d.Diff(st, change.Compensations, src, listing,
			diff.Scope{Complete: true, Contains: diff.EffectiveIn(windows...)})
		if err != nil || len(res.Events) != 5 {
			t.Fatalf("events %d, err %v; want 5 deletes", len(res.Events), err)
		}
	})

	t.Run("field loss", func(t *testing.T) {
		st, recent, windows := monthsOfSalaries(t, 24, 50)
		listing := withoutWeeklyHours(recent)
		res, err := d.Diff(st, change.Compensations, src, listing,
			diff.Scope{Complete: true, Contains: diff.EffectiveIn(windows...)})
		var fle *diff.FieldLossError
		if !errors.As(err, &fle) {
			t.Fatalf("a listing of the last 3 months without weekly hours published %d events (err %v); want the field-loss guard to trip", len(res.Events), err)
		}
		if fle.Lost != len(recent) || fle.Count != len(recent) {
			t.Errorf("guard: lost %d of %d; want %d of %d (the listed months only)", fle.Lost, fle.Count, len(recent), len(recent))
		}
	})

	t.Run("field loss, incremental listing", func(t *testing.T) {
		// An incremental listing (persons updated since the high-water mark) covers the
		// persons it returned, not the company: 30 of them losing the e-mail is all of
		// its scope, not 3 % of 1,000 persons.
		st := state.NewMemory()
		var listing []change.Record
		for i := range 1000 {
			p := lossPerson(i)
			e, err := state.NewEntry(1, p)
			if err != nil {
				t.Fatal(err)
			}
			st.Put(change.Persons, change.Key("acme", p.ID), e)
			if i < 30 {
				p := lossPerson(i)
				p.Email = nil
				listing = append(listing, p)
			}
		}
		inc := src
		inc.SyncKind = string(change.Incremental)
		res, err := d.Diff(st, change.Persons, inc, listing, diff.Scope{Complete: true, Filtered: true})
		var fle *diff.FieldLossError
		if !errors.As(err, &fle) {
			t.Fatalf("an incremental listing of 30 persons without e-mail published %d events (err %v); want the field-loss guard to trip", len(res.Events), err)
		}
		if fle.Field != "email" || fle.Lost != 30 || fle.Count != 30 {
			t.Errorf("guard: %q lost %d of %d; want email, 30 of 30 (the persons listed)", fle.Field, fle.Lost, fle.Count)
		}
	})

	t.Run("field loss, listing incomplete", func(t *testing.T) {
		// The months were listed, but not completely: no deletes, and the field-loss guard
		// still compares with the listed months (Listed), not the whole state.
		st, recent, windows := monthsOfSalaries(t, 24, 50)
		listing := withoutWeeklyHours(recent)
		_, err := d.Diff(st, change.Compensations, src, listing,
			diff.Scope{Complete: false, Listed: diff.EffectiveIn(windows...)})
		if !errors.Is(err, diff.ErrMassFieldLoss) {
			t.Fatalf("err = %v; want the field-loss guard to trip", err)
		}
	})
}

// TestCovered: a listing in scopes covers the stored records of the scopes it listed
// completely, and with rest those of every scope it did not list; it looked at those of the
// scopes it listed.
func TestCovered(t *testing.T) {
	comps, _ := change.Describe(change.Compensations)
	sc := diff.Covered(comps, []string{"compensations:2026-11"}, []string{"compensations:2026-10", "compensations:2026-11"}, false)
	if !sc.Complete {
		t.Error("a listing with a complete scope is not complete")
	}
	for _, tt := range []struct {
		from            string
		covered, looked bool
	}{{"2026-09-30", false, false}, {"2026-10-31", false, true}, {"2026-11-01", true, true}, {"2026-11-30", true, true}, {"2026-12-01", false, false}} {
		c := &change.Compensation{EffectiveFrom: date(t, tt.from)}
		if got, looked := sc.Contains(c), sc.Listed(c); got != tt.covered || looked != tt.looked {
			t.Errorf("effective %s: covered %v, listed %v; want %v, %v", tt.from, got, looked, tt.covered, tt.looked)
		}
	}
	if sc.Contains(&change.Person{ID: "1"}) || sc.Listed(&change.Person{ID: "1"}) {
		t.Error("a person is inside a compensation scope")
	}
	if diff.Covered(comps, nil, []string{"compensations:2026-11"}, false).Complete {
		t.Error("a listing without a complete scope is complete")
	}

	emps, _ := change.Describe(change.Employments)
	emp := func(person string) *change.EmploymentRecord {
		return &change.EmploymentRecord{ID: "e", PersonID: person}
	}
	// Person 1 listed completely, person 2's listing failed, person 3 not listed.
	complete, listed := []string{"employments:1"}, []string{"employments:1", "employments:2"}
	for _, rest := range []bool{false, true} {
		sc := diff.Covered(emps, complete, listed, rest)
		if !sc.Contains(emp("1")) || sc.Contains(emp("2")) || sc.Contains(emp("3")) != rest {
			t.Errorf("rest %v: covers person 1 %v, 2 %v, 3 %v; want true, false, %v", rest,
				sc.Contains(emp("1")), sc.Contains(emp("2")), sc.Contains(emp("3")), rest)
		}
		if !sc.Listed(emp("2")) || sc.Listed(emp("3")) {
			t.Errorf("rest %v: looked at person 2 %v, 3 %v; want true, false", rest, sc.Listed(emp("2")), sc.Listed(emp("3")))
		}
	}
	if !diff.Covered(emps, nil, nil, true).Complete {
		t.Error("a listing that knows every scope empty is not complete")
	}
}

// TestKeyInDecodesOnlyItsKeys: a scope limited by KeyIn (a targeted run's ids) deletes only an
// unlisted key it accepts, never decodes a stored record of another key (one that cannot be
// decoded does not fail the run), and with GuardAll still weighs the deletes against every
// stored record: 1 delete of 20 passes, 5 of 20 trip the guard.
func TestKeyInDecodesOnlyItsKeys(t *testing.T) {
	src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: string(change.Webhook), ExtractedAt: clock()}
	d, err := diff.New(diff.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	for i := range 20 {
		p := lossPerson(i)
		e, err := state.NewEntry(1, p)
		if err != nil {
			t.Fatal(err)
		}
		st.Put(change.Persons, change.Key("acme", p.ID), e)
	}
	whole, err := state.NewEntry(1, lossPerson(99))
	if err != nil {
		t.Fatal(err)
	}
	data, err := whole.RecordData(change.Persons)
	if err != nil {
		t.Fatal(err)
	}
	st.Put(change.Persons, change.Key("acme", "broken"), state.Entry{Version: 1, Data: data[:len(data)/2]}) // cut short
	scope := func(ids ...string) diff.Scope {
		in := map[string]bool{}
		for _, id := range ids {
			in[change.Key("acme", id)] = true
		}
		return diff.Scope{Complete: true, GuardAll: true,
			KeyIn:    func(key string) bool { return in[key] },
			Contains: func(r change.Record) bool { return in[change.Key("acme", r.RecordID())] }}
	}
	listed := lossPerson(1)
	res, err := d.Diff(st, change.Persons, src, []change.Record{listed}, scope(lossPerson(0).ID, listed.ID))
	if err != nil {
		t.Fatalf("a targeted diff of two persons: %v", err)
	}
	if len(res.Events) != 1 || res.Events[0].Op != change.Delete || res.Events[0].ID != lossPerson(0).ID {
		t.Errorf("events %+v, want one delete of %s", res.Events, lossPerson(0).ID)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, lossPerson(i).ID)
	}
	_, err = d.Diff(st, change.Persons, src, nil, scope(ids...))
	var mde *diff.MassDeleteError
	if !errors.As(err, &mde) || mde.Deletes != 5 || mde.Count != 21 {
		t.Errorf("5 deletes of 21 stored: err %v, want a *MassDeleteError counting 5 of 21", err)
	}
}
