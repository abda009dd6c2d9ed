package extract

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// fakeSource serves a fixed company, two persons per page, and fails where told.
type fakeSource struct {
	persons       []personio.Person
	employments   map[string][]personio.Employment
	compensations []personio.Compensation

	failPersonsAfterPage int             // >0: ListPersons fails after that many pages
	failEmployments      map[string]bool // person ids whose employments fail
	failWindow           string          // "2006-01": that window's listing fails after one page
	block                chan struct{}   // non-nil: ListPersons waits for ctx
	blockOnce            sync.Once
	failChain            func(personio.PersonFilter) bool // fails the matching persons listings
	mu                   sync.Mutex
	employmentCalls      int
	personFilters        []personio.PersonFilter
	windows              []personio.CompensationFilter
}

var errBoom = errors.New("boom")

func (f *fakeSource) ListPersons(ctx context.Context, flt personio.PersonFilter, fn func([]personio.Person) error) error {
	f.mu.Lock()
	f.personFilters = append(f.personFilters, flt)
	f.mu.Unlock()
	if f.block != nil {
		f.blockOnce.Do(func() { close(f.block) })
		<-ctx.Done()
		return ctx.Err()
	}
	if f.failChain != nil && f.failChain(flt) {
		return errBoom
	}
	var match []personio.Person
	for _, p := range f.persons {
		if createdMatches(flt, p.CreatedAt) {
			match = append(match, p)
		}
	}
	for i := 0; i < len(match); i += 2 {
		if f.failPersonsAfterPage > 0 && i/2 == f.failPersonsAfterPage {
			return errBoom
		}
		if err := fn(match[i:min(i+2, len(match))]); err != nil {
			return err
		}
	}
	return nil
}

// createdMatches applies the created_at filters to the second, as the API does. A person
// without created_at matches only an unfiltered listing.
func createdMatches(f personio.PersonFilter, createdAt string) bool {
	if f.CreatedAt.IsZero() && f.CreatedAfter.IsZero() && f.CreatedBefore.IsZero() {
		return true
	}
	t, err := time.Parse(time.RFC3339, createdAt)
	if err != nil {
		return false
	}
	sec := func(x time.Time) time.Time { return x.UTC().Truncate(time.Second) }
	return (f.CreatedAt.IsZero() || t.Equal(sec(f.CreatedAt))) &&
		(f.CreatedAfter.IsZero() || t.After(sec(f.CreatedAfter))) &&
		(f.CreatedBefore.IsZero() || t.Before(sec(f.CreatedBefore)))
}

func (f *fakeSource) ListEmployments(ctx context.Context, personID string, _ personio.EmploymentFilter, fn func([]personio.Employment) error) error {
	f.mu.Lock()
	f.employmentCalls++
	f.mu.Unlock()
	if f.failEmployments[personID] {
		return errBoom
	}
	if emps := f.employments[personID]; len(emps) > 0 {
		return fn(emps)
	}
	return nil
}

func (f *fakeSource) ListCompensations(ctx context.Context, flt personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	f.mu.Lock()
	f.windows = append(f.windows, flt)
	f.mu.Unlock()
	var in []personio.Compensation
	for _, c := range f.compensations {
		d, _ := time.Parse(time.DateOnly, c.EffectiveFrom)
		if !d.Before(flt.Window.Start) && !d.After(flt.Window.End) {
			in = append(in, c)
		}
	}
	if flt.Window.Start.Format("2006-01") == f.failWindow {
		if len(in) > 0 {
			if err := fn(in[:1]); err != nil {
				return err
			}
		}
		return errBoom
	}
	if len(in) == 0 {
		return nil
	}
	return fn(in)
}

func company() *fakeSource {
	f := &fakeSource{employments: map[string][]personio.Employment{}}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprint(i)
		f.persons = append(f.persons, personio.Person{ID: id, UpdatedAt: "2026-11-20T10:00:00Z",
			CreatedAt: fmt.Sprintf("2026-11-0%dT10:00:00Z", i), Employments: []personio.Ref{{ID: "e" + id}}})
		f.employments[id] = []personio.Employment{{ID: "e" + id, Person: personio.Ref{ID: id}}}
	}
	f.persons = append(f.persons, f.persons[2]) // repeated as it was across a page boundary
	f.compensations = []personio.Compensation{
		{ID: "c1", EffectiveFrom: "2026-09-01"},
		{ID: "c2", EffectiveFrom: "2026-10-15"},
		{ID: "c3", EffectiveFrom: "2026-10-31"},
		{ID: "c4", EffectiveFrom: "2026-11-01"},
		{ID: "old", EffectiveFrom: "2026-08-31"},
	}
	return f
}

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func collect(t *testing.T, ch <-chan Snapshot) map[string]Snapshot {
	t.Helper()
	got := map[string]Snapshot{}
	for s := range ch {
		if _, dup := got[s.Scope]; dup {
			t.Fatalf("scope %s delivered twice", s.Scope)
		}
		got[s.Scope] = s
	}
	return got
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	sort.Strings(out)
	return out
}

