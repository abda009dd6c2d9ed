package change_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// samples holds a full record of every entity: adding an entity without one fails
// TestDescriptorsDriveTheWholeEntity.
var samples = map[change.Entity]func() change.Record{
	change.Persons:       func() change.Record { return fullPerson() },
	change.Compensations: func() change.Record { return fullCompensation() },
	change.Employments: func() change.Record {
		p := fullPerson()
		m := p.Employments[0]
		return &change.EmploymentRecord{ID: m.ID, PersonID: p.ID, Status: m.Status, Type: m.Type,
			PositionTitle: m.PositionTitle, StartDate: m.StartDate, WeeklyWorkingHours: m.WeeklyWorkingHours,
			FullTimeWeeklyWorkingHours: m.FullTimeWeeklyWorkingHours, SupervisorID: m.SupervisorID,
			LegalEntityID: m.LegalEntityID, OrgUnits: m.OrgUnits, CostCenters: m.CostCenters,
			TerminationDate: ptr(date("2027-03-31")), TerminationType: ptr("RESIGNATION"), UpdatedAt: m.UpdatedAt}
	},
}

// TestDescriptorsDriveTheWholeEntity: each descriptor alone takes a record of its entity
// through everything the stages do with it: record schema, record round trip, envelope round
// trip through the topic schema, back to an event with the same key and hash, and a scope.
func TestDescriptorsDriveTheWholeEntity(t *testing.T) {
	if got := change.Entities(); len(got) < 3 || got[0] != change.Persons || got[1] != change.Compensations || got[2] != change.Employments {
		t.Fatalf("Entities() = %v; persons, compensations and employments first, in that order", got)
	}
	for _, e := range change.Entities() {
		t.Run(string(e), func(t *testing.T) {
			d, err := change.Describe(e)
			if err != nil {
				t.Fatal(err)
			}
			sample, ok := samples[e]
			if !ok {
				t.Fatalf("no sample record of %s", e)
			}
			rec := sample()
			if rec.Entity() != e || d.New().Entity() != e {
				t.Fatalf("records of %s say they are %s and %s", e, rec.Entity(), d.New().Entity())
			}
			if !slices.Contains(schemas.Names(), string(e)) {
				t.Fatalf("no schemas/%s.avsc", e)
			}
			data, err := change.MarshalRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			back, err := change.UnmarshalRecord(e, data)
			if err != nil {
				t.Fatal(err)
			}
			if w, g := mustJSON(t, rec), mustJSON(t, back); w != g {
				t.Errorf("record round trip:\nwant %s\n got %s", w, g)
			}

			ev := change.Event{Entity: e, Op: change.Create, After: rec, Version: 1, EventID: "x",
				TS: time.UnixMilli(1_764_000_000_999).UTC(), Source: source()}
			env, err := ev.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			s, err := schemas.Parse(string(e))
			if err != nil {
				t.Fatal(err)
			}
			b, err := avro.Marshal(s, env)
			if err != nil {
				t.Fatal(err)
			}
			into := d.NewEnvelope()
			if err := avro.Unmarshal(s, b, into); err != nil {
				t.Fatal(err)
			}
			got, err := change.FromEnvelope(into)
			if err != nil {
				t.Fatal(err)
			}
			want, err := change.ContentHash(rec)
			if err != nil {
				t.Fatal(err)
			}
			if got.Entity != e || got.Key != change.Key("acme", rec.RecordID()) || got.Hash != want {
				t.Errorf("event from the envelope: entity %s key %s hash %s; want %s %s %s",
					got.Entity, got.Key, got.Hash, e, change.Key("acme", rec.RecordID()), want)
			}
			scope, err := d.ScopeOf(rec)
			if err != nil || scope == "" {
				t.Errorf("ScopeOf = %q, %v", scope, err)
			}
			if rec.SubjectID() == "" {
				t.Error("the sample names no subject: erasure could not find it")
			}
		})
	}
}

func TestDescribeUnknownEntity(t *testing.T) {
	_, err := change.Describe("absences")
	if !errors.Is(err, change.ErrUnknownEntity) {
		t.Fatalf("err = %v, want ErrUnknownEntity", err)
	}
	if want := change.NameList(); want == "" || !strings.Contains(err.Error(), want) {
		t.Errorf("err %q does not name the entities %q", err, want)
	}
	if _, err := change.NewEnvelope("absences"); err == nil {
		t.Error("NewEnvelope of an unknown entity")
	}
	if _, err := change.FromEnvelope(struct{}{}); err == nil {
		t.Error("FromEnvelope of a non-envelope")
	}
}

func TestScopes(t *testing.T) {
	persons, _ := change.Describe(change.Persons)
	comps, _ := change.Describe(change.Compensations)
	if persons.Scope != nil {
		t.Error("persons have more than one scope: every full sync would decode every stored person to find it")
	}
	if s, _ := persons.ScopeOf(fullPerson()); s != "persons" {
		t.Errorf("person scope %q", s)
	}
	c := fullCompensation()
	for _, tt := range []struct{ date, want string }{
		{"2026-11-01", "compensations:2026-11"}, {"2026-11-30", "compensations:2026-11"}, {"2026-12-01", "compensations:2026-12"},
	} {
		c.EffectiveFrom = date(tt.date)
		if s, err := comps.ScopeOf(c); s != tt.want || err != nil {
			t.Errorf("compensation effective %s: scope %q, %v; want %q", tt.date, s, err, tt.want)
		}
	}
	if _, err := comps.ScopeOf(fullPerson()); err == nil {
		t.Error("a person got a compensation scope")
	}
	emps, _ := change.Describe(change.Employments)
	if s, err := emps.ScopeOf(&change.EmploymentRecord{ID: "e1", PersonID: "42"}); s != "employments:42" || err != nil {
		t.Errorf("employment scope %q, %v; want its person's", s, err)
	}
	if got := change.MonthScope(change.Compensations, time.Date(2026, 11, 30, 23, 0, 0, 0, time.FixedZone("", -3600))); got != "compensations:2026-12" {
		t.Errorf("MonthScope = %q; months are UTC", got)
	}
}
