package change_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// assertEncodeMatches checks Normalizer.Encode against NewPerson on one person: the same error,
// or a record with the same id, updated_at, encoding and content hash. It reports whether
// Encode took the fast path.
func assertEncodeMatches(t testing.TB, norm *change.Normalizer, p personio.Person, emps []personio.Employment) bool {
	t.Helper()
	want, wantErr := change.NewPerson(p, emps)
	got, err := norm.Encode(p, emps)
	if wantErr != nil || err != nil {
		if wantErr == nil || err == nil || err.Error() != wantErr.Error() || !errors.Is(err, change.ErrInvalid) {
			t.Fatalf("Encode error %v, NewPerson error %v", err, wantErr)
		}
		return false
	}
	wantData, wantHash, err := change.AppendRecordHash(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	gotData, gotHash, err := change.AppendRecordHash(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotData, wantData) {
		t.Fatalf("person %q: Encode's encoding differs from NewPerson's\n got % x\nwant % x", p.ID, gotData, wantData)
	}
	if gotHash != wantHash {
		t.Fatalf("person %q: Encode's hash %s, NewPerson's %s", p.ID, gotHash, wantHash)
	}
	if h, _ := change.ContentHash(got); h != wantHash {
		t.Fatalf("person %q: ContentHash of the encoded record differs", p.ID)
	}
	if got.RecordID() != want.RecordID() || !reflect.DeepEqual(got.EntityUpdatedAt(), want.EntityUpdatedAt()) {
		t.Fatalf("person %q: id %q updated_at %v, want %q %v", p.ID, got.RecordID(), got.EntityUpdatedAt(), want.RecordID(), want.EntityUpdatedAt())
	}
	enc, fast := got.(*change.Encoded)
	if fast {
		back, err := enc.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if fields := change.ChangedFields(want, back); len(fields) != 0 {
			t.Fatalf("person %q: decoded record differs in %q", p.ID, fields)
		}
		if fields := change.ChangedFields(want, enc); len(fields) != 0 {
			t.Fatalf("person %q: ChangedFields sees %q in the encoded record", p.ID, fields)
		}
	}
	return fast
}

// TestEncodeMatchesNewPerson holds the fast path to the general one over whole simulated
// companies (employment details listed or not) and over persons that reach its every
// fallback.
func TestEncodeMatchesNewPerson(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		truth := personiotest.NewTruth(t, personiotest.Options{Persons: 400, Seed: seed})
		var norm change.Normalizer
		fast, total := 0, 0
		for _, details := range []bool{true, false} {
			for _, p := range truth.Persons {
				var emps []personio.Employment
				if details {
					emps = truth.Employments[p.ID]
					if emps == nil {
						emps = []personio.Employment{}
					}
				}
				if assertEncodeMatches(t, &norm, p, emps) {
					fast++
				}
				total++
			}
		}
		if fast < total*9/10 {
			t.Errorf("seed %d: the fast path took %d of %d persons, want nearly all", seed, fast, total)
		}
	}

	hours := func(s string) *personio.Decimal { d := personio.Decimal(s); return &d }
	base := func() personio.Person {
		return personio.Person{ID: " 7 ", Email: " Ada@Example.COM ", FirstName: "Ada", Status: "ACTIVE",
			CreatedAt: "2020-01-01T10:00:00.123456Z", UpdatedAt: "2024-05-01T00:00:00+02:00",
			CustomAttributes: []personio.CustomAttribute{
				{ID: "a", Type: "INT", Value: json.RawMessage(`3`)},
				{ID: "b", Type: "STRING", Label: " Shoe ", Value: json.RawMessage(` "x" `)},
				{ID: "c", Type: "LIST", Value: json.RawMessage(`["a","b"]`)},
				{ID: "d", Value: json.RawMessage(`null`)},
			}}
	}
	emp := func() personio.Employment {
		return personio.Employment{ID: "e1", Status: "ACTIVE", EmploymentStartDate: "2020-01-01",
			EmploymentEndDate: "2030-12-31T00:00:00Z", WeeklyWorkingHours: hours(" 38.50 "), FullTimeWeeklyWorkingHours: hours("-40"),
			Supervisor: &personio.Ref{ID: " 9 "}, Office: &personio.Ref{},
			OrgUnits:    []personio.OrgUnit{{ID: "u1", Type: "team"}, {ID: "u2"}},
			CostCenters: []personio.CostCenter{{ID: "c1", Weight: hours("0.25")}, {ID: "c2", Weight: hours("")}},
			Termination: &personio.Termination{TerminatedAt: "2030-12-01T12:00:00Z", Reason: " moved "},
			CreatedAt:   "2020-01-01T00:00:00Z", UpdatedAt: "2021-01-01T00:00:00Z"}
	}
	cases := []struct {
		name string
		fast bool
		mut  func(p *personio.Person, emps *[]personio.Employment)
	}{
		{"common", true, func(*personio.Person, *[]personio.Employment) {}},
		{"no employment details", true, func(p *personio.Person, e *[]personio.Employment) {
			*e = nil
			p.Employments = []personio.Ref{{ID: "e1"}, {ID: " "}, {ID: "e2"}}
		}},
		{"employment ids out of order", false, func(p *personio.Person, e *[]personio.Employment) {
			*e = nil
			p.Employments = []personio.Ref{{ID: "e2"}, {ID: "e1"}, {ID: "e1"}}
		}},
		{"blank termination", true, func(_ *personio.Person, e *[]personio.Employment) {
			(*e)[0].Termination = &personio.Termination{Type: "  "}
		}},
		{"attributes out of order", false, func(p *personio.Person, _ *[]personio.Employment) {
			p.CustomAttributes[0], p.CustomAttributes[1] = p.CustomAttributes[1], p.CustomAttributes[0]
		}},
		{"attribute twice", false, func(p *personio.Person, _ *[]personio.Employment) {
			p.CustomAttributes[1] = p.CustomAttributes[0]
		}},
		{"attribute without id", false, func(p *personio.Person, _ *[]personio.Employment) { p.CustomAttributes[0].ID = " " }},
		{"value not canonical", false, func(p *personio.Person, _ *[]personio.Employment) {
			p.CustomAttributes[2].Value = json.RawMessage(`{"b": 1, "a": 2}`)
		}},
		{"lower-case type", true, func(p *personio.Person, _ *[]personio.Employment) { p.CustomAttributes[0].Type = " int " }},
		{"non-ASCII type", false, func(p *personio.Person, _ *[]personio.Employment) { p.CustomAttributes[0].Type = "ïnt" }},
		{"non-ASCII e-mail", false, func(p *personio.Person, _ *[]personio.Employment) { p.Email = "ÄDA@example.com" }},
		{"updated at the zero instant, out of range", false, func(p *personio.Person, _ *[]personio.Employment) { p.UpdatedAt = "0001-01-01T00:00:00Z" }},
		{"updated at the epoch", true, func(p *personio.Person, _ *[]personio.Employment) { p.UpdatedAt = "1970-01-01T00:00:00Z" }},
		{"start date in year 0", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].EmploymentStartDate = "0000-01-01" }},
		{"open end 9999-12-31", true, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].ContractEndDate = "9999-12-31" }},
		{"created after 2200", false, func(p *personio.Person, _ *[]personio.Employment) { p.CreatedAt = "2201-01-01T00:00:00Z" }},
		{"no updated_at", true, func(p *personio.Person, _ *[]personio.Employment) { p.UpdatedAt = " " }},
		{"timestamp without zone", true, func(p *personio.Person, _ *[]personio.Employment) { p.CreatedAt = "2020-01-01 10:00:00" }},
		{"bad timestamp", false, func(p *personio.Person, _ *[]personio.Employment) { p.UpdatedAt = "yesterday" }},
		{"no id", false, func(p *personio.Person, _ *[]personio.Employment) { p.ID = "  " }},
		{"bad date", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].EmploymentStartDate = "2020-02-30" }},
		{"decimal with exponent", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].WeeklyWorkingHours = hours("4e1") }},
		{"decimal too precise", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].WeeklyWorkingHours = hours("38.12345") }},
		{"blank decimal", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].WeeklyWorkingHours = hours("  ") }},
		{"org units out of order", false, func(_ *personio.Person, e *[]personio.Employment) {
			u := (*e)[0].OrgUnits
			u[0], u[1] = u[1], u[0]
		}},
		{"cost center twice", false, func(_ *personio.Person, e *[]personio.Employment) {
			(*e)[0].CostCenters[1].ID = "c1"
		}},
		{"employments out of order", true, func(_ *personio.Person, e *[]personio.Employment) {
			second := emp()
			second.ID = "e0"
			*e = append(*e, second)
		}},
		{"employment id twice", false, func(_ *personio.Person, e *[]personio.Employment) {
			second := emp()
			second.ID = " e1"
			*e = append(*e, second)
		}},
		{"many employments", false, func(_ *personio.Person, e *[]personio.Employment) {
			for i := range 20 {
				more := emp()
				more.ID = "e" + string(rune('A'+i))
				*e = append(*e, more)
			}
		}},
		{"employment without id", false, func(_ *personio.Person, e *[]personio.Employment) { (*e)[0].ID = "" }},
		{"two employments", true, func(_ *personio.Person, e *[]personio.Employment) {
			second := emp()
			second.ID = "e2"
			second.UpdatedAt = ""
			*e = append(*e, second)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, emps := base(), []personio.Employment{emp()}
			c.mut(&p, &emps)
			var norm change.Normalizer
			if fast := assertEncodeMatches(t, &norm, p, emps); fast != c.fast {
				t.Errorf("fast path taken: %v, want %v", fast, c.fast)
			}
		})
	}
}

