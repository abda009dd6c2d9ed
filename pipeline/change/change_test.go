package change_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

func ptr[T any](v T) *T { return &v }

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// fullPerson has every field of the schema set.
func fullPerson() *change.Person {
	return &change.Person{
		ID: "42", Email: ptr("ada@example.com"), FirstName: ptr("Ada"), LastName: ptr("Lovelace"),
		PreferredName: ptr("Ada L."), Gender: ptr("FEMALE"), Status: ptr("ACTIVE"),
		ProfilePictureURL: ptr("https://example.com/p.png"),
		CreatedAt:         ptr(time.UnixMilli(1_600_000_000_123).UTC()),
		UpdatedAt:         ptr(time.UnixMilli(1_700_000_000_456).UTC()),
		CustomAttributes: []change.CustomAttribute{
			{ID: "dynamic_1", GlobalID: ptr("g1"), Label: ptr("Shoe size"), Type: ptr("INT"), ValueJSON: ptr("44")},
			{ID: "dynamic_2", Type: ptr("STRING_LIST"), ValueJSON: ptr(`["a","b"]`)},
		},
		Employments: []change.Employment{{
			ID: "7", Status: ptr("ACTIVE"), Type: ptr("INTERNAL"), PositionTitle: ptr("Engineer"),
			StartDate: ptr(date("2020-01-01")), EndDate: ptr(date("2030-12-31")),
			ProbationEndDate: ptr(date("2020-06-30")), ContractEndDate: ptr(date("2030-12-31")),
			WeeklyWorkingHours: change.Dec(rat("37.5")), FullTimeWeeklyWorkingHours: change.Dec(rat("40")),
			SupervisorID: ptr("1"), OfficeID: ptr("2"), LegalEntityID: ptr("3"), SubCompanyID: ptr("4"), JobID: ptr("5"),
			OrgUnits:    []change.OrgUnit{{ID: "10", Type: ptr("department")}, {ID: "11", Type: ptr("team")}},
			CostCenters: []change.CostCenter{{ID: "cc1", Weight: change.Dec(rat("0.25"))}, {ID: "cc2", Weight: change.Dec(rat("-0.75"))}},
			Termination: &change.Termination{
				TerminationDate: ptr(date("2030-12-31")), LastWorkingDay: ptr(date("2030-12-20")),
				TerminatedAt: ptr(time.UnixMilli(1_800_000_000_000).UTC()), Type: ptr("RESIGNATION"), Reason: ptr("moved"),
			},
			CreatedAt: ptr(time.UnixMilli(1_600_000_000_000).UTC()), UpdatedAt: ptr(time.UnixMilli(1_700_000_000_000).UTC()),
		}},
	}
}

func fullCompensation() *change.Compensation {
	return &change.Compensation{
		ID: "c-1", PersonioID: ptr("c-1"), PersonID: "42", LegalEntityID: ptr("3"),
		TypeID: ptr("t1"), TypeName: ptr("Base salary"), TypeCategory: ptr("FIXED"),
		Amount: rat("-123456789012345.6789"), Currency: "EUR", EffectiveFrom: date("2026-11-01"),
		Interval: ptr("monthly"), WeeklyWorkingHours: change.Dec(rat("40")), FullTimeWeeklyWorkingHours: change.Dec(rat("40.0001")),
	}
}

