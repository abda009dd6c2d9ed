package state

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestCompactKeepsEveryRecord compacts the simulator's company, with and without enough data
// to learn a dictionary, and checks that every record reads back byte for byte.
func TestCompactKeepsEveryRecord(t *testing.T) {
	truth := personiotest.NewTruth(t, personiotest.Options{Persons: 300, Seed: 9})
	for _, n := range []int{3, 300} {
		m := NewMemory()
		want := map[string][]byte{}
		for _, p := range truth.Persons[:n] {
			r, err := change.NewPerson(p, truth.Employments[p.ID])
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewEntry(1, r)
			if err != nil {
				t.Fatal(err)
			}
			key := change.Key("acme", r.ID)
			m.Put(change.Persons, key, e)
			want[key] = bytes.Clone(e.Data)
		}
		if k := m.Compact(change.Persons); k != n {
			t.Fatalf("%d persons: Compact compressed %d", n, k)
		}
		if k := m.Compact(change.Persons); k != 0 {
			t.Fatalf("second Compact compressed %d entries, want none", k)
		}
		if dict := m.packs[change.Persons] != nil; dict != (n == 300) {
			t.Errorf("%d persons: dictionary learnt %v", n, dict)
		}
		packed, raw := 0, 0
		m.Range(change.Persons, func(key string, e Entry) bool {
			got, err := e.RecordData(change.Persons)
			if err != nil || !bytes.Equal(got, want[key]) || !e.Compacted() {
				t.Fatalf("%s: record changed by compaction (compacted %v): %v", key, e.Compacted(), err)
			}
			packed += len(e.Data)
			raw += len(got)
			return true
		})
		t.Logf("%d persons: %d bytes compacted from %d (%.2f)", n, packed, raw, float64(packed)/float64(raw))
		if n == 300 && float64(packed) > 0.6*float64(raw) {
			t.Errorf("dictionary compaction kept %.2f of the bytes, want under 0.6", float64(packed)/float64(raw))
		}
	}
}

// TestCompactLeavesChangedEntries: an entry put or deleted while its chunk was being
// compressed is not overwritten by the compressed old one.
func TestCompactLeavesChangedEntries(t *testing.T) {
	m := NewMemory()
	old := Entry{Version: 1, Hash: change.Hash{1}, Data: []byte("old record")}
	for _, k := range []string{"a", "b", "c"} {
		m.Put(change.Persons, k, old)
	}
	var orig, packed []keyed
	for _, k := range []string{"a", "b", "c"} {
		e, _ := m.Get(change.Persons, k)
		orig = append(orig, keyed{k, e})
		p := e
		p.Data, p.pack = plainPacking.pack(e.Data), plainPacking
		packed = append(packed, keyed{k, p})
	}
	newer := Entry{Version: 2, Hash: change.Hash{2}, Data: []byte("new record")}
	m.Put(change.Persons, "b", newer)
	m.Delete(change.Persons, "c", 2)
	if n := m.putBack(change.Persons, orig, packed); n != 1 {
		t.Errorf("put back %d entries, want 1", n)
	}
	if e, _ := m.Get(change.Persons, "a"); !e.Compacted() {
		t.Error("a was not compacted")
	}
	if e, _ := m.Get(change.Persons, "b"); e.Version != 2 || e.Compacted() || string(e.Data) != "new record" {
		t.Errorf("b = %+v, want the entry put meanwhile", e)
	}
	if _, ok := m.Get(change.Persons, "c"); ok {
		t.Error("c came back after its delete")
	}
}

// TestCompactWhilePutting runs Compact while entries are put, read and deleted (run with
// -race): every key ends with the last entry put, compressed or not.
func TestCompactWhilePutting(t *testing.T) {
	m := NewMemory()
	record := func(i, v int) []byte { return []byte(fmt.Sprintf("%0200d/%d", i, v)) }
	for i := range 2000 {
		m.Put(change.Persons, strconv.Itoa(i), EntryFromData(1, change.Hash{1}, record(i, 1)))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			m.Compact(change.Persons)
		}
	}()
	for i := range 2000 {
		m.Put(change.Persons, strconv.Itoa(i), EntryFromData(2, change.Hash{2}, record(i, 2)))
		if e, ok := m.Get(change.Persons, strconv.Itoa(i/2)); ok {
			if _, err := e.RecordData(change.Persons); err != nil {
				t.Error(err)
			}
		}
	}
	<-done
	m.Compact(change.Persons)
	m.Range(change.Persons, func(key string, e Entry) bool {
		i, _ := strconv.Atoi(key)
		got, err := e.RecordData(change.Persons)
		if err != nil || e.Version != 2 || !bytes.Equal(got, record(i, 2)) || !e.Compacted() {
			t.Fatalf("%s: v%d %q compacted %v: %v", key, e.Version, got, e.Compacted(), err)
		}
		return true
	})
}
