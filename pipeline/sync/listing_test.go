package sync

import (
	"context"
	"errors"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// recordingSource notes the filters of every listing it passes on.
type recordingSource struct {
	extract.Source

	mu            gosync.Mutex
	persons       []personio.PersonFilter
	compensations []personio.CompensationFilter
	employments   int
}

func (s *recordingSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	s.mu.Lock()
	s.persons = append(s.persons, f)
	s.mu.Unlock()
	return s.Source.ListPersons(ctx, f, fn)
}

func (s *recordingSource) ListEmployments(ctx context.Context, personID string, f personio.EmploymentFilter, fn func([]personio.Employment) error) error {
	s.mu.Lock()
	s.employments++
	s.mu.Unlock()
	return s.Source.ListEmployments(ctx, personID, f, fn)
}

func (s *recordingSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	s.mu.Lock()
	s.compensations = append(s.compensations, f)
	s.mu.Unlock()
	return s.Source.ListCompensations(ctx, f, fn)
}

// take returns the person filters recorded so far, in a stable order, and forgets them.
func (s *recordingSource) take() []personio.PersonFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.persons
	s.persons = nil
	slices.SortFunc(out, comparePersonFilters)
	return out
}

func comparePersonFilters(a, b personio.PersonFilter) int {
	if c := a.CreatedBefore.Compare(b.CreatedBefore); c != 0 {
		return c
	}
	if c := a.CreatedAfter.Compare(b.CreatedAfter); c != 0 {
		return c
	}
	return a.CreatedAt.Compare(b.CreatedAt)
}

func sameFilters(got, want []personio.PersonFilter) bool {
	want = slices.Clone(want)
	slices.SortFunc(want, comparePersonFilters)
	return slices.EqualFunc(got, want, func(a, b personio.PersonFilter) bool {
		return comparePersonFilters(a, b) == 0 && a.UpdatedAfter.IsZero() == b.UpdatedAfter.IsZero()
	})
}

