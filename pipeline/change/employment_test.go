package change_test

import (
	"context"
	"errors"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

func decimalPtr(s string) *personio.Decimal { d := personio.Decimal(s); return &d }

// fullEmployment is an employment with every field of Personio's employment spec set, lists
// out of order and text with surrounding space.
func fullEmployment() personio.Employment {
	return personio.Employment{
		ID:                         " emp-1 ",
		Person:                     personio.Ref{ID: "42"},
		Position:                   &personio.Position{Title: " Payroll Lead "},
		Status:                     "ACTIVE",
		Type:                       "INTERNAL",
		WeeklyWorkingHours:         decimalPtr("37.50"),
		FullTimeWeeklyWorkingHours: decimalPtr("40"),
		ProbationEndDate:           "2024-07-31",
		EmploymentStartDate:        "2024-02-01",
		EmploymentEndDate:          "2026-03-31T00:00:00Z",
		ContractEndDate:            "2026-03-31",
		Supervisor:                 &personio.Ref{ID: "7"},
		Office:                     &personio.Ref{ID: "60301"},
		OrgUnits:                   []personio.OrgUnit{{ID: "4501", Type: "team"}, {ID: "401", Type: "department"}},
		LegalEntity:                &personio.Ref{ID: "le-de"},
		SubCompany:                 &personio.Ref{ID: "sc-1"},
		Job:                        &personio.Ref{ID: "4b7d3c1e-2f7a-4e49-9c4b-7a1f0b7d1e11"},
		CostCenters: []personio.CostCenter{
			{ID: "1010", Weight: decimalPtr("40")},
			{ID: "1001", Weight: decimalPtr("60.0")},
		},
		Termination: &personio.Termination{
			TerminationDate: "2026-03-31",
			LastWorkingDay:  "2026-03-27",
			TerminatedAt:    "2026-01-15",
			Type:            "EMPLOYEE",
			Reason:          " Relocation ",
		},
		CreatedAt: "2024-01-10T09:30:00.123456+01:00",
		UpdatedAt: "2026-01-15T12:00:00Z",
	}
}

func day(y int, m time.Month, d int) *time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &t
}

func str(s string) *string { return &s }

func optRat(s string) **big.Rat { return change.Dec(rat(s)) }

