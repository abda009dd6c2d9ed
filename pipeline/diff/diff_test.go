package diff_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var clock = func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 123_456_789, time.UTC) }

// testCase is one testdata/*.json file: a state, a listing and how it was listed.
type testCase struct {
	Entity   change.Entity   `json:"entity"`
	Kind     change.SyncKind `json:"kind"`
	Tenant   string          `json:"tenant"`
	Complete bool            `json:"complete"`
	Windows  [][2]string     `json:"windows"` // compensation scope, YYYY-MM-DD pairs
	NoGuard  bool            `json:"no_guard"`
	State    []struct {
		Key     string          `json:"key"` // default <tenant>:<id>
		Version int64           `json:"version"`
		Record  json.RawMessage `json:"record"`  // Personio JSON
		Deleted bool            `json:"deleted"` // remembered delete: Version only
	} `json:"state"`
	Listing []json.RawMessage `json:"listing"` // Personio JSON
}

// goldenEvent is the JSON form of an event in the golden files.
type goldenEvent struct {
	Op            change.Op     `json:"op"`
	Key           string        `json:"key"`
	Version       int64         `json:"version"`
	EventID       string        `json:"event_id"`
	ChangedFields []string      `json:"changed_fields"`
	Source        change.Source `json:"source"`
	TS            time.Time     `json:"ts"`
	Before        any           `json:"before"`
	After         any           `json:"after"`
}

// decimalFields are rendered as fixed-point text in golden files.
var decimalFields = map[string]bool{"amount": true, "weekly_working_hours": true, "full_time_weekly_working_hours": true, "weight": true}