// FuzzEncodePerson holds Normalizer.Encode to NewPerson on arbitrary persons with
// employments, both decoded from JSON.
func FuzzEncodePerson(f *testing.F) {
	f.Add([]byte(`{"id":"1","email":"A@B.C","created_at":"2024-01-01T00:00:00.999999Z","custom_attributes":[{"id":"x","type":"INT","value":3},{"id":"y","value":"s"}],"employments":[{"id":"2"}]}`),
		[]byte(`[{"id":"2","weekly_working_hours":"40.5","employment_start_date":"2020-01-01","org_units":[{"id":"1","type":"team"}],"cost_centers":[{"id":"c","weight":"1"}],"termination":{"reason":"x"},"updated_at":"2021-01-01T00:00:00Z"}]`))
	f.Add([]byte(`{"id":" 3","custom_attributes":[{"id":"b"},{"id":"a","value":{"k":[1,2]}}]}`), []byte(`null`))
	f.Add([]byte(`{"id":"4","updated_at":"2024-01-01"}`), []byte(`[{"id":"b"},{"id":"a","full_time_weekly_working_hours":"-0.0001"}]`))
	// Out of range: year 0, before 1900 and 1970, after 2200.
	f.Add([]byte(`{"id":"5","created_at":"0000-01-01T00:00:00Z"}`), []byte(`[{"id":"a","employment_start_date":"0000-02-29"}]`))
	f.Add([]byte(`{"id":"6","updated_at":"1969-12-31T23:59:59.999Z"}`), []byte(`[{"id":"a","probation_end_date":"1899-12-31","termination":{"terminated_at":"2201-01-01T00:00:00Z"}}]`))
	f.Fuzz(func(t *testing.T, person, employments []byte) {
		var p personio.Person
		if err := json.Unmarshal(person, &p); err != nil {
			return
		}
		var emps []personio.Employment
		if err := json.Unmarshal(employments, &emps); err != nil {
			return
		}
		var norm change.Normalizer
		assertEncodeMatches(t, &norm, p, emps)
		assertEncodeMatches(t, &norm, p, emps) // again, with the buffers of the first call
	})
}

