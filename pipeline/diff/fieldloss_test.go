package diff_test

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

// lossPerson is a person in normal form with an email, a custom attribute and an employment.
func lossPerson(i int) *change.Person {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return &change.Person{
		ID:        fmt.Sprint(100 + i),
		Email:     ptr(fmt.Sprintf("p%d@acme.example", i)),
		FirstName: ptr(fmt.Sprintf("First%d", i)),
		LastName:  ptr("Last"),
		Status:    ptr("ACTIVE"),
		CustomAttributes: []change.CustomAttribute{
			{ID: "dynamic_1", Label: ptr("Shoe size"), Type: ptr("STRING"), ValueJSON: ptr(`"44"`)},
			{ID: "dynamic_2", Label: ptr("IBAN"), Type: ptr("STRING"), ValueJSON: ptr(`"DE00"`)},
		},
		Employments: []change.Employment{{
			ID: fmt.Sprint(900 + i), Status: ptr("ACTIVE"), StartDate: &start,
			WeeklyWorkingHours: change.Dec(big.NewRat(40, 1)),
			CostCenters:        []change.CostCenter{{ID: "cc1", Weight: change.Dec(big.NewRat(1, 1))}},
		}},
	}
}

func TestFieldLossGuard(t *testing.T) {
	noEmail := func(p *change.Person) { p.Email = nil }
	tests := []struct {
		name    string
		state   int // persons in the state
		kind    change.SyncKind
		changed int // persons the edit applies to (the first ones)
		edit    func(*change.Person)
		noGuard bool
		field   string // refused for this family; "" = allowed
		fields  []string
	}{
		{name: "email vanishes for 50%", state: 10, changed: 5, edit: noEmail, field: "email", fields: []string{"email"}},
		{name: "email vanishes for everyone", state: 10, changed: 10, edit: noEmail, field: "email", fields: []string{"email"}},
		{name: "email vanishes for 10%", state: 10, changed: 1, edit: noEmail},
		{name: "email vanishes for 20%, at the limit", state: 10, changed: 2, edit: noEmail},
		{name: "email vanishes for 30%", state: 10, changed: 3, edit: noEmail, field: "email", fields: []string{"email"}},
		{name: "override", state: 10, changed: 5, edit: noEmail, noGuard: true},
		{name: "one person loses the email", state: 40, changed: 1, edit: noEmail},
		{name: "state below the guard minimum", state: 5, changed: 5, edit: noEmail},
		{name: "email changed, not lost", state: 10, changed: 10, edit: func(p *change.Person) { p.Email = ptr("new-" + *p.Email) }},
		{name: "email appears", state: 10, changed: 10, kind: change.Full, edit: func(p *change.Person) { p.PreferredName = ptr("P") }},
		{name: "incremental sync", state: 10, changed: 5, kind: change.Incremental, edit: noEmail, field: "email", fields: []string{"email"}},
		{name: "resnapshot", state: 10, changed: 10, kind: change.Resnapshot, edit: noEmail, field: "email", fields: []string{"email"}},
		{name: "names vanish", state: 10, changed: 10, edit: func(p *change.Person) { p.FirstName, p.LastName = nil, nil },
			field: "first_name", fields: []string{"first_name", "last_name"}},
		{name: "every custom attribute vanishes", state: 10, changed: 10, edit: func(p *change.Person) { p.CustomAttributes = nil },
			field: "custom_attributes.dynamic_1", fields: []string{"custom_attributes.dynamic_1", "custom_attributes.dynamic_2"}},
		{name: "one custom attribute vanishes", state: 10, changed: 6, edit: func(p *change.Person) { p.CustomAttributes = p.CustomAttributes[:1] },
			field: "custom_attributes.dynamic_2", fields: []string{"custom_attributes.dynamic_2"}},
		{name: "custom attribute value nulled", state: 10, changed: 6, edit: func(p *change.Person) { p.CustomAttributes[0].ValueJSON = nil },
			field: "custom_attributes.dynamic_1", fields: []string{"custom_attributes.dynamic_1"}},
		// A person's employment details moved to the employments topic (change.Descriptor
		// Moved): their going empty is the move, not a lost scope; the employments topic's
		// own guards watch them now. Losing the employment ids is still refused.
		{name: "employment hours vanish", state: 10, changed: 5, edit: func(p *change.Person) { p.Employments[0].WeeklyWorkingHours = nil }},
		{name: "cost center weights vanish", state: 10, changed: 5, edit: func(p *change.Person) { p.Employments[0].CostCenters[0].Weight = nil }},
		{name: "employment details move to their topic", state: 10, changed: 10, edit: func(p *change.Person) {
			p.Employments = []change.Employment{{ID: p.Employments[0].ID, OrgUnits: []change.OrgUnit{}, CostCenters: []change.CostCenter{}}}
		}},
		{name: "employments vanish", state: 10, changed: 10, edit: func(p *change.Person) { p.Employments = nil },
			field: "employments.*", fields: []string{"employments.*"}},
		{name: "a few different fields each", state: 10, changed: 6, edit: nil}, // see below: 2 persons per field
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := state.NewMemory()
			var listing []change.Record
			for i := range tc.state {
				e, err := state.NewEntry(1, lossPerson(i))
				if err != nil {
					t.Fatal(err)
				}
				st.Put(change.Persons, change.Key("acme", lossPerson(i).ID), e)
				p := lossPerson(i)
				switch {
				case i >= tc.changed:
				case tc.edit != nil:
					tc.edit(p)
				default: // two persons each lose one of three fields: 20% per field
					switch i % 3 {
					case 0:
						p.Email = nil
					case 1:
						p.FirstName = nil
					case 2:
						p.Status = nil
					}
				}
				listing = append(listing, p)
			}
			// Another tenant's entries do not count.
			for i := range 30 {
				e, _ := state.NewEntry(1, lossPerson(i))
				st.Put(change.Persons, change.Key("other", lossPerson(i).ID), e)
			}
			opts := []diff.Option{diff.WithClock(clock)}
			if tc.noGuard {
				opts = append(opts, diff.WithoutDeleteGuard())
			}
			d, err := diff.New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			kind := tc.kind
			if kind == "" {
				kind = change.Full
			}
			src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: string(kind), ExtractedAt: clock()}
			res, err := d.Diff(st, change.Persons, src, listing, diff.Scope{Complete: true})
			if tc.field != "" {
				var fle *diff.FieldLossError
				if !errors.As(err, &fle) || !errors.Is(err, diff.ErrMassFieldLoss) {
					t.Fatalf("err = %v, want a *FieldLossError", err)
				}
				if errors.Is(err, diff.ErrMassDelete) {
					t.Error("a field loss matches ErrMassDelete")
				}
				if fle.Field != tc.field || fle.Count != tc.state || fle.Entity != change.Persons || !slices.Equal(fle.Fields, tc.fields) {
					t.Errorf("error = %+v, want field %s of %d, fields %v", fle, tc.field, tc.state, tc.fields)
				}
				if fle.Lost <= 0 || fle.Lost > tc.changed {
					t.Errorf("lost = %d, want 1..%d", fle.Lost, tc.changed)
				}
				if len(res.Events) != 0 {
					t.Errorf("%d events with the guard tripped", len(res.Events))
				}
				if msg := err.Error(); strings.Contains(msg, "@acme.example") || strings.Contains(msg, "First") {
					t.Errorf("error carries a value: %s", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			want := tc.changed
			if kind == change.Resnapshot {
				want = tc.state
			}
			if len(res.Events) != want {
				t.Errorf("%d events, want %d", len(res.Events), want)
			}
		})
	}
}