// TestRunSplitsFullListingAtStateQuantiles checks that the first full persons listing after a
// restart splits its chains at the quantiles of the persons' created_at in the rebuilt state,
// not at an even split of the years.
func TestRunSplitsFullListingAtStateQuantiles(t *testing.T) {
	h := newHarness(t, 60)
	run(t, h.runner(), Full)

	var created []time.Time
	for _, p := range h.sim.Truth().Persons {
		c, err := time.Parse(time.RFC3339Nano, p.CreatedAt)
		if err != nil {
			t.Fatalf("created_at %q: %v", p.CreatedAt, err)
		}
		created = append(created, c)
	}
	want := extract.PersonFilters(extract.Boundaries(created, DefaultPersonChains))
	if len(want) != 2*(DefaultPersonChains-1)+1 {
		t.Fatalf("the simulator's created_at allow %d filters, want %d chains and their boundaries", len(want), DefaultPersonChains)
	}

	tests := []struct {
		name string
		kind Kind
	}{
		// A new runner has no high-water mark: its first incremental sync lists every person too.
		{"full", Full},
		{"incremental", Incremental},
		{"resnapshot", Resnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &recordingSource{Source: h.client}
			r := h.runner(func(c *Config) { c.Source = src })
			res := run(t, r, tt.kind)
			if !res.Rebuilt {
				t.Fatal("the restarted runner did not rebuild its state")
			}
			if got := src.take(); !sameFilters(got, want) {
				t.Errorf("filters of the listing after a restart:\n got %+v\nwant %+v", got, want)
			}
			// Later listings split where the last complete listing's persons were: the same.
			run(t, r, Full)
			if got := src.take(); !sameFilters(got, want) {
				t.Errorf("filters of the second listing:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRunListingSettings(t *testing.T) {
	h := newHarness(t, 12)
	src := &recordingSource{Source: h.client}
	r := h.runner(func(c *Config) {
		c.Source = src
		c.EmploymentDetails = false
		c.PersonChains = 1
		c.CompensationSubWindows = 1
	})
	run(t, r, Full)
	if got := src.take(); len(got) != 1 || !sameFilters(got, []personio.PersonFilter{{}}) {
		t.Errorf("person chains 1: filters %+v, want one unfiltered listing", got)
	}
	if src.employments != 0 {
		t.Errorf("employment details off: %d employment listings", src.employments)
	}
	months := extract.Windows(time.Now(), DefaultLookbackMonths)
	if len(src.compensations) != len(months) {
		t.Errorf("compensation sub-windows 1: %d listings, want one per month (%d)", len(src.compensations), len(months))
	}

	src = &recordingSource{Source: h.client}
	r = h.runner(func(c *Config) { c.Source = src; c.CompensationSubWindows = 4 })
	run(t, r, Full)
	if len(src.compensations) != 4*len(months) {
		t.Errorf("compensation sub-windows 4: %d listings, want %d", len(src.compensations), 4*len(months))
	}
	if src.employments == 0 {
		t.Error("employment details on: no employment listing")
	}
}

// A tenant's entity selection (Config.Entities) is all its runner lists, publishes and shows:
// the other entities are neither requested nor in the result, and a run that names one fails.
func TestRunnerEntitySelection(t *testing.T) {
	h := newHarness(t, 8)
	tests := []struct {
		name              string
		entities          []change.Entity
		persons, comps    bool
		employments       bool
		wantResultEntries []string
	}{
		{"persons and compensations", []change.Entity{change.Compensations, change.Persons}, true, true, false, []string{"persons", "compensations"}},
		{"compensations alone", []change.Entity{change.Compensations}, false, true, false, []string{"compensations"}},
		{"persons and employments", []change.Entity{change.Persons, change.Employments}, true, false, true, []string{"persons", "employments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &recordingSource{Source: h.client}
			r := h.runner(func(c *Config) { c.Source = src; c.Entities = tt.entities })
			res := run(t, r, Full)
			var got []string
			for _, e := range res.Entities {
				got = append(got, e.Entity)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantResultEntries, ",") {
				t.Errorf("result entities %v, want %v", got, tt.wantResultEntries)
			}
			if (len(src.persons) > 0) != tt.persons || (len(src.compensations) > 0) != tt.comps || (src.employments > 0) != tt.employments {
				t.Errorf("listed persons %d times, compensations %d, employments %d; want persons %v, compensations %v, employments %v",
					len(src.persons), len(src.compensations), src.employments, tt.persons, tt.comps, tt.employments)
			}
			for _, e := range change.Entities() {
				if slices.Contains(tt.entities, e) {
					continue
				}
				if _, err := r.Run(t.Context(), Full, WithEntities(e)); !errors.Is(err, ErrUnknownEntity) {
					t.Errorf("a run of %s, not selected: %v, want ErrUnknownEntity", e, err)
				}
			}
		})
	}
	for _, bad := range [][]change.Entity{{}, {"absences"}, {change.Persons, change.Persons}} {
		cfg := h.config()
		cfg.Entities = bad
		if _, err := New(cfg); err == nil {
			t.Errorf("New with entities %v: no error", bad)
		}
	}
}

// A tenant that syncs no persons (entities: [compensations]) has nothing a webhook delivery
// could refresh: its targeted runs do nothing instead of failing every delivery.
func TestFetchTargetsWithoutPersons(t *testing.T) {
	h := newHarness(t, 4)
	src := &recordingSource{Source: h.client}
	r := h.runner(func(c *Config) { c.Source = src; c.Entities = []change.Entity{change.Compensations} })
	ids := h.sim.Truth().Persons
	if len(ids) == 0 {
		t.Fatal("no persons in the simulator")
	}
	if err := r.FetchTargets(t.Context(), []string{ids[0].ID}, []string{ids[0].ID}); err != nil {
		t.Fatalf("a targeted run of a tenant without persons: %v, want nothing to do", err)
	}
	if len(src.persons) != 0 || src.employments != 0 {
		t.Errorf("listed persons %d times, employments %d: want none", len(src.persons), src.employments)
	}
}
