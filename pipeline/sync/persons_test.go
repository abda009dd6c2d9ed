package sync

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// PersonStamps gives every person of the state with Personio's updated_at, after the first run
// built the state, and nothing before.
func TestPersonStamps(t *testing.T) {
	h := newHarness(t, 20)
	r := h.runner()
	if got, ok := r.PersonStamps(); ok || got != nil {
		t.Fatalf("PersonStamps before a run = %v, %v; want none, false", got, ok)
	}
	run(t, r, Full)
	got, ok := r.PersonStamps()
	if !ok {
		t.Fatal("PersonStamps after a full sync: not ok")
	}
	var want []PersonStamp
	for _, p := range h.sim.Truth().Persons {
		u, err := time.Parse(time.RFC3339Nano, p.UpdatedAt)
		if err != nil {
			t.Fatalf("simulator updated_at %q: %v", p.UpdatedAt, err)
		}
		s := PersonStamp{ID: p.ID, UpdatedAt: u.Truncate(time.Millisecond)}
		want = append(want, s)
	}
	cmp := func(a, b PersonStamp) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	if !slices.EqualFunc(got, want, func(a, b PersonStamp) bool { return a.ID == b.ID && a.UpdatedAt.Equal(b.UpdatedAt) }) {
		t.Fatalf("PersonStamps = %v\nwant %v", got, want)
	}
}
