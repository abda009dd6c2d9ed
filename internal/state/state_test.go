package state_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/internal/state/statetest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

func TestMemoryAcceptance(t *testing.T) {
	statetest.StoreAcceptance(t, func() state.Store { return state.NewMemory() })
}

func ptr[T any](v T) *T { return &v }

func person(id, email string) *change.Person {
	return &change.Person{ID: id, Email: ptr(email), CustomAttributes: []change.CustomAttribute{}, Employments: []change.Employment{}}
}

func event(op change.Op, version int64, before, after *change.Person) change.Event {
	ev := change.Event{Entity: change.Persons, Op: op, Version: version, EventID: fmt.Sprint(op, version),
		TS: time.UnixMilli(1_764_000_000_000).UTC(),
		Source: change.Source{Tenant: "acme", System: change.System, SyncID: "s", SyncKind: string(change.Full),
			ExtractedAt: time.UnixMilli(1_764_000_000_000).UTC()}}
	if before != nil {
		ev.Before, ev.ID = before, before.ID
	}
	if after != nil {
		ev.After, ev.ID = after, after.ID
		ev.Hash, _ = change.ContentHash(after)
	}
	ev.Key = change.Key("acme", ev.ID)
	return ev
}

func TestApply(t *testing.T) {
	s := state.NewMemory()
	p1, p1b := person("1", "a@x"), person("1", "b@x")
	err := state.Apply(s, []change.Event{
		event(change.Create, 1, nil, p1),
		event(change.Create, 1, nil, person("2", "c@x")),
		event(change.Update, 2, p1, p1b),
		event(change.Delete, 2, person("2", "c@x"), nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := s.Get(change.Persons, "acme:1")
	if !ok || e.Version != 2 {
		t.Fatalf("acme:1 = %+v, %v", e, ok)
	}
	r, err := e.Record(change.Persons)
	if err != nil {
		t.Fatal(err)
	}
	if *r.(*change.Person).Email != "b@x" {
		t.Errorf("stored record email = %q", *r.(*change.Person).Email)
	}
	if want, _ := change.ContentHash(p1b); e.Hash != want {
		t.Error("stored hash is not the content hash of the record")
	}
	if _, ok := s.Get(change.Persons, "acme:2"); ok || s.LastVersion(change.Persons, "acme:2") != 2 {
		t.Errorf("deleted key: present=%v last version=%d", ok, s.LastVersion(change.Persons, "acme:2"))
	}
	if _, err := (state.Entry{Version: 3}).Record(change.Persons); err == nil {
		t.Error("Record of an entry without data succeeded")
	}
}

// sliceSource replays fixed records.
type sliceSource []struct {
	key   string
	value []byte
}

func (s sliceSource) Replay(ctx context.Context, fn func(string, []byte) error) error {
	for _, r := range s {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r.key, r.value); err != nil {
			return err
		}
	}
	return nil
}

func TestRebuild(t *testing.T) {
	sch, err := schemas.Parse(schemas.Persons)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(ev change.Event) []byte {
		env, err := ev.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		b, err := avro.Marshal(sch, env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	decode := state.EnvelopeDecoder(func(b []byte) (any, error) {
		var v change.PersonChange
		return &v, avro.Unmarshal(sch, b, &v)
	})
	p1, p1b, p2, p3 := person("1", "a@x"), person("1", "b@x"), person("2", "c@x"), person("3", "d@x")
	src := sliceSource{
		{"acme:1", enc(event(change.Create, 1, nil, p1))},
		{"acme:2", enc(event(change.Create, 1, nil, p2))},
		{"acme:3", enc(event(change.Create, 1, nil, p3))},
		{"acme:1", enc(event(change.Update, 2, p1, p1b))},
		{"acme:2", enc(event(change.Delete, 2, p2, nil))},
		{"acme:2", nil},
		{"acme:3", nil}, // tombstone whose "d" event was compacted away
	}
	s := state.NewMemory()
	st, err := state.Rebuild(context.Background(), s, change.Persons, src, decode)
	if err != nil {
		t.Fatal(err)
	}
	if st != (state.RebuildStats{Records: 7, Tombstones: 2, Deletes: 1, Live: 1}) {
		t.Errorf("stats = %+v", st)
	}
	e, ok := s.Get(change.Persons, "acme:1")
	if want, _ := change.ContentHash(p1b); !ok || e.Version != 2 || e.Hash != want {
		t.Errorf("acme:1 = %+v", e)
	}
	if v2, v3 := s.LastVersion(change.Persons, "acme:2"), s.LastVersion(change.Persons, "acme:3"); v2 != 2 || v3 != 1 {
		t.Errorf("remembered versions = %d, %d; want 2, 1", v2, v3)
	}

	// A record whose key does not match its content fails the rebuild.
	bad := sliceSource{{"other:1", enc(event(change.Create, 1, nil, p1))}}
	if _, err := state.Rebuild(context.Background(), state.NewMemory(), change.Persons, bad, decode); err == nil {
		t.Error("rebuild accepted a record under the wrong key")
	}
	garbage := sliceSource{{"acme:1", []byte{0xff, 0xff}}}
	if _, err := state.Rebuild(context.Background(), state.NewMemory(), change.Persons, garbage, decode); err == nil {
		t.Error("rebuild accepted an undecodable record")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := state.Rebuild(ctx, state.NewMemory(), change.Persons, src, decode); !errors.Is(err, context.Canceled) {
		t.Errorf("rebuild with a cancelled context: %v", err)
	}
}

// realisticPerson is about the size of a real person: names, ten custom attributes and one
// employment with org units and a cost center.
func realisticPerson(i int) *change.Person {
	id := strconv.Itoa(1_000_000 + i)
	p := &change.Person{
		ID: id, Email: ptr("first.last" + id + "@example.com"), FirstName: ptr("Firstname"), LastName: ptr("Lastname-" + id),
		Gender: ptr("FEMALE"), Status: ptr("ACTIVE"),
		CreatedAt: ptr(time.UnixMilli(1_600_000_000_000).UTC()), UpdatedAt: ptr(time.UnixMilli(1_700_000_000_000).UTC()),
		CustomAttributes: make([]change.CustomAttribute, 0, 10),
	}
	labels := []string{"Shoe size", "T-shirt size", "Tax class", "Children", "Nationality", "Bank", "Birthday", "Allergies", "Team lunch", "Badge"}
	for a, l := range labels {
		p.CustomAttributes = append(p.CustomAttributes, change.CustomAttribute{
			ID: "dynamic_" + strconv.Itoa(1000+a), GlobalID: ptr(strconv.Itoa(88000 + a)), Label: ptr(l), Type: ptr("STRING"),
			ValueJSON: ptr(`"` + strconv.FormatUint(uint64(i*7919+a*104729)*2654435761%1_000_000_007, 36) + `"`)})
	}
	hours := big.NewRat(40, 1)
	p.Employments = []change.Employment{{
		ID: id + "0", Status: ptr("ACTIVE"), Type: ptr("INTERNAL"), PositionTitle: ptr("Software Engineer"),
		StartDate: ptr(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), WeeklyWorkingHours: &hours,
		SupervisorID: ptr("1000001"), OfficeID: ptr("17"), LegalEntityID: ptr("3"),
		OrgUnits:    []change.OrgUnit{{ID: "100", Type: ptr("department")}, {ID: "200", Type: ptr("team")}},
		CostCenters: []change.CostCenter{{ID: "cc1", Weight: change.Dec(big.NewRat(100, 1))}},
	}}
	return p
}

// TestMemoryFootprint checks that 100k realistic persons stay far below the service's
// 150 MB budget.
func TestMemoryFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100k entries")
	}
	const n = 100_000
	s := state.NewMemory()
	before := heapInUse()
	for i := range n {
		e, err := state.NewEntry(1, realisticPerson(i))
		if err != nil {
			t.Fatal(err)
		}
		s.Put(change.Persons, change.Key("acme", strconv.Itoa(i)), e)
	}
	raw := heapInUse() - before
	if k := s.Compact(change.Persons); k != n {
		t.Fatalf("Compact compressed %d entries, want %d", k, n)
	}
	used := heapInUse() - before
	t.Logf("%d persons: %.1f MB heap as published, %.1f MB compacted, %.0f bytes per person", n, float64(raw)/1e6, float64(used)/1e6, float64(used)/n)
	if used > 80e6 {
		t.Errorf("state of %d persons uses %.1f MB heap, budget 80 MB", n, float64(used)/1e6)
	}
	runtime.KeepAlive(s)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkNewEntry(b *testing.B) {
	p := realisticPerson(1)
	for b.Loop() {
		if _, err := state.NewEntry(1, p); err != nil {
			b.Fatal(err)
		}
	}
}