// TestNormalizerRelease: a released record's memory goes to the next one, and only the record
// the last Encode returned can be released.
func TestNormalizerRelease(t *testing.T) {
	truth := personiotest.NewTruth(t, personiotest.Options{Persons: 5, Seed: 4})
	ps := truth.Persons
	encode := func(norm *change.Normalizer, i int) *change.Encoded {
		t.Helper()
		r, err := norm.Encode(ps[i], truth.Employments[ps[i].ID])
		if err != nil {
			t.Fatal(err)
		}
		e, ok := r.(*change.Encoded)
		if !ok {
			t.Fatalf("person %d did not take the fast path", i)
		}
		return e
	}
	want := func(i int) []byte {
		p, err := change.NewPerson(ps[i], truth.Employments[ps[i].ID])
		if err != nil {
			t.Fatal(err)
		}
		b, err := change.MarshalRecord(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var norm change.Normalizer
	a := encode(&norm, 0)
	b := encode(&norm, 1)
	norm.Release(a) // not the last one: nothing happens
	if !bytes.Equal(a.Data(), want(0)) || a.RecordID() == "" {
		t.Fatal("releasing a record other than the last one changed it")
	}
	at := &b.Data()[0]
	norm.Release(b)
	if b.RecordID() != "" || b.Data() != nil {
		t.Error("a released record still reads as the person")
	}
	c := encode(&norm, 2)
	if &c.Data()[0] != at {
		t.Error("the next record did not reuse the released memory")
	}
	if !bytes.Equal(c.Data(), want(2)) || !bytes.Equal(a.Data(), want(0)) {
		t.Error("a record's encoding changed after a release")
	}
	if p, err := change.NewPerson(ps[3], nil); err == nil {
		norm.Release(p) // not an encoded record: nothing happens
		if p.RecordID() == "" {
			t.Error("Release changed a Person")
		}
	}
}