func TestNewEmployment(t *testing.T) {
	got, err := change.NewEmployment(" 42 ", fullEmployment())
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2024, 1, 10, 8, 30, 0, 123e6, time.UTC)
	updated := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	want := &change.EmploymentRecord{
		ID:                         "emp-1",
		PersonID:                   "42",
		Status:                     str("ACTIVE"),
		Type:                       str("INTERNAL"),
		PositionTitle:              str("Payroll Lead"),
		StartDate:                  day(2024, 2, 1),
		EndDate:                    day(2026, 3, 31),
		ProbationEndDate:           day(2024, 7, 31),
		ContractEndDate:            day(2026, 3, 31),
		WeeklyWorkingHours:         optRat("37.5"),
		FullTimeWeeklyWorkingHours: optRat("40"),
		SupervisorID:               str("7"),
		OfficeID:                   str("60301"),
		LegalEntityID:              str("le-de"),
		SubCompanyID:               str("sc-1"),
		JobID:                      str("4b7d3c1e-2f7a-4e49-9c4b-7a1f0b7d1e11"),
		OrgUnits:                   []change.OrgUnit{{ID: "401", Type: str("department")}, {ID: "4501", Type: str("team")}},
		CostCenters:                []change.CostCenter{{ID: "1001", Weight: optRat("60")}, {ID: "1010", Weight: optRat("40")}},
		TerminationDate:            day(2026, 3, 31),
		TerminationLastWorkingDay:  day(2026, 3, 27),
		TerminationTerminatedAt:    day(2026, 1, 15),
		TerminationType:            str("EMPLOYEE"),
		TerminationReason:          str("Relocation"),
		CreatedAt:                  &created,
		UpdatedAt:                  &updated,
	}
	if diff := change.ChangedFields(want, got); len(diff) > 0 {
		t.Errorf("normal form differs in %v", diff)
	}
	if !got.UpdatedAt.Equal(updated) {
		t.Errorf("updated_at = %v, want %v", got.UpdatedAt, updated)
	}
	if got.Entity() != change.Employments || got.RecordID() != "emp-1" || got.SubjectID() != "42" || got.EntityUpdatedAt() != got.UpdatedAt {
		t.Errorf("Record methods: entity %s, id %s, subject %s", got.Entity(), got.RecordID(), got.SubjectID())
	}

	// A terminated_at sent as a full timestamp keeps the date as written (it is a date in the
	// spec), like every other date; no termination gives null fields.
	e := fullEmployment()
	e.Termination.TerminatedAt = "2026-01-15T23:30:00-05:00"
	if got, err := change.NewEmployment("42", e); err != nil || !got.TerminationTerminatedAt.Equal(*day(2026, 1, 15)) {
		t.Errorf("terminated_at of a timestamp = %v, %v; want 2026-01-15", got.TerminationTerminatedAt, err)
	}
	e.Termination = nil
	e.OrgUnits, e.CostCenters = nil, nil
	got, err = change.NewEmployment("42", e)
	if err != nil {
		t.Fatal(err)
	}
	if got.TerminationDate != nil || got.TerminationLastWorkingDay != nil || got.TerminationTerminatedAt != nil || got.TerminationType != nil || got.TerminationReason != nil {
		t.Error("an employment without termination has termination fields")
	}
	if got.OrgUnits == nil || got.CostCenters == nil {
		t.Error("absent lists must be empty, not nil (the schema's arrays have no null)")
	}
	// The person id of the listing is used when the item does not repeat it.
	e.Person = personio.Ref{}
	if got, err := change.NewEmployment("42", e); err != nil || got.PersonID != "42" {
		t.Errorf("employment without person.id: %v, %v", got, err)
	}
}