func source() change.Source {
	return change.Source{Tenant: "acme", System: change.System, SyncID: "s1", SyncKind: string(change.Full),
		ExtractedAt: time.UnixMilli(1_764_000_000_000).UTC(), EntityUpdatedAt: ptr(time.UnixMilli(1_700_000_000_456).UTC())}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEnvelopeRoundTrip encodes a full example of each envelope with its schema and decodes it
// back: every field must survive exactly.
func TestEnvelopeRoundTrip(t *testing.T) {
	p, p2 := fullPerson(), fullPerson()
	p2.Email = ptr("ada@new.example.com")
	c := fullCompensation()
	tests := []struct {
		entity change.Entity
		ev     change.Event
		into   func() any
	}{
		{change.Persons, change.Event{Entity: change.Persons, Op: change.Update, Before: p, After: p2,
			ChangedFields: []string{"email"}, Version: 3, EventID: "abc", TS: time.UnixMilli(1_764_000_000_999).UTC(), Source: source()},
			func() any { return new(change.PersonChange) }},
		{change.Compensations, change.Event{Entity: change.Compensations, Op: change.Create, After: c,
			Version: 1, EventID: "def", TS: time.UnixMilli(1_764_000_000_999).UTC(), Source: source()},
			func() any { return new(change.CompensationChange) }},
		{change.Compensations, change.Event{Entity: change.Compensations, Op: change.Delete, Before: c,
			Version: 2, EventID: "ghi", TS: time.UnixMilli(1_764_000_000_999).UTC(), Source: source()},
			func() any { return new(change.CompensationChange) }},
	}
	for _, tt := range tests {
		t.Run(string(tt.entity)+"/"+string(tt.ev.Op), func(t *testing.T) {
			s, err := schemas.Parse(string(tt.entity))
			if err != nil {
				t.Fatal(err)
			}
			env, err := tt.ev.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			b, err := avro.Marshal(s, env)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.into()
			if err := avro.Unmarshal(s, b, got); err != nil {
				t.Fatal(err)
			}
			if w, g := mustJSON(t, env), mustJSON(t, got); w != g {
				t.Errorf("round trip changed the envelope:\nwant %s\n got %s", w, g)
			}
			back, err := change.FromEnvelope(got)
			if err != nil {
				t.Fatal(err)
			}
			if back.Key != "acme:"+map[bool]string{true: "42", false: "c-1"}[tt.entity == change.Persons] {
				t.Errorf("FromEnvelope key = %q", back.Key)
			}
			if tt.ev.After != nil {
				want, _ := change.ContentHash(tt.ev.After)
				if back.Hash != want {
					t.Error("content hash changed through Avro")
				}
			} else if !back.Hash.IsZero() {
				t.Error("delete has a content hash")
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []change.Record{fullPerson(), fullCompensation(), &change.Person{ID: "1", CustomAttributes: []change.CustomAttribute{}, Employments: []change.Employment{}}} {
		b, err := change.MarshalRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := change.UnmarshalRecord(r.Entity(), b)
		if err != nil {
			t.Fatal(err)
		}
		if w, g := mustJSON(t, r), mustJSON(t, got); w != g {
			t.Errorf("record round trip:\nwant %s\n got %s", w, g)
		}
	}
}

func TestMarshalRecordRequiresAmount(t *testing.T) {
	c := fullCompensation()
	c.Amount = nil
	if _, err := change.MarshalRecord(c); err == nil {
		t.Error("a compensation without amount was encoded")
	}
	if _, err := change.ContentHash(c); err == nil {
		t.Error("a compensation without amount was hashed")
	}
}

func TestEnvelopeRejectsWrongRecord(t *testing.T) {
	ev := change.Event{Entity: change.Persons, After: fullCompensation()}
	if _, err := ev.Envelope(); err == nil {
		t.Error("persons event with a compensation record was accepted")
	}
	if _, err := (change.Event{Entity: "nope"}).Envelope(); err == nil {
		t.Error("unknown entity was accepted")
	}
}

func TestKey(t *testing.T) {
	k := change.Key("acme", "a|b|2026-01-01|")
	if k != "acme:a|b|2026-01-01|" {
		t.Fatalf("Key = %q", k)
	}
	tenant, id, ok := change.SplitKey(k)
	if !ok || tenant != "acme" || id != "a|b|2026-01-01|" {
		t.Errorf("SplitKey = %q %q %v", tenant, id, ok)
	}
}

func TestEventID(t *testing.T) {
	h1, _ := change.ContentHash(fullPerson())
	base := change.EventID("acme:42", change.Persons, 1, change.Create, h1)
	if len(base) != 32 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("EventID = %q, want 32 lower-case hex", base)
	}
	if again := change.EventID("acme:42", change.Persons, 1, change.Create, h1); again != base {
		t.Error("EventID is not deterministic")
	}
	others := []string{
		change.EventID("acme:43", change.Persons, 1, change.Create, h1),
		change.EventID("acme:42", change.Compensations, 1, change.Create, h1),
		change.EventID("acme:42", change.Persons, 2, change.Create, h1),
		change.EventID("acme:42", change.Persons, 1, change.Read, h1),
		change.EventID("acme:42", change.Persons, 1, change.Create, change.Hash{}),
		change.EventID("acme:4", change.Persons, 1, change.Create, h1),
	}
	for i, o := range others {
		if o == base {
			t.Errorf("variant %d has the same id", i)
		}
	}
}

func TestContentHash(t *testing.T) {
	base, err := change.ContentHash(fullPerson())
	if err != nil {
		t.Fatal(err)
	}
	moved := fullPerson()
	moved.UpdatedAt = ptr(moved.UpdatedAt.Add(time.Hour))
	moved.Employments[0].UpdatedAt = nil
	if h, _ := change.ContentHash(moved); h != base {
		t.Error("updated_at alone changed the content hash")
	}
	if moved.Employments[0].UpdatedAt != nil || fullPerson().Employments[0].UpdatedAt == nil {
		t.Fatal("test set-up")
	}
	orig := fullPerson()
	_, _ = change.ContentHash(orig)
	if orig.UpdatedAt == nil || orig.Employments[0].UpdatedAt == nil {
		t.Error("ContentHash modified its argument")
	}
	edited := fullPerson()
	*edited.Employments[0].CostCenters[0].Weight = rat("0.2501")
	if h, _ := change.ContentHash(edited); h == base {
		t.Error("a weight change kept the content hash")
	}
	if _, err := change.ContentHash(nil); err == nil {
		t.Error("ContentHash(nil) succeeded")
	}
}

func TestChangedFields(t *testing.T) {
	tests := []struct {
		name string
		edit func(p *change.Person)
		want []string
	}{
		{"nothing", func(*change.Person) {}, nil},
		{"updated_at only", func(p *change.Person) { p.UpdatedAt = nil; p.Employments[0].UpdatedAt = nil }, nil},
		{"email", func(p *change.Person) { p.Email = ptr("x@example.com") }, []string{"email"}},
		{"email removed", func(p *change.Person) { p.Email = nil }, []string{"email"}},
		{"same instant other zone", func(p *change.Person) { p.CreatedAt = ptr(p.CreatedAt.In(time.FixedZone("x", 3600))) }, nil},
		{"attribute value", func(p *change.Person) { p.CustomAttributes[1].ValueJSON = ptr(`["a"]`) }, []string{"custom_attributes.dynamic_2"}},
		{"attribute added and removed", func(p *change.Person) {
			p.CustomAttributes = []change.CustomAttribute{p.CustomAttributes[1], {ID: "dynamic_3"}}
		}, []string{"custom_attributes.dynamic_1", "custom_attributes.dynamic_3"}},
		{"employment status and hours", func(p *change.Person) {
			p.Employments[0].Status = ptr("INACTIVE")
			p.Employments[0].WeeklyWorkingHours = change.Dec(rat("38"))
		}, []string{"employments.7.status", "employments.7.weekly_working_hours"}},
		{"equal decimal other form", func(p *change.Person) { p.Employments[0].WeeklyWorkingHours = change.Dec(rat("37.5000")) }, nil},
		{"org unit and cost center", func(p *change.Person) {
			p.Employments[0].OrgUnits[0].Type = ptr("team")
			p.Employments[0].CostCenters = p.Employments[0].CostCenters[:1]
		}, []string{"employments.7.cost_centers.cc2", "employments.7.org_units.10.type"}},
		{"termination field", func(p *change.Person) { p.Employments[0].Termination.Reason = nil }, []string{"employments.7.termination.reason"}},
		{"termination removed", func(p *change.Person) { p.Employments[0].Termination = nil }, []string{"employments.7.termination"}},
		{"employment added", func(p *change.Person) {
			p.Employments = append(p.Employments, change.Employment{ID: "8"})
		}, []string{"employments.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := fullPerson()
			tt.edit(after)
			got := change.ChangedFields(fullPerson(), after)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ChangedFields = %q, want %q", got, tt.want)
			}
			hb, _ := change.ContentHash(fullPerson())
			ha, _ := change.ContentHash(after)
			if (hb == ha) != (len(tt.want) == 0) {
				t.Errorf("content hash equal = %v, but changed fields = %q", hb == ha, got)
			}
		})
	}
	c := fullCompensation()
	c2 := fullCompensation()
	c2.Amount = rat("1")
	c2.Interval = nil
	if got := change.ChangedFields(c, c2); !slices.Equal(got, []string{"amount", "interval"}) {
		t.Errorf("compensation ChangedFields = %q", got)
	}
	if got := change.ChangedFields(nil, c2); len(got) != 0 {
		t.Errorf("ChangedFields(nil, c) = %q", got)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in         string
		prec, sc   int
		want, fail string
	}{
		{"1234.5", 19, 4, "2469/2", ""},
		{"-0.0001", 19, 4, "-1/10000", ""},
		{"1.23450", 19, 4, "2469/2000", ""},
		{"1e3", 19, 4, "1000", ""},
		{"1.5E-2", 19, 4, "3/200", ""},
		{"999999999999999.9999", 19, 4, "9999999999999999999/10000", ""},
		{"0.12345", 19, 4, "", "more than 4 decimal places"},
		{"1000000000000000", 19, 4, "", "more than 19 digits"},
		{"123456.0001", 9, 4, "", "more than 9 digits"},
		{"12345.0001", 9, 4, "123450001/10000", ""},
		{"1e-5", 19, 4, "", "more than 4 decimal places"},
		{"1e999999999", 19, 4, "", "exponent out of range"},
		{"1/3", 19, 4, "", "not a decimal number"},
		{"0x10", 19, 4, "", "not a decimal number"},
		{"", 19, 4, "", "not a decimal number"},
		{"NaN", 19, 4, "", "not a decimal number"},
	}
	for _, tt := range tests {
		r, err := change.ParseDecimal(tt.in, tt.prec, tt.sc)
		switch {
		case tt.fail != "":
			if err == nil || err.Error() != tt.fail {
				t.Errorf("ParseDecimal(%q) error = %v, want %q", tt.in, err, tt.fail)
			}
		case err != nil:
			t.Errorf("ParseDecimal(%q): %v", tt.in, err)
		case r.RatString() != tt.want:
			t.Errorf("ParseDecimal(%q) = %s, want %s", tt.in, r.RatString(), tt.want)
		}
	}
}

func decodePerson(t *testing.T, s string) personio.Person {
	t.Helper()
	var p personio.Person
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewPerson(t *testing.T) {
	p := decodePerson(t, `{
		"id": " 42 ", "email": " Ada@Example.COM ", "first_name": "  Ada ", "last_name": "",
		"status": "ACTIVE", "profile_picture": {"url": "https://x/p.png"},
		"created_at": "2020-01-01T10:00:00.123456+02:00", "updated_at": "2024-05-01T00:00:00Z",
		"custom_attributes": [
			{"id": "z", "type": "string", "value": "a <b> & c"},
			{"id": "obj", "type": "OBJECT", "value": {"b": 1.50, "a": [true, null, "x"]}},
			{"id": "n", "type": "DOUBLE", "value": 1.10},
			{"id": "d", "type": "DATE", "value": "2024-01-01"},
			{"id": "nil", "type": "STRING", "value": null},
			{"id": "n", "type": "DOUBLE", "value": 1.10}
		],
		"employments": [{"id": "9"}, {"id": "3"}]
	}`)
	emps := []personio.Employment{
		{ID: "9", EmploymentStartDate: "2021-03-01T00:00:00+01:00", WeeklyWorkingHours: ptr(personio.Decimal("37.50")),
			OrgUnits:    []personio.OrgUnit{{ID: "2", Type: "team"}, {ID: "1", Type: "department"}},
			CostCenters: []personio.CostCenter{{ID: "b", Weight: ptr(personio.Decimal("50"))}, {ID: "a"}},
			Termination: &personio.Termination{}},
		{ID: "3", Position: &personio.Position{Title: " Boss "}, Termination: &personio.Termination{Reason: "x"}},
	}
	got, err := change.NewPerson(p, emps)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"id trimmed", got.ID == "42"},
		{"email lower-cased", *got.Email == "ada@example.com"},
		{"first name trimmed", *got.FirstName == "Ada"},
		{"empty last name is null", got.LastName == nil},
		{"created_at UTC millis", got.CreatedAt.Equal(time.Date(2020, 1, 1, 8, 0, 0, 123e6, time.UTC)) && got.CreatedAt.Location() == time.UTC},
		{"picture", *got.ProfilePictureURL == "https://x/p.png"},
		{"attributes sorted and deduplicated", ids(got.CustomAttributes) == "d,n,nil,obj,z"},
		{"string kept, no HTML escaping", *got.CustomAttributes[4].ValueJSON == `"a <b> & c"`},
		{"object canonical", *got.CustomAttributes[3].ValueJSON == `{"a":[true,null,"x"],"b":1.50}`},
		{"number exact", *got.CustomAttributes[1].ValueJSON == `1.10`},
		{"null value", got.CustomAttributes[2].ValueJSON == nil},
		{"type upper-cased", *got.CustomAttributes[4].Type == "STRING"},
		{"employments sorted", got.Employments[0].ID == "3" && got.Employments[1].ID == "9"},
		{"position trimmed", *got.Employments[0].PositionTitle == "Boss"},
		{"date part of timestamp", got.Employments[1].StartDate.Equal(date("2021-03-01"))},
		{"hours exact", (*got.Employments[1].WeeklyWorkingHours).RatString() == "75/2"},
		{"org units sorted", got.Employments[1].OrgUnits[0].ID == "1"},
		{"cost centers sorted", got.Employments[1].CostCenters[0].ID == "a" && got.Employments[1].CostCenters[0].Weight == nil},
		{"empty termination is null", got.Employments[1].Termination == nil},
		{"termination kept", got.Employments[0].Termination != nil && *got.Employments[0].Termination.Reason == "x"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: got %s", c.name, mustJSON(t, got))
		}
	}
	// Without fetched employments only the ids remain.
	refs, err := change.NewPerson(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs.Employments) != 2 || refs.Employments[0].ID != "3" || refs.Employments[0].Status != nil {
		t.Errorf("employment refs = %s", mustJSON(t, refs.Employments))
	}
}

func ids(as []change.CustomAttribute) string {
	var s []string
	for _, a := range as {
		s = append(s, a.ID)
	}
	return strings.Join(s, ",")
}

func TestNewPersonErrors(t *testing.T) {
	secret := "37.12345"
	tests := []struct {
		name  string
		p     personio.Person
		emps  []personio.Employment
		field string
	}{
		{"missing id", personio.Person{Email: "a@b"}, nil, "id"},
		{"bad timestamp", personio.Person{ID: "1", CreatedAt: "yesterday"}, nil, "created_at"},
		{"hours too precise", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", WeeklyWorkingHours: ptr(personio.Decimal(secret))}}, "employments.7.weekly_working_hours"},
		{"bad date", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", EmploymentStartDate: "2024-13-01"}}, "employments.7.start_date"},
		{"conflicting attributes", personio.Person{ID: "1", CustomAttributes: []personio.CustomAttribute{
			{ID: "a", Value: json.RawMessage(`1`)}, {ID: "a", Value: json.RawMessage(`2`)}}}, nil, "custom_attributes"},
		{"attribute without id", personio.Person{ID: "1", CustomAttributes: []personio.CustomAttribute{{Value: json.RawMessage(`1`)}}}, nil, "custom_attributes"},
		{"employment without id", personio.Person{ID: "1"}, []personio.Employment{{Status: "ACTIVE"}}, "employments"},
		{"org unit without id", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", OrgUnits: []personio.OrgUnit{{Type: "team"}}}}, "employments.7.org_units"},
		{"conflicting org units", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", OrgUnits: []personio.OrgUnit{
			{ID: "u", Type: "team"}, {ID: "u", Type: "department"}}}}, "employments.7.org_units"},
		{"cost center without id", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", CostCenters: []personio.CostCenter{{}}}}, "employments.7.cost_centers"},
		{"cost center weight too precise", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", CostCenters: []personio.CostCenter{
			{ID: "cc", Weight: ptr(personio.Decimal(secret))}}}}, "employments.7.cost_centers.cc.weight"},
		{"bad termination date", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", Termination: &personio.Termination{TerminationDate: "31.12.2026"}}}, "employments.7.termination.termination_date"},
		{"second employment", personio.Person{ID: "1"}, []personio.Employment{{ID: "7"}, {ID: "8", UpdatedAt: "later"}}, "employments.8.updated_at"},
		{"conflicting employments", personio.Person{ID: "1"}, []personio.Employment{{ID: "7", Status: "ACTIVE"}, {ID: "7", Status: "INACTIVE"}}, "employments"},
		{"attribute after employments", personio.Person{ID: "1", CustomAttributes: []personio.CustomAttribute{{Value: json.RawMessage(`1`)}}},
			[]personio.Employment{{ID: "7"}}, "custom_attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := change.NewPerson(tt.p, tt.emps)
			var fe *change.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("error = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field || fe.Entity != change.Persons {
				t.Errorf("FieldError = %+v, want field %s", fe, tt.field)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the value", err)
			}
		})
	}
}

