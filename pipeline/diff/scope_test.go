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

// TestInScopes: a scope set covers the records its descriptor places inside it; an entity with
// one scope is covered whole (nil: no record needs decoding) or not at all.
func TestInScopes(t *testing.T) {
	comps, _ := change.Describe(change.Compensations)
	in := diff.InScopes(comps, "compensations:2026-11")
	if in == nil {
		t.Fatal("InScopes of compensations is nil")
	}
	for _, tt := range []struct {
		from string
		want bool
	}{{"2026-10-31", false}, {"2026-11-01", true}, {"2026-11-30", true}, {"2026-12-01", false}} {
		if got := in(&change.Compensation{EffectiveFrom: date(t, tt.from)}); got != tt.want {
			t.Errorf("effective %s: covered %v, want %v", tt.from, got, tt.want)
		}
	}
	if in(&change.Person{ID: "1"}) {
		t.Error("a person is inside a compensation scope")
	}
	persons, _ := change.Describe(change.Persons)
	if diff.InScopes(persons, "persons") != nil {
		t.Error("the whole persons scope is not nil")
	}
	if none := diff.InScopes(persons); none == nil || none(&change.Person{ID: "1"}) {
		t.Error("no persons scope covers a person")
	}
}