func personIDs(s Snapshot) []string {
	return ids(listedPersons(s), func(p Person) string { return p.ID })
}
func compIDs(s Snapshot) []string {
	return ids(listedCompensations(s), func(c personio.Compensation) string { return c.ID })
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*fakeSource)
		req   Request
		check func(t *testing.T, got map[string]Snapshot)
	}{
		{
			name: "full",
			check: func(t *testing.T, got map[string]Snapshot) {
				p := got["persons"]
				if !p.Complete || !p.Exhaustive() || p.Err != nil {
					t.Fatalf("persons: complete=%v exhaustive=%v err=%v", p.Complete, p.Exhaustive(), p.Err)
				}
				if g := fmt.Sprint(personIDs(p)); g != "[1 2 3 4 5]" {
					t.Errorf("persons = %s", g)
				}
				for _, q := range listedPersons(p) {
					if q.EmploymentList != nil || len(q.Employments) != 1 {
						t.Errorf("person %s: employment list %v, refs %v; want the refs only", q.ID, q.EmploymentList, q.Employments)
					}
				}
				m := got["employments"]
				if !m.Exhaustive() || !m.Rest || fmt.Sprint(employmentParts(m)) != "[employments:1+ employments:2+ employments:3+ employments:4+ employments:5+]" {
					t.Errorf("employments: exhaustive=%v rest=%v parts=%v err=%v", m.Exhaustive(), m.Rest, employmentParts(m), m.Err)
				}
				for _, pe := range listedEmployments(m) {
					if len(pe.Employments) != 1 || pe.Employments[0].ID != "e"+pe.PersonID {
						t.Errorf("employments of %s = %+v", pe.PersonID, pe.Employments)
					}
				}
				want := map[string]string{
					"compensations:2026-09": "[c1]",
					"compensations:2026-10": "[c2 c3]",
					"compensations:2026-11": "[c4]",
				}
				for scope, w := range want {
					s := got[scope]
					if !s.Exhaustive() || fmt.Sprint(compIDs(s)) != w {
						t.Errorf("%s: exhaustive=%v items=%v, want %s", scope, s.Exhaustive(), compIDs(s), w)
					}
				}
			},
		},
		{
			name:  "employments of one person fail",
			tweak: func(f *fakeSource) { f.failEmployments = map[string]bool{"2": true} },
			check: func(t *testing.T, got map[string]Snapshot) {
				p := got["persons"]
				if !p.Exhaustive() || fmt.Sprint(personIDs(p)) != "[1 2 3 4 5]" {
					t.Errorf("persons: exhaustive=%v ids=%v; a failed employment listing is not the persons'", p.Exhaustive(), personIDs(p))
				}
				m := got["employments"]
				if m.Complete || !errors.Is(m.Err, ErrIncomplete) || !errors.Is(m.Err, errBoom) {
					t.Fatalf("employments: complete=%v err=%v", m.Complete, m.Err)
				}
				if g := fmt.Sprint(employmentParts(m)); g != "[employments:1+ employments:2- employments:3+ employments:4+ employments:5+]" || !m.Rest {
					t.Errorf("employments: parts %s rest %v; want person 2's scope incomplete, the others complete", g, m.Rest)
				}
				if !got["compensations:2026-11"].Complete {
					t.Error("compensations must not suffer from a persons failure")
				}
			},
		},
		{
			name:  "persons listing fails mid-way",
			tweak: func(f *fakeSource) { f.failPersonsAfterPage = 1 },
			check: func(t *testing.T, got map[string]Snapshot) {
				p := got["persons"]
				if p.Complete || !errors.Is(p.Err, errBoom) {
					t.Fatalf("persons: complete=%v err=%v", p.Complete, p.Err)
				}
				if g := fmt.Sprint(personIDs(p)); g != "[1 2]" {
					t.Errorf("persons = %s, want the first page kept", g)
				}
				m := got["employments"]
				if g := fmt.Sprint(employmentParts(m)); g != "[employments:1+ employments:2+]" || m.Rest {
					t.Errorf("employments: parts %s rest %v; want the listed persons' only, and no rest", g, m.Rest)
				}
				if len(got) != 5 {
					t.Errorf("got %d snapshots, want 5", len(got))
				}
			},
		},
		{
			name:  "one compensation window fails",
			tweak: func(f *fakeSource) { f.failWindow = "2026-10" },
			check: func(t *testing.T, got map[string]Snapshot) {
				s := got["compensations:2026-10"]
				// Every sub-window of October fails after its first item: what was read is kept.
				if s.Complete || s.Exhaustive() || fmt.Sprint(compIDs(s)) != "[c2 c3]" {
					t.Errorf("failed window: complete=%v items=%v", s.Complete, compIDs(s))
				}
				for _, scope := range []string{"persons", "compensations:2026-09", "compensations:2026-11"} {
					if !got[scope].Exhaustive() {
						t.Errorf("%s: not exhaustive: %v", scope, got[scope].Err)
					}
				}
			},
		},
		{
			name: "incremental",
			req:  Request{PersonsUpdatedSince: now.Add(-time.Hour), Entities: []change.Entity{change.Persons}},
			check: func(t *testing.T, got map[string]Snapshot) {
				p := got["persons"]
				if !p.Complete || !p.Filtered || p.Exhaustive() {
					t.Errorf("persons: complete=%v filtered=%v", p.Complete, p.Filtered)
				}
				if len(got) != 1 {
					t.Errorf("got %d snapshots, want persons only", len(got))
				}
			},
		},
		{
			name: "incremental lists the employments of the persons listed",
			req:  Request{PersonsUpdatedSince: now.Add(-time.Hour), Entities: []change.Entity{change.Persons, change.Employments}},
			check: func(t *testing.T, got map[string]Snapshot) {
				// The fake source does not filter: what matters is that the listed persons'
				// employments are read, and that a filtered listing deletes nobody's.
				m := got["employments"]
				if !m.Complete || m.Rest || len(m.Parts) != len(personIDs(got["persons"])) {
					t.Errorf("employments: complete=%v rest=%v parts=%v", m.Complete, m.Rest, employmentParts(m))
				}
			},
		},
		{
			name: "employments of given persons only",
			req:  Request{Entities: []change.Entity{change.Employments}, EmploymentsOf: []string{"4", " 2", "4"}},
			check: func(t *testing.T, got map[string]Snapshot) {
				m := got["employments"]
				if len(got) != 1 || !m.Complete || m.Rest || fmt.Sprint(employmentParts(m)) != "[employments:2+ employments:4+]" {
					t.Errorf("%d snapshots; employments: complete=%v rest=%v parts=%v", len(got), m.Complete, m.Rest, employmentParts(m))
				}
			},
		},
		{
			name: "employments alone list the persons to know whose",
			req:  Request{Entities: []change.Entity{change.Employments}},
			check: func(t *testing.T, got map[string]Snapshot) {
				m := got["employments"]
				if len(got) != 1 || !m.Exhaustive() || !m.Rest || len(m.Parts) != 5 {
					t.Errorf("%d snapshots; employments: exhaustive=%v rest=%v parts=%v", len(got), m.Exhaustive(), m.Rest, employmentParts(m))
				}
			},
		},
		{
			name: "incremental lists the current month of compensations only",
			req:  Request{PersonsUpdatedSince: now.Add(-time.Hour), CurrentMonthOnly: true},
			check: func(t *testing.T, got map[string]Snapshot) {
				current := WindowScope(Windows(now, 0)[0])
				for scope := range got {
					if scope != "persons" && scope != "employments" && scope != current {
						t.Errorf("an incremental listing listed %s; want persons and %s only", scope, current)
					}
				}
				if !got[current].Exhaustive() {
					t.Errorf("%s: not exhaustive: %v", current, got[current].Err)
				}
			},
		},
	}
	for _, tt := range tests {
		// synctest fails the test if a goroutine of the extractor is left blocked.
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := company()
				if tt.tweak != nil {
					tt.tweak(src)
				}
				e, err := New(src, WithClock(func() time.Time { return now }), WithEmploymentWorkers(2), WithCompensationWindows(4))
				if err != nil {
					t.Fatal(err)
				}
				got := collect(t, e.Extract(t.Context(), tt.req))
				if want := e.Scopes(tt.req); len(got) != len(want) {
					t.Errorf("scopes %v, want %v", len(got), want)
				}
				tt.check(t, got)
			})
		})
	}
}