func TestNewCompensation(t *testing.T) {
	var c personio.Compensation
	if err := json.Unmarshal([]byte(`{"person":{"id":"42"},"type":{"id":"t1","name":" Salary ","category":"FIXED"},
		"amount":{"value":"5000.10","currency":"eur"},"effective_from":"2026-11-01","interval":"monthly",
		"weekly_working_hours":40}`), &c); err != nil {
		t.Fatal(err)
	}
	got, err := change.NewCompensation(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "42|t1|2026-11-01|monthly" || got.PersonioID != nil {
		t.Errorf("composite id = %q (personio id %v)", got.ID, got.PersonioID)
	}
	if got.Amount.RatString() != "50001/10" || got.Currency != "EUR" || *got.TypeName != "Salary" {
		t.Errorf("compensation = %s", mustJSON(t, got))
	}
	c.ID = "p-9"
	if got, _ := change.NewCompensation(c); got.ID != "p-9" || *got.PersonioID != "p-9" {
		t.Errorf("with Personio id: %s", mustJSON(t, got))
	}
	c.ID, c.Interval, c.Type.ID = "", "", ""
	if got, _ := change.NewCompensation(c); got.ID != "42||2026-11-01|" {
		t.Errorf("composite id with absent parts = %q", got.ID)
	}

	bad := []struct {
		name  string
		edit  func(c *personio.Compensation)
		field string
	}{
		{"amount scale", func(c *personio.Compensation) { c.Amount.Value = "5000.12345" }, "amount"},
		{"amount precision", func(c *personio.Compensation) { c.Amount.Value = "10000000000000000" }, "amount"},
		{"amount missing", func(c *personio.Compensation) { c.Amount.Value = "" }, "amount"},
		{"currency missing", func(c *personio.Compensation) { c.Amount.Currency = " " }, "currency"},
		{"person missing", func(c *personio.Compensation) { c.Person.ID = "" }, "person_id"},
		{"effective_from missing", func(c *personio.Compensation) { c.EffectiveFrom = "" }, "effective_from"},
		{"effective_from bad", func(c *personio.Compensation) { c.EffectiveFrom = "01.11.2026" }, "effective_from"},
		{"hours scale", func(c *personio.Compensation) { c.WeeklyWorkingHours = ptr(personio.Decimal("1.00001")) }, "weekly_working_hours"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cc := c
			tt.edit(&cc)
			_, err := change.NewCompensation(cc)
			var fe *change.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Entity != change.Compensations {
				t.Fatalf("error = %v, want a FieldError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "5000") {
				t.Errorf("error %q leaks the amount", err)
			}
		})
	}
}

// FuzzDecodePerson feeds arbitrary JSON through the Personio decoder and the normal form:
// nothing may panic, and an accepted person must survive Avro with the same content hash.
func FuzzDecodePerson(f *testing.F) {
	f.Add([]byte(`{"id":"1","email":"A@B.C","custom_attributes":[{"id":"x","type":"int","value":3}],"employments":[{"id":"2"}]}`))
	f.Add([]byte(`{"id":"1","created_at":"2024-01-01T00:00:00.999999Z","custom_attributes":[{"id":"o","value":{"b":[1,2],"a":"<"}}]}`))
	f.Add([]byte(`{"id":"","custom_attributes":[{"id":"x"},{"id":"x","value":1e400}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p personio.Person
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		n, err := change.NewPerson(p, nil)
		if err != nil {
			if !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		h1, err := change.ContentHash(n)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := change.MarshalRecord(n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := change.UnmarshalRecord(change.Persons, enc)
		if err != nil {
			t.Fatal(err)
		}
		if h2, _ := change.ContentHash(back); h1 != h2 {
			t.Fatal("content hash changed through Avro")
		}
		if again, err := change.NewPerson(p, nil); err != nil || len(change.ChangedFields(n, again)) != 0 {
			t.Fatal("normal form is not deterministic")
		}
	})
}

func BenchmarkNewPerson(b *testing.B) {
	var p personio.Person
	if err := json.Unmarshal([]byte(`{"id":"42","email":"Ada@Example.com","first_name":"Ada","last_name":"Lovelace",
		"status":"ACTIVE","created_at":"2020-01-01T10:00:00Z","updated_at":"2024-05-01T00:00:00Z",
		"custom_attributes":[{"id":"b","type":"STRING","value":"x"},{"id":"a","type":"INT","value":3},
		{"id":"c","type":"STRING_LIST","value":["a","b"]}]}`), &p); err != nil {
		b.Fatal(err)
	}
	emps := []personio.Employment{{ID: "7", Status: "ACTIVE", EmploymentStartDate: "2020-01-01",
		WeeklyWorkingHours: ptr(personio.Decimal("40")), OrgUnits: []personio.OrgUnit{{ID: "1", Type: "team"}}}}
	for b.Loop() {
		if _, err := change.NewPerson(p, emps); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContentHash(b *testing.B) {
	p := fullPerson()
	for b.Loop() {
		if _, err := change.ContentHash(p); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeCompensation: no panic; an accepted amount fits the schema exactly (scale 4,
// 19 digits) and survives Avro unchanged.
func FuzzDecodeCompensation(f *testing.F) {
	f.Add([]byte(`{"person":{"id":"1"},"amount":{"value":"5000.10","currency":"EUR"},"effective_from":"2026-11-01"}`))
	f.Add([]byte(`{"person":{"id":"1"},"amount":{"value":1e-4,"currency":"EUR"},"effective_from":"2026-11-01T00:00:00Z","weekly_working_hours":"40.5"}`))
	f.Add([]byte(`{"person":{"id":"1"},"amount":{"value":"-999999999999999.9999","currency":"x"},"effective_from":"2026-11-01"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c personio.Compensation
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		n, err := change.NewCompensation(c)
		if err != nil {
			if !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		if _, err := change.ParseDecimal(n.Amount.FloatString(change.AmountScale), change.AmountPrecision, change.AmountScale); err != nil {
			t.Fatalf("accepted amount does not fit the schema: %v", err)
		}
		enc, err := change.MarshalRecord(n)
		if err != nil {
			t.Fatal(err)
		}
		back, err := change.UnmarshalRecord(change.Compensations, enc)
		if err != nil {
			t.Fatal(err)
		}
		if back.(*change.Compensation).Amount.Cmp(n.Amount) != 0 {
			t.Fatal("amount changed through Avro")
		}
		if h1, _ := change.ContentHash(n); h1 != mustHash(t, back) {
			t.Fatal("content hash changed through Avro")
		}
	})
}

func mustHash(t *testing.T, r change.Record) change.Hash {
	h, err := change.ContentHash(r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