func TestFieldLossSkipsConflicts(t *testing.T) {
	// Keys listed twice with different content are skipped; their emptied fields do not count.
	st := state.NewMemory()
	var listing []change.Record
	for i := range 10 {
		e, _ := state.NewEntry(1, lossPerson(i))
		st.Put(change.Persons, change.Key("acme", lossPerson(i).ID), e)
		p := lossPerson(i)
		if i < 3 {
			p.Email = nil
			listing = append(listing, p, lossPerson(i)) // conflicting copy
			continue
		}
		listing = append(listing, p)
	}
	d, _ := diff.New(diff.WithClock(clock))
	src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: "full", ExtractedAt: clock()}
	res, err := d.Diff(st, change.Persons, src, listing, diff.Scope{Complete: true})
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if res.Conflicts != 3 || len(res.Events) != 0 {
		t.Errorf("conflicts %d, events %d; want 3 and 0", res.Conflicts, len(res.Events))
	}
}

func TestFieldLossCompensations(t *testing.T) {
	comp := func(i int) *change.Compensation {
		return &change.Compensation{
			ID: fmt.Sprint(i), PersonID: "1", Amount: big.NewRat(1000, 1), Currency: "EUR",
			EffectiveFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Interval: ptr("monthly"),
			WeeklyWorkingHours: change.Dec(big.NewRat(40, 1)),
		}
	}
	st := state.NewMemory()
	var listing []change.Record
	for i := range 12 {
		e, _ := state.NewEntry(1, comp(i))
		st.Put(change.Compensations, change.Key("acme", comp(i).ID), e)
		c := comp(i)
		c.WeeklyWorkingHours = nil
		listing = append(listing, c)
	}
	d, _ := diff.New(diff.WithClock(clock))
	src := change.Source{Tenant: "acme", SyncID: "s1", SyncKind: "full", ExtractedAt: clock()}
	_, err := d.Diff(st, change.Compensations, src, listing, diff.Scope{Complete: true})
	var fle *diff.FieldLossError
	if !errors.As(err, &fle) || fle.Field != "weekly_working_hours" || fle.Lost != 12 || fle.Count != 12 {
		t.Fatalf("err = %v, want weekly_working_hours lost for 12 of 12", err)
	}
}