func TestExtractIncrementalFilter(t *testing.T) {
	src := company()
	e, err := New(src, WithClock(func() time.Time { return now }), WithSkewMargin(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	collect(t, e.Extract(t.Context(), Request{PersonsUpdatedSince: since}))
	if len(src.personFilters) != 1 || !src.personFilters[0].UpdatedAfter.Equal(since.Add(-5*time.Minute)) {
		t.Errorf("person filters = %+v, want updated after since minus the skew", src.personFilters)
	}
}

func TestExtractWindows(t *testing.T) {
	src := company()
	e, err := New(src, WithClock(func() time.Time { return time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC) }), WithLookbackMonths(1),
		WithCompensationWindows(1))
	if err != nil {
		t.Fatal(err)
	}
	collect(t, e.Extract(t.Context(), Request{}))
	sort.Slice(src.windows, func(i, j int) bool { return src.windows[i].Window.Start.Before(src.windows[j].Window.Start) })
	var got []string
	for _, w := range src.windows {
		got = append(got, w.Window.String())
	}
	if want := "[2025-12-01..2025-12-31 2026-01-01..2026-01-31]"; fmt.Sprint(got) != want {
		t.Errorf("windows = %v, want %s", got, want)
	}
}

func TestExtractCancel(t *testing.T) { synctest.Test(t, testExtractCancel) }

func testExtractCancel(t *testing.T) {
	src := company()
	src.block = make(chan struct{})
	e, err := New(src, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := e.Extract(ctx, Request{Entities: []change.Entity{change.Persons}})
	<-src.block
	cancel()
	n := 0
	for range ch { // must be closed
		n++
	}
	if n > 1 {
		t.Errorf("got %d snapshots after cancel", n)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		opts []Option
	}{
		{"nil source", nil, nil},
		{"negative look-back", company(), []Option{WithLookbackMonths(-1)}},
		{"no workers", company(), []Option{WithEmploymentWorkers(0)}},
		{"negative skew", company(), []Option{WithSkewMargin(-time.Second)}},
		{"nil clock", company(), []Option{WithClock(nil)}},
		{"no person chains", company(), []Option{WithPersonChains(0)}},
		{"no compensation windows", company(), []Option{WithCompensationWindows(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.src, tt.opts...); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}

// listedPersons returns the persons of a persons snapshot.
func listedPersons(s Snapshot) change.PersonItems {
	p, _ := s.Items.(change.PersonItems)
	return p
}

// listedEmployments returns the employment listings of an employments snapshot.
func listedEmployments(s Snapshot) change.EmploymentItems {
	m, _ := s.Items.(change.EmploymentItems)
	return m
}

// employmentParts returns the parts of a snapshot, sorted, each "+" when complete, "-" when not.
func employmentParts(s Snapshot) []string {
	out := make([]string, 0, len(s.Parts))
	for _, p := range s.Parts {
		out = append(out, p.Scope+map[bool]string{true: "+", false: "-"}[p.Complete])
	}
	sort.Strings(out)
	return out
}

// listedCompensations returns the compensations of a compensation snapshot.
func listedCompensations(s Snapshot) change.CompensationItems {
	c, _ := s.Items.(change.CompensationItems)
	return c
}

// TestEveryEntityHasALister: the extractor lists every entity the descriptors name, and no
// other.
func TestEveryEntityHasALister(t *testing.T) {
	for _, e := range change.Entities() {
		if _, ok := listers[e]; !ok {
			t.Errorf("entity %s has no lister", e)
		}
	}
	if len(listers) != len(change.Entities()) {
		t.Errorf("%d listers for %d entities", len(listers), len(change.Entities()))
	}
}

// TestWindowScopeIsTheDescriptorsScope: a compensation lies in the scope of the window that
// lists it, as the differ's deletes require.
func TestWindowScopeIsTheDescriptorsScope(t *testing.T) {
	d, err := change.Describe(change.Compensations)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range Windows(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), 13) {
		for _, day := range []time.Time{w.Start, w.End} {
			got, err := d.ScopeOf(&change.Compensation{EffectiveFrom: day})
			if err != nil || got != WindowScope(w) {
				t.Errorf("effective %s: scope %q (%v), window scope %q", day.Format(time.DateOnly), got, err, WindowScope(w))
			}
		}
	}
}
