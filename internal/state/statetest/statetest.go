// Package statetest holds the acceptance suite every state.Store implementation must pass.
package statetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// StoreAcceptance is the test suite every Store implementation must pass. newStore returns
// an empty store for each subtest.
func StoreAcceptance(t *testing.T, newStore func() state.Store) {
	t.Helper()
	entry := func(v int64, b byte) state.Entry {
		return state.Entry{Version: v, Hash: change.Hash{b}, Data: []byte{b}}
	}
	t.Run("empty", func(t *testing.T) {
		s := newStore()
		if _, ok := s.Get(change.Persons, "t:1"); ok {
			t.Error("Get on an empty store found an entry")
		}
		if n := s.Len(change.Persons); n != 0 {
			t.Errorf("Len = %d", n)
		}
		if v := s.LastVersion(change.Persons, "t:1"); v != 0 {
			t.Errorf("LastVersion = %d", v)
		}
		s.Range(change.Persons, func(string, state.Entry) bool { t.Error("Range visited an entry"); return true })
	})
	t.Run("put get overwrite", func(t *testing.T) {
		s := newStore()
		s.Put(change.Persons, "t:1", entry(1, 1))
		s.Put(change.Persons, "t:1", entry(2, 2))
		e, ok := s.Get(change.Persons, "t:1")
		if !ok || e.Version != 2 || e.Hash != (change.Hash{2}) || !slices.Equal(e.Data, []byte{2}) {
			t.Errorf("Get = %+v, %v", e, ok)
		}
		if s.Len(change.Persons) != 1 || s.LastVersion(change.Persons, "t:1") != 2 {
			t.Errorf("Len = %d, LastVersion = %d", s.Len(change.Persons), s.LastVersion(change.Persons, "t:1"))
		}
	})
	t.Run("entities are separate", func(t *testing.T) {
		s := newStore()
		s.Put(change.Persons, "t:1", entry(1, 1))
		if _, ok := s.Get(change.Compensations, "t:1"); ok {
			t.Error("a persons entry is visible as a compensation")
		}
		if s.Len(change.Compensations) != 0 {
			t.Error("Len counts another entity")
		}
	})
	t.Run("delete remembers the version", func(t *testing.T) {
		s := newStore()
		s.Put(change.Persons, "t:1", entry(3, 1))
		s.Delete(change.Persons, "t:1", 4)
		if _, ok := s.Get(change.Persons, "t:1"); ok {
			t.Error("deleted entry still there")
		}
		if s.Len(change.Persons) != 0 {
			t.Errorf("Len = %d after delete", s.Len(change.Persons))
		}
		if v := s.LastVersion(change.Persons, "t:1"); v != 4 {
			t.Errorf("LastVersion after delete = %d, want 4", v)
		}
		s.Delete(change.Persons, "t:1", 0) // the tombstone after the "d" event
		if v := s.LastVersion(change.Persons, "t:1"); v != 4 {
			t.Errorf("LastVersion after tombstone = %d, want 4", v)
		}
		s.Put(change.Persons, "t:1", entry(5, 5))
		if v := s.LastVersion(change.Persons, "t:1"); v != 5 {
			t.Errorf("LastVersion after re-create = %d, want 5", v)
		}
	})
	t.Run("tombstone without delete event keeps the live version", func(t *testing.T) {
		s := newStore()
		s.Put(change.Persons, "t:1", entry(7, 1))
		s.Delete(change.Persons, "t:1", 0)
		if v := s.LastVersion(change.Persons, "t:1"); v != 7 {
			t.Errorf("LastVersion = %d, want 7", v)
		}
		s.Delete(change.Persons, "t:unknown", 0)
		if v := s.LastVersion(change.Persons, "t:unknown"); v != 0 {
			t.Errorf("LastVersion of a never-seen key = %d", v)
		}
	})
	t.Run("range", func(t *testing.T) {
		s := newStore()
		for i, k := range []string{"t:a", "t:b", "t:c"} {
			s.Put(change.Compensations, k, entry(int64(i+1), byte(i)))
		}
		s.Delete(change.Compensations, "t:b", 3)
		var keys []string
		s.Range(change.Compensations, func(k string, e state.Entry) bool { keys = append(keys, k); return true })
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"t:a", "t:c"}) {
			t.Errorf("Range keys = %q", keys)
		}
		n := 0
		s.Range(change.Compensations, func(string, state.Entry) bool { n++; return false })
		if n != 1 {
			t.Errorf("Range went on after fn returned false: %d calls", n)
		}
	})
	t.Run("compact keeps records, versions and hashes", func(t *testing.T) {
		s := newStore()
		want := map[string][]byte{}
		for i := range 50 {
			data := []byte(strings.Repeat("record "+strconv.Itoa(i)+" ", 20))
			k := "t:" + strconv.Itoa(i)
			s.Put(change.Persons, k, state.EntryFromData(int64(i+1), change.Hash{byte(i)}, data))
			want[k] = slices.Clone(data)
		}
		s.Put(change.Compensations, "t:c", state.EntryFromData(1, change.Hash{1}, []byte("other entity")))
		if n := s.Compact(change.Persons); n != 50 {
			t.Errorf("Compact = %d, want 50", n)
		}
		if n := s.Compact(change.Persons); n != 0 {
			t.Errorf("second Compact = %d, want 0", n)
		}
		if s.Len(change.Persons) != 50 {
			t.Fatalf("Len = %d after Compact", s.Len(change.Persons))
		}
		for k, data := range want {
			e, ok := s.Get(change.Persons, k)
			got, err := e.RecordData(change.Persons)
			i, _ := strconv.Atoi(strings.TrimPrefix(k, "t:"))
			if !ok || err != nil || !slices.Equal(got, data) || e.Version != int64(i+1) || e.Hash != (change.Hash{byte(i)}) {
				t.Fatalf("%s after Compact: v%d, record %q: %v", k, e.Version, got, err)
			}
		}
		if e, _ := s.Get(change.Compensations, "t:c"); e.Compacted() {
			t.Error("Compact of persons compacted a compensation")
		}
	})
}