// readable returns the JSON value of a record with decimals as "123.4500" instead of big.Rat's
// "a/b" text.
func readable(t testing.TB, r change.Record) any {
	if r == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && decimalFields[k] {
					r, ok := new(big.Rat).SetString(s)
					if !ok {
						t.Fatalf("decimal %s = %q", k, s)
					}
					x[k] = r.FloatString(4)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return v
}

type golden struct {
	Events    []goldenEvent `json:"events"`
	Unchanged int           `json:"unchanged"`
	Conflicts int           `json:"conflicts"`
	Error     string        `json:"error,omitempty"`
}

// toRecord converts a listed entity into normal form: persons through norm when it is not
// nil, else through NewPerson.
func toRecord(t testing.TB, e change.Entity, raw json.RawMessage, norm *change.Normalizer) change.Record {
	t.Helper()
	switch e {
	case change.Persons:
		var p struct {
			personio.Person
			Employments []personio.Employment `json:"employments_full"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if norm != nil {
			r, err := norm.Person(p.Person, p.Employments)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r, err := change.NewPerson(p.Person, p.Employments)
		if err != nil {
			t.Fatal(err)
		}
		return r
	default:
		var c personio.Compensation
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		r, err := change.NewCompensation(c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func date(t testing.TB, s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases int
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		cases++
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		// Each case runs with the listing put into normal form by NewPerson and by one
		// Normalizer for the whole listing, as a sync does; the events must be the same.
		for _, encoded := range []bool{false, true} {
			var listWith *change.Normalizer
			sub := name
			if encoded {
				listWith, sub = new(change.Normalizer), name+"/normalizer"
			}
			t.Run(sub, func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var tc testCase
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&tc); err != nil {
					t.Fatal(err)
				}
				if tc.Tenant == "" {
					tc.Tenant = "acme"
				}
				st := state.NewMemory()
				for _, s := range tc.State {
					key := s.Key
					if s.Deleted {
						st.Delete(tc.Entity, key, s.Version)
						continue
					}
					rec := toRecord(t, tc.Entity, s.Record, nil)
					if key == "" {
						key = change.Key(tc.Tenant, rec.RecordID())
					}
					e, err := state.NewEntry(s.Version, rec)
					if err != nil {
						t.Fatal(err)
					}
					st.Put(tc.Entity, key, e)
				}
				var recs []change.Record
				for _, raw := range tc.Listing {
					recs = append(recs, toRecord(t, tc.Entity, raw, listWith))
				}
				opts := []diff.Option{diff.WithClock(clock)}
				if tc.NoGuard {
					opts = append(opts, diff.WithoutDeleteGuard())
				}
				d, err := diff.New(opts...)
				if err != nil {
					t.Fatal(err)
				}
				scope := diff.Scope{Complete: tc.Complete}
				if len(tc.Windows) > 0 {
					var ws []diff.Window
					for _, w := range tc.Windows {
						ws = append(ws, diff.Window{Start: date(t, w[0]), End: date(t, w[1])})
					}
					scope.Contains = diff.EffectiveIn(ws...)
				}
				src := change.Source{Tenant: tc.Tenant, SyncID: "sync-1", SyncKind: string(tc.Kind), ExtractedAt: clock().Add(-time.Minute)}
				res, err := d.Diff(st, tc.Entity, src, recs, scope)
				got := golden{Events: []goldenEvent{}, Unchanged: res.Unchanged, Conflicts: res.Conflicts}
				if err != nil {
					got.Error = err.Error()
				}
				for _, ev := range res.Events {
					got.Events = append(got.Events, goldenEvent{Op: ev.Op, Key: ev.Key, Version: ev.Version, EventID: ev.EventID,
						ChangedFields: ev.ChangedFields, Source: ev.Source, TS: ev.TS, Before: readable(t, ev.Before), After: readable(t, ev.After)})
				}
				out, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, '\n')
				path := filepath.Join("testdata", name+".golden.json")
				if *update && !encoded {
					if err := os.WriteFile(path, out, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(out, want) {
					t.Errorf("events differ from %s (go test -update rewrites it):\n%s", path, out)
				}

				// Whatever the case, applying the events and diffing again yields nothing.
				if err == nil && got.Error == "" && tc.Kind != change.Resnapshot {
					if err := state.Apply(st, res.Events); err != nil {
						t.Fatal(err)
					}
					again, err := d.Diff(st, tc.Entity, src, recs, scope)
					if err != nil || len(again.Events) != 0 {
						t.Errorf("second diff after apply: %d events, err %v", len(again.Events), err)
					}
				}
			})
		}
	}
	if cases == 0 {
		t.Fatal("no test cases in testdata")
	}
}

func TestNewOptions(t *testing.T) {
	bad := []diff.Option{diff.WithDeleteGuard(0, 10), diff.WithDeleteGuard(1.5, 10), diff.WithDeleteGuard(0.2, -1), diff.WithClock(nil)}
	for i, o := range bad {
		if _, err := diff.New(o); err == nil {
			t.Errorf("option %d accepted", i)
		}
	}
	d, err := diff.New()
	if err != nil {
		t.Fatal(err)
	}
	st := state.NewMemory()
	for _, src := range []change.Source{
		{Tenant: "", SyncKind: "full"}, {Tenant: "a:b", SyncKind: "full"}, {Tenant: "acme", SyncKind: "weekly"},
	} {
		if _, err := d.Begin(st, change.Persons, src); err == nil {
			t.Errorf("Begin accepted source %+v", src)
		}
	}
	if _, err := d.Begin(st, "absences", change.Source{Tenant: "acme", SyncKind: "full"}); err == nil {
		t.Error("Begin accepted an unknown entity")
	}
	run, err := d.Begin(st, change.Persons, change.Source{Tenant: "acme", SyncKind: "full"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Add(&change.Compensation{ID: "1"}); err == nil {
		t.Error("persons run accepted a compensation")
	}
	if _, err := run.Finish(diff.Scope{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Finish(diff.Scope{}); !errors.Is(err, diff.ErrFinished) {
		t.Errorf("second Finish: %v", err)
	}
	if err := run.Add(); !errors.Is(err, diff.ErrFinished) {
		t.Errorf("Add after Finish: %v", err)
	}
}

func TestMassDeleteError(t *testing.T) {
	var err error = &diff.MassDeleteError{Entity: change.Persons, Deletes: 3, Count: 10, Ratio: 0.2}
	if !errors.Is(err, diff.ErrMassDelete) {
		t.Error("MassDeleteError does not match ErrMassDelete")
	}
	if !strings.Contains(err.Error(), "3 of 10") {
		t.Errorf("message %q lacks the counts", err)
	}
}

func TestEffectiveIn(t *testing.T) {
	in := diff.EffectiveIn(
		diff.Window{Start: date(t, "2026-10-01"), End: date(t, "2026-10-31")},
		diff.Window{Start: date(t, "2026-12-01"), End: date(t, "2026-12-31")},
	)
	tests := map[string]bool{
		"2026-09-30": false, "2026-10-01": true, "2026-10-31": true, "2026-11-01": false,
		"2026-11-30": false, "2026-12-01": true, "2026-12-31": true, "2027-01-01": false,
	}
	for d, want := range tests {
		c := &change.Compensation{EffectiveFrom: date(t, d)}
		if got := in(c); got != want {
			t.Errorf("effective %s: covered = %v, want %v", d, got, want)
		}
	}
	if in(&change.Person{ID: "1"}) {
		t.Error("a person is covered by compensation windows")
	}
	if diff.EffectiveIn()(&change.Compensation{EffectiveFrom: date(t, "2026-10-01")}) {
		t.Error("no windows cover a compensation")
	}
}

// TestAddOne: AddOne reports a record that became an event, and nothing else.
func TestAddOne(t *testing.T) {
	person := func(id, email string) change.Record {
		r, err := change.NewPerson(personio.Person{ID: id, Email: email}, []personio.Employment{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	st := state.NewMemory()
	e, err := state.NewEntry(1, person("1", "a@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	st.Put(change.Persons, change.Key("acme", "1"), e)
	d, err := diff.New()
	if err != nil {
		t.Fatal(err)
	}
	run, err := d.Begin(st, change.Persons, change.Source{Tenant: "acme", SyncID: "s", SyncKind: string(change.Full), ExtractedAt: clock()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rec     change.Record
		changed bool
	}{
		{person("1", "a@example.com"), false}, // as in the state
		{person("2", "b@example.com"), true},  // new
		{person("2", "b@example.com"), false}, // listed twice alike
		{person("3", "c@example.com"), true},  // new
		{person("3", "x@example.com"), false}, // listed twice apart: a conflict drops both
	} {
		changed, err := run.AddOne(c.rec)
		if err != nil || changed != c.changed {
			t.Errorf("%s: changed %v (%v), want %v", c.rec.RecordID(), changed, err, c.changed)
		}
	}
	res, err := run.Finish(diff.Scope{})
	if err != nil || len(res.Events) != 1 || res.Events[0].ID != "2" || res.Conflicts != 1 {
		t.Fatalf("events %v, conflicts %d: %v", res.Events, res.Conflicts, err)
	}
	if _, err := run.AddOne(person("4", "")); !errors.Is(err, diff.ErrFinished) {
		t.Errorf("AddOne after Finish: %v", err)
	}
}
