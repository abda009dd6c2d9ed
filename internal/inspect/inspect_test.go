package inspect

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

func ptr[T any](v T) *T { return &v }

// encode registers the entity's schema with a fake registry and encodes v with it.
func encode(t *testing.T, reg *codec.Registry, entity string, v any) []byte {
	t.Helper()
	sch, err := schemas.Parse(entity)
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(t.Context(), codec.Subject("personio."+entity), sch)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.New(reg).Encode(id, sch, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRegistry(t *testing.T) *codec.Registry {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := codec.NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestDecodeRendersExactJSON(t *testing.T) {
	reg := newRegistry(t)
	ts := time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC)
	eff := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	comp := &change.CompensationChange{
		EventID: "e1", Op: "u", TSMillis: ts,
		Source: change.Source{Tenant: "acme", System: "personio", SyncID: "s1", SyncKind: "full", ExtractedAt: ts},
		After: &change.Compensation{ID: "c1", PersonID: "p1", TypeName: ptr("Base salary"),
			Amount: big.NewRat(104011, 20), Currency: "EUR", EffectiveFrom: eff, Interval: ptr("MONTHLY")},
		ChangedFields: []string{"amount"}, Version: 3,
	}
	data := encode(t, reg, "compensations", comp)
	id, obj, err := NewDecoder(reg).Decode(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		t.Error("schema id 0")
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"event_id":"e1","op":"u","ts_ms":"2026-11-27T10:00:00.123Z"`,
		`"amount":"5200.5500"`,
		`"effective_from":"2026-11-01"`,
		`"before":null`,
		`"changed_fields":["amount"]`,
		`"version":3`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
	m := Message{Topic: "personio.compensations", Key: "acme:c1", Value: obj}
	people := NewPeople()
	people.Observe(Message{Topic: "personio.persons", Key: "acme:p1", Value: Object{
		{Name: "op", Value: "c"}, {Name: "after", Value: Object{{Name: "id", Value: "p1"}, {Name: "first_name", Value: "Jane"}, {Name: "last_name", Value: "Doe"}}}}})
	line := Style{People: people}.Summary(m)
	for _, want := range []string{"u ", "compensations", "acme:c1", "v3", "Base salary", "5200.5500 EUR", "monthly", "from 2026-11-01", "for Jane Doe", "changed: amount"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary lacks %q: %s", want, line)
		}
	}
}

func TestStateFold(t *testing.T) {
	reg := newRegistry(t)
	person := func(op string, v int64, first string) Message {
		pc := &change.PersonChange{EventID: op, Op: op, TSMillis: time.Now(),
			Source: change.Source{Tenant: "acme", System: "personio"}, Version: v, ChangedFields: []string{}}
		p := &change.Person{ID: "p1", FirstName: ptr(first), LastName: ptr("Doe"), Status: ptr("ACTIVE")}
		if op == "d" {
			pc.Before = p
		} else {
			pc.After = p
		}
		_, obj, err := NewDecoder(reg).Decode(t.Context(), encode(t, reg, "persons", pc))
		if err != nil {
			t.Fatal(err)
		}
		return Message{Topic: "personio.persons", Key: "acme:p1", Value: obj}
	}
	s := NewState()
	s.Apply(person("c", 1, "Jane"))
	s.Apply(person("u", 2, "Janet"))
	ts := s.Topics()[0]
	if ts.Live() != 1 || ts.Current()[0].Value.String("after", "first_name") != "Janet" {
		t.Fatalf("after update: live %d", ts.Live())
	}
	if got := (Style{}).Summary(ts.Current()[0]); !strings.Contains(got, "Janet Doe · ACTIVE") {
		t.Errorf("summary %q", got)
	}
	s.Apply(person("d", 3, "Janet"))
	if ts.Live() != 0 || ts.Keys() != 1 {
		t.Errorf("after d: live %d keys %d", ts.Live(), ts.Keys())
	}
	s.Apply(Message{Topic: "personio.persons", Key: "acme:p1"}) // tombstone
	if ts.Keys() != 0 || ts.Tombstones != 1 || ts.Records != 4 || ts.ByOp["u"] != 1 {
		t.Errorf("after tombstone: %+v", ts)
	}
	if got := (Style{}).Summary(Message{Topic: "personio.persons", Key: "acme:p1"}); !strings.HasPrefix(got, "tombstone") {
		t.Errorf("tombstone summary %q", got)
	}
	if js, _ := json.Marshal(Message{Topic: "personio.persons", Key: "acme:p1"}); !strings.Contains(string(js), `"value":null`) {
		t.Errorf("a tombstone must encode its value as null: %s", js)
	}
}

func TestNullableUnionsRenderExactly(t *testing.T) {
	reg := newRegistry(t)
	hours := big.NewRat(385, 10)
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	pc := &change.PersonChange{EventID: "e", Op: "c", TSMillis: time.Now(), Source: change.Source{Tenant: "acme", System: "personio"},
		After:         &change.Person{ID: "p1", Employments: []change.Employment{{ID: "e1", StartDate: &start, WeeklyWorkingHours: &hours}}},
		ChangedFields: []string{}, Version: 1}
	_, obj, err := NewDecoder(reg).Decode(t.Context(), encode(t, reg, "persons", pc))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(obj)
	for _, want := range []string{`"start_date":"2024-05-01"`, `"weekly_working_hours":"38.5000"`, `"end_date":null`, `"email":null`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
}
