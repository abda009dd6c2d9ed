package diff_test

import (
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

func ptr[T any](v T) *T { return &v }

// fuzzPerson builds one of 16 variants of person id: the bits choose email, status, an
// attribute value, an employment's hours and updated_at.
func fuzzPerson(id, variant byte) *change.Person {
	p := &change.Person{
		ID:               strconv.Itoa(int(id)),
		Email:            ptr(fmt.Sprintf("p%d-%d@acme.example", id, variant&1)),
		UpdatedAt:        ptr(time.UnixMilli(int64(variant&8) * 1000).UTC()),
		CustomAttributes: []change.CustomAttribute{},
		Employments:      []change.Employment{},
	}
	if variant&2 != 0 {
		p.Status = ptr("INACTIVE")
	}
	if variant&4 != 0 {
		p.CustomAttributes = append(p.CustomAttributes, change.CustomAttribute{ID: "a", ValueJSON: ptr(`"x"`)})
		p.Employments = append(p.Employments, change.Employment{ID: "e" + p.ID,
			WeeklyWorkingHours: change.Dec(big.NewRat(int64(variant), 4)), OrgUnits: []change.OrgUnit{}, CostCenters: []change.CostCenter{}})
	}
	return p
}

// listing turns bytes into a listing without duplicate ids (the last byte for an id wins).
func listing(b []byte) map[string]change.Record {
	m := make(map[string]change.Record)
	for _, x := range b {
		p := fuzzPerson(x&0x0f, x>>4)
		m[change.Key("acme", p.ID)] = p
	}
	return m
}

func records(m map[string]change.Record) []change.Record {
	var out []change.Record
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// FuzzDiff checks the differ's defining property: diffing a state against a complete
// listing and applying the events yields a state with exactly the listing's keys and
// content; a second diff yields nothing; versions grow by one per event; ids never repeat.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{0x01, 0x12, 0x23}, []byte{0x01, 0x13, 0x34})
	f.Add([]byte{0x00, 0x01, 0x02, 0x03}, []byte{})
	f.Add([]byte{}, []byte{0xff, 0xfe, 0x0f})
	f.Add([]byte{0x41, 0x41}, []byte{0x81, 0xc1})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		d, err := diff.New(diff.WithoutDeleteGuard(), diff.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		st := state.NewMemory()
		st.Put(change.Persons, "other:1", state.Entry{Version: 1, Data: []byte{0}}) // another tenant: never touched
		ids := make(map[string]bool)
		for round, b := range [][]byte{first, second, first} {
			want := listing(b)
			before := make(map[string]int64)
			for k := range want {
				before[k] = st.LastVersion(change.Persons, k)
			}
			src := change.Source{Tenant: "acme", SyncID: strconv.Itoa(round), SyncKind: string(change.Full), ExtractedAt: clock()}
			res, err := d.Diff(st, change.Persons, src, records(want), diff.Scope{Complete: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range res.Events {
				if ids[ev.EventID] {
					t.Fatalf("round %d: event id %s repeats (%s)", round, ev.EventID, ev)
				}
				ids[ev.EventID] = true
				if last := st.LastVersion(change.Persons, ev.Key); ev.Version != last+1 {
					t.Fatalf("round %d: %s has version %d after %d", round, ev.Key, ev.Version, last)
				}
			}
			if err := state.Apply(st, res.Events); err != nil {
				t.Fatal(err)
			}
			var got []string
			st.Range(change.Persons, func(k string, e state.Entry) bool {
				if k == "other:1" {
					return true
				}
				got = append(got, k)
				r, ok := want[k]
				if !ok {
					t.Fatalf("round %d: state keeps %s, absent from the listing", round, k)
				}
				if h, _ := change.ContentHash(r); h != e.Hash {
					t.Fatalf("round %d: state content of %s differs from the listing", round, k)
				}
				return true
			})
			if len(got) != len(want) {
				t.Fatalf("round %d: state has %d keys, listing %d", round, len(got), len(want))
			}
			if _, ok := st.Get(change.Persons, "other:1"); !ok {
				t.Fatal("another tenant's entry was removed")
			}
			again, err := d.Diff(st, change.Persons, src, records(want), diff.Scope{Complete: true})
			if err != nil || len(again.Events) != 0 {
				t.Fatalf("round %d: second diff gave %d events, err %v", round, len(again.Events), err)
			}
		}
	})
}

// BenchmarkDiff diffs a complete listing of 100k persons, one of them changed, against a
// state holding all of them.
func BenchmarkDiff(b *testing.B) {
	const n = 100_000
	st := state.NewMemory()
	recs := make([]change.Record, n)
	for i := range n {
		p := benchPerson(i)
		e, err := state.NewEntry(1, p)
		if err != nil {
			b.Fatal(err)
		}
		st.Put(change.Persons, change.Key("acme", p.ID), e)
		recs[i] = p
	}
	changed := *benchPerson(n / 2)
	changed.Email = ptr("changed@acme.example")
	recs[n/2] = &changed
	d, err := diff.New()
	if err != nil {
		b.Fatal(err)
	}
	src := change.Source{Tenant: "acme", SyncID: "bench", SyncKind: string(change.Full), ExtractedAt: clock()}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		res, err := d.Diff(st, change.Persons, src, recs, diff.Scope{Complete: true})
		if err != nil || len(res.Events) != 1 || res.Events[0].Op != change.Update {
			b.Fatalf("diff: %d events, err %v", len(res.Events), err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "entities/s")
}

func benchPerson(i int) *change.Person {
	id := strconv.Itoa(1_000_000 + i)
	p := &change.Person{
		ID: id, Email: ptr("p" + id + "@acme.example"), FirstName: ptr("First"), LastName: ptr("Last" + id), Status: ptr("ACTIVE"),
		CreatedAt: ptr(time.UnixMilli(1_600_000_000_000).UTC()), UpdatedAt: ptr(time.UnixMilli(1_700_000_000_000).UTC()),
	}
	for a := range 10 {
		p.CustomAttributes = append(p.CustomAttributes, change.CustomAttribute{
			ID: "dynamic_" + strconv.Itoa(a), Label: ptr("Label " + strconv.Itoa(a)), Type: ptr("STRING"), ValueJSON: ptr(`"v` + id + `"`)})
	}
	p.Employments = []change.Employment{{ID: id + "0", Status: ptr("ACTIVE"), WeeklyWorkingHours: change.Dec(big.NewRat(40, 1)),
		OrgUnits: []change.OrgUnit{{ID: "5", Type: ptr("department")}}, CostCenters: []change.CostCenter{}}}
	return p
}