// TestNewEmploymentMatchesPersons checks, over the simulator's company, that an employment of
// the employments topic carries exactly what the same employment carries inside its person
// today: one conversion, made flat.
func TestNewEmploymentMatchesPersons(t *testing.T) {
	sim, err := personiotest.New(personiotest.Options{Persons: 150, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	truth := sim.Truth()
	n, terminated := 0, 0
	for _, p := range truth.Persons {
		person, err := change.NewPerson(p, truth.Employments[p.ID])
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range truth.Employments[p.ID] {
			rec, err := change.NewEmployment(p.ID, e)
			if err != nil {
				t.Fatalf("employment of person %s: %v", p.ID, err)
			}
			i := slices.IndexFunc(person.Employments, func(m change.Employment) bool { return m.ID == rec.ID })
			if i < 0 {
				t.Fatalf("employment %s not in its person", rec.ID)
			}
			m := person.Employments[i]
			flat := &change.EmploymentRecord{
				ID: m.ID, PersonID: p.ID, Status: m.Status, Type: m.Type, PositionTitle: m.PositionTitle,
				StartDate: m.StartDate, EndDate: m.EndDate, ProbationEndDate: m.ProbationEndDate,
				ContractEndDate: m.ContractEndDate, WeeklyWorkingHours: m.WeeklyWorkingHours,
				FullTimeWeeklyWorkingHours: m.FullTimeWeeklyWorkingHours, SupervisorID: m.SupervisorID,
				OfficeID: m.OfficeID, LegalEntityID: m.LegalEntityID, SubCompanyID: m.SubCompanyID, JobID: m.JobID,
				OrgUnits: m.OrgUnits, CostCenters: m.CostCenters, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
			}
			if term := m.Termination; term != nil {
				terminated++
				flat.TerminationDate, flat.TerminationLastWorkingDay = term.TerminationDate, term.LastWorkingDay
				flat.TerminationType, flat.TerminationReason = term.Type, term.Reason
				flat.TerminationTerminatedAt = term.TerminatedAt // the simulator sends a date: midnight UTC
			}
			if diff := change.ChangedFields(flat, rec); len(diff) > 0 {
				t.Errorf("employment %s differs from its person's item in %v", rec.ID, diff)
			}
			n++
		}
	}
	if n < 150 || terminated == 0 {
		t.Fatalf("only %d employments (%d terminated) checked", n, terminated)
	}
}

func TestNewEmploymentInvalid(t *testing.T) {
	tests := []struct {
		name     string
		personID string
		edit     func(e *personio.Employment)
		id       string // FieldError.ID
		field    string
		secret   string // a value the error must not show
	}{
		{"no id", "42", func(e *personio.Employment) { e.ID = "  " }, "", "id", ""},
		{"no person", "", func(*personio.Employment) {}, "emp-1", "person_id", ""},
		{"another person", "42", func(e *personio.Employment) { e.Person.ID = "43" }, "emp-1", "person.id", "43"},
		{"start before 1900", "42", func(e *personio.Employment) { e.EmploymentStartDate = "1899-12-31" }, "emp-1", "start_date", "1899"},
		{"end after 9999", "42", func(e *personio.Employment) { e.EmploymentEndDate = "10000-01-01" }, "emp-1", "end_date", "10000"},
		{"probation not a date", "42", func(e *personio.Employment) { e.ProbationEndDate = "31.07.2024" }, "emp-1", "probation_end_date", "31.07"},
		{"hours with 5 places", "42", func(e *personio.Employment) { e.WeeklyWorkingHours = decimalPtr("37.12345") }, "emp-1", "weekly_working_hours", "37.12345"},
		{"full-time hours not a number", "42", func(e *personio.Employment) { e.FullTimeWeeklyWorkingHours = decimalPtr("forty") }, "emp-1", "full_time_weekly_working_hours", "forty"},
		{"weight with 10 digits", "42", func(e *personio.Employment) { e.CostCenters[0].Weight = decimalPtr("123456.7891") }, "emp-1", "cost_centers.1010.weight", "123456"},
		{"cost center without id", "42", func(e *personio.Employment) { e.CostCenters[1].ID = "" }, "emp-1", "cost_centers", ""},
		{"two cost centers with one id", "42", func(e *personio.Employment) { e.CostCenters[1].ID = "1010" }, "emp-1", "cost_centers", ""},
		{"org unit without id", "42", func(e *personio.Employment) { e.OrgUnits[0].ID = " " }, "emp-1", "org_units", ""},
		{"termination date year 0", "42", func(e *personio.Employment) { e.Termination.TerminationDate = "0000-01-01" }, "emp-1", "termination.termination_date", "0000"},
		{"terminated_at not a date", "42", func(e *personio.Employment) { e.Termination.TerminatedAt = "soon" }, "emp-1", "termination.terminated_at", "soon"},
		{"updated_at before 1970", "42", func(e *personio.Employment) { e.UpdatedAt = "1969-12-31T23:59:59Z" }, "emp-1", "updated_at", "1969"},
		{"created_at not an instant", "42", func(e *personio.Employment) { e.CreatedAt = "yesterday" }, "emp-1", "created_at", "yesterday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullEmployment()
			tt.edit(&e)
			rec, err := change.NewEmployment(tt.personID, e)
			if err == nil {
				t.Fatalf("accepted: %+v", rec)
			}
			if !errors.Is(err, change.ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			var fe *change.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			if fe.Entity != change.Employments || fe.ID != tt.id || fe.Field != tt.field {
				t.Errorf("FieldError{%s %q %s}, want {employments %q %s} (%v)", fe.Entity, fe.ID, fe.Field, tt.id, tt.field, err)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error shows the value: %v", err)
			}
		})
	}
}

// schemaByID is a SchemaSource holding the current schemas under ids 1, 2, ….
type schemaByID map[int]avro.Schema

func (s schemaByID) SchemaByID(_ context.Context, id int) (avro.Schema, error) {
	if sch, ok := s[id]; ok {
		return sch, nil
	}
	return nil, errors.New("no such id")
}

// TestEmploymentRoundTrip sends employment events through the generic codec (the Confluent
// wire format with schemas/employments.avsc, as a consumer reads the topic) and back: every
// field survives exactly, FromEnvelope rebuilds the event with the same content hash, and the
// record encoding AppendRecord gives is the one hamba/avro writes with the record schema.
func TestEmploymentRoundTrip(t *testing.T) {
	env, err := schemas.Parse(schemas.Employments)
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(schemaByID{3: env})
	after, err := change.NewEmployment("42", fullEmployment())
	if err != nil {
		t.Fatal(err)
	}
	bare := fullEmployment()
	bare.Termination, bare.Position, bare.Supervisor, bare.Job, bare.SubCompany = nil, nil, nil, nil, nil
	bare.WeeklyWorkingHours, bare.CostCenters, bare.OrgUnits = nil, nil, nil
	before, err := change.NewEmployment("42", bare)
	if err != nil {
		t.Fatal(err)
	}
	updated := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	src := change.Source{Tenant: "acme", System: change.System, SyncID: "s1", SyncKind: string(change.Full),
		ExtractedAt: updated.Add(time.Minute), EntityUpdatedAt: &updated}
	for _, ev := range []change.Event{
		{Op: change.Create, After: after, Version: 1},
		{Op: change.Update, Before: before, After: after, Version: 2, ChangedFields: change.ChangedFields(before, after)},
		{Op: change.Delete, Before: after, Version: 3},
	} {
		t.Run(string(ev.Op), func(t *testing.T) {
			ev.Entity, ev.ID, ev.Key = change.Employments, "emp-1", change.Key("acme", "emp-1")
			ev.TS, ev.Source = updated.Add(2*time.Minute), src
			if ev.After != nil {
				h, err := change.ContentHash(ev.After)
				if err != nil {
					t.Fatal(err)
				}
				ev.Hash = h
			}
			ev.EventID = change.EventID(ev.Key, ev.Entity, ev.Version, ev.Op, ev.Hash)
			value, err := ev.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			wire, err := c.Encode(3, env, value)
			if err != nil {
				t.Fatal(err)
			}
			got, err := change.NewEnvelope(change.Employments)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Decode(t.Context(), wire, env, got); err != nil {
				t.Fatal(err)
			}
			back, err := change.FromEnvelope(got)
			if err != nil {
				t.Fatal(err)
			}
			if back.Key != ev.Key || back.ID != ev.ID || back.Op != ev.Op || back.Version != ev.Version ||
				back.EventID != ev.EventID || back.Hash != ev.Hash || !slices.Equal(back.ChangedFields, ev.ChangedFields) {
				t.Errorf("event back from the topic: %v hash %s, want %v hash %s", back, back.Hash, ev, ev.Hash)
			}
			for _, pair := range [][2]change.Record{{ev.Before, back.Before}, {ev.After, back.After}} {
				if (pair[0] == nil) != (pair[1] == nil) {
					t.Fatalf("record presence differs: %v vs %v", pair[0], pair[1])
				}
				if pair[0] == nil {
					continue
				}
				if d := change.ChangedFields(pair[0], pair[1]); len(d) > 0 {
					t.Errorf("record differs after the round trip in %v", d)
				}
				w, g := pair[0].(*change.EmploymentRecord), pair[1].(*change.EmploymentRecord)
				if (w.UpdatedAt == nil) != (g.UpdatedAt == nil) || (w.UpdatedAt != nil && !w.UpdatedAt.Equal(*g.UpdatedAt)) {
					t.Errorf("updated_at %v came back as %v", w.UpdatedAt, g.UpdatedAt)
				}
				// The record as stored (MarshalRecord) is hamba's encoding with the record schema.
				rs, err := change.RecordSchema(change.Employments)
				if err != nil {
					t.Fatal(err)
				}
				mine, err := change.MarshalRecord(w)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := c.AppendRecord(nil, rs, w)
				if err != nil {
					t.Fatal(err)
				}
				if string(mine) != string(ref) {
					t.Error("MarshalRecord differs from the schema's encoding")
				}
				dec, err := change.UnmarshalRecord(change.Employments, mine)
				if err != nil {
					t.Fatal(err)
				}
				if d := change.ChangedFields(w, dec); len(d) > 0 {
					t.Errorf("UnmarshalRecord(MarshalRecord) differs in %v", d)
				}
			}
		})
	}
}

// TestEmploymentHashAndChangedFields checks the content hash and the changed fields of
// employment records: updated_at alone is no change; every payroll field is, named by its
// flat path.
func TestEmploymentHashAndChangedFields(t *testing.T) {
	base, err := change.NewEmployment("42", fullEmployment())
	if err != nil {
		t.Fatal(err)
	}
	h0, err := change.ContentHash(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(e *personio.Employment)
		want []string // changed fields; nil: the same content
	}{
		{"updated_at only", func(e *personio.Employment) { e.UpdatedAt = "2026-02-01T00:00:00Z" }, nil},
		{"hours written differently", func(e *personio.Employment) { e.WeeklyWorkingHours = decimalPtr("37.5000") }, nil},
		{"cost center order", func(e *personio.Employment) { slices.Reverse(e.CostCenters) }, nil},
		{"weight", func(e *personio.Employment) {
			e.CostCenters[0].Weight, e.CostCenters[1].Weight = decimalPtr("50"), decimalPtr("50")
		}, []string{"cost_centers.1001.weight", "cost_centers.1010.weight"}},
		{"new cost center", func(e *personio.Employment) {
			e.CostCenters = append(e.CostCenters, personio.CostCenter{ID: "1020"})
		}, []string{"cost_centers.1020"}},
		{"weekly hours", func(e *personio.Employment) { e.WeeklyWorkingHours = decimalPtr("30") }, []string{"weekly_working_hours"}},
		{"termination withdrawn", func(e *personio.Employment) { e.Termination = nil }, []string{
			"termination_date", "termination_last_working_day", "termination_reason", "termination_terminated_at", "termination_type"}},
		{"supervisor and legal entity", func(e *personio.Employment) {
			e.Supervisor, e.LegalEntity = &personio.Ref{ID: "8"}, &personio.Ref{ID: "le-at"}
		}, []string{"legal_entity_id", "supervisor_id"}},
		{"position and status", func(e *personio.Employment) {
			e.Position, e.Status = &personio.Position{Title: "Head of Payroll"}, "LEAVE"
		}, []string{"position_title", "status"}},
		{"org unit type", func(e *personio.Employment) { e.OrgUnits[0].Type = "squad" }, []string{"org_units.4501.type"}},
		{"probation and start", func(e *personio.Employment) {
			e.ProbationEndDate, e.EmploymentStartDate = "2024-08-31", "2024-03-01"
		}, []string{"probation_end_date", "start_date"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullEmployment()
			tt.edit(&e)
			rec, err := change.NewEmployment("42", e)
			if err != nil {
				t.Fatal(err)
			}
			h, err := change.ContentHash(rec)
			if err != nil {
				t.Fatal(err)
			}
			got := change.ChangedFields(base, rec)
			if !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("changed fields %v, want %v", got, tt.want)
			}
			if same := h == h0; same != (tt.want == nil) {
				t.Errorf("hash equal = %v, want %v", same, tt.want == nil)
			}
		})
	}
	// A person id is content: the same employment under another person hashes apart.
	other, err := change.NewEmployment("43", func() personio.Employment { e := fullEmployment(); e.Person = personio.Ref{}; return e }())
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := change.ContentHash(other); h == h0 {
		t.Error("person_id does not reach the content hash")
	}
	// ContentHash leaves the record as it was.
	if base.UpdatedAt == nil {
		t.Error("ContentHash cleared the record's updated_at")
	}
}