func TestFieldEmpty(t *testing.T) {
	p := lossPerson(1)
	p.PreferredName = ptr("")
	p.CustomAttributes = append(p.CustomAttributes, change.CustomAttribute{ID: "dynamic_3", ValueJSON: ptr("null")})
	tests := []struct {
		path, family string
		empty        bool
	}{
		{"email", "email", false},
		{"gender", "gender", true},
		{"preferred_name", "preferred_name", true},
		{"custom_attributes.dynamic_1", "custom_attributes.dynamic_1", false},
		{"custom_attributes.dynamic_3", "custom_attributes.dynamic_3", true},
		{"custom_attributes.dynamic_9", "custom_attributes.dynamic_9", true},
		{"employments.901", "employments.*", false},
		{"employments.777", "employments.*", true},
		{"employments.901.status", "employments.*.status", false},
		{"employments.901.end_date", "employments.*.end_date", true},
		{"employments.901.weekly_working_hours", "employments.*.weekly_working_hours", false},
		{"employments.901.full_time_weekly_working_hours", "employments.*.full_time_weekly_working_hours", true},
		{"employments.901.cost_centers.cc1.weight", "employments.*.cost_centers.*.weight", false},
		{"employments.901.cost_centers.cc9.weight", "employments.*.cost_centers.*.weight", true},
		{"employments.901.termination", "employments.*.termination", true},
		{"employments.901.termination.reason", "employments.*.termination.reason", true},
		{"employments.777.termination.reason", "employments.*.termination.reason", true},
		{"employments", "employments", false},
		{"custom_attributes", "custom_attributes", false},
		{"no_such_field", "", true},
		{"email.x", "", true},
	}
	for _, tc := range tests {
		fam, empty := diff.FieldEmpty(p, tc.path)
		if fam != tc.family || empty != tc.empty {
			t.Errorf("FieldEmpty(%q) = %q, %v; want %q, %v", tc.path, fam, empty, tc.family, tc.empty)
		}
	}
	if fam, empty := diff.FieldEmpty(nil, "email"); fam != "" || !empty {
		t.Errorf("FieldEmpty(nil) = %q, %v", fam, empty)
	}
}
