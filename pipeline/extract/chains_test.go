package extract

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestPersonFiltersCover checks that the chains of a split listing match every instant at
// least once, whether the API compares created_at = b to the second or by day, and that the
// range chains never overlap.
func TestPersonFiltersCover(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for range 2000 {
		times = append(times, base.Add(time.Duration(rng.Int64N(int64(6*365*24*time.Hour)))).Truncate(time.Second))
	}
	// Instants exactly on and one second around each boundary are the risky ones.
	bounds := Boundaries(times, 6)
	if len(bounds) != 5 {
		t.Fatalf("got %d boundaries, want 5", len(bounds))
	}
	for _, b := range bounds {
		times = append(times, b, b.Add(-time.Second), b.Add(time.Second), b.Add(500*time.Millisecond))
	}
	filters := PersonFilters(bounds)
	if len(filters) != 2*len(bounds)+1 {
		t.Fatalf("got %d filters, want %d", len(filters), 2*len(bounds)+1)
	}
	for _, byDay := range []bool{false, true} {
		for _, at := range times {
			ranges, exact := 0, 0
			for _, f := range filters {
				if !f.CreatedAt.IsZero() {
					eq := at.Truncate(time.Second).Equal(f.CreatedAt)
					if byDay {
						eq = dateOf(at).Equal(dateOf(f.CreatedAt))
					}
					if eq {
						exact++
					}
					continue
				}
				if (f.CreatedAfter.IsZero() || at.After(f.CreatedAfter)) && (f.CreatedBefore.IsZero() || at.Before(f.CreatedBefore)) {
					ranges++
				}
			}
			if ranges > 1 {
				t.Fatalf("%s matched by %d range chains", at, ranges)
			}
			if ranges+exact == 0 {
				t.Fatalf("%s (by day %v) matched by no chain", at, byDay)
			}
		}
	}
}

func TestBoundaries(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		times []time.Time
		k     int
		want  string
	}{
		{"one chain", []time.Time{d(1), d(2)}, 1, "[]"},
		{"empty", nil, 6, "[]"},
		{"quartiles", []time.Time{d(8), d(1), d(2), d(3), d(4), d(5), d(6), d(7)}, 4, "[2026-01-03 2026-01-05 2026-01-07]"},
		{"duplicates collapse", []time.Time{d(1), d(1), d(1), d(2)}, 4, "[2026-01-01 2026-01-02]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, b := range Boundaries(tt.times, tt.k) {
				got = append(got, b.Format(time.DateOnly))
			}
			if g := fmt.Sprint(got); g != tt.want {
				t.Errorf("Boundaries = %s, want %s", g, tt.want)
			}
		})
	}
}

func TestSubWindows(t *testing.T) {
	month := func(y int, m time.Month) personio.Window {
		start := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return personio.Window{Start: start, End: start.AddDate(0, 1, -1)}
	}
	tests := []struct {
		w    personio.Window
		n    int
		want string
	}{
		{month(2026, 2), 4, "[2026-02-01..2026-02-07 2026-02-08..2026-02-14 2026-02-15..2026-02-21 2026-02-22..2026-02-28]"},
		{month(2028, 2), 4, "[2028-02-01..2028-02-08 2028-02-09..2028-02-15 2028-02-16..2028-02-22 2028-02-23..2028-02-29]"},
		{month(2026, 1), 4, "[2026-01-01..2026-01-08 2026-01-09..2026-01-16 2026-01-17..2026-01-24 2026-01-25..2026-01-31]"},
		{month(2026, 4), 1, "[2026-04-01..2026-04-30]"},
		{personio.Window{Start: time.Date(2026, 4, 29, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)}, 4,
			"[2026-04-29..2026-04-29 2026-04-30..2026-04-30]"},
	}
	for _, tt := range tests {
		t.Run(tt.w.String(), func(t *testing.T) {
			subs := SubWindows(tt.w, tt.n)
			var got []string
			for i, s := range subs {
				got = append(got, s.String())
				if err := s.Validate(); err != nil {
					t.Errorf("sub-window %s: %v", s, err)
				}
				if i > 0 && !s.Start.Equal(subs[i-1].End.AddDate(0, 0, 1)) {
					t.Errorf("gap or overlap before %s", s)
				}
			}
			if g := fmt.Sprint(got); g != tt.want {
				t.Errorf("SubWindows = %s, want %s", g, tt.want)
			}
		})
	}
}

func TestUnionCompensations(t *testing.T) {
	a := personio.Compensation{ID: "c1", EffectiveFrom: "2026-11-01", Amount: personio.Money{Value: "100", Currency: "EUR"}}
	changed := a
	changed.Amount.Value = "200"
	noID := personio.Compensation{Person: personio.Ref{ID: "p"}, EffectiveFrom: "2026-11-02"}
	got := unionCompensations([][]personio.Compensation{{a, noID}, {a, noID}, {changed}})
	if len(got) != 3 || got[0].Amount.Value != "100" || got[1].Person.ID != "p" || got[2].Amount.Value != "200" {
		t.Errorf("union = %+v, want c1, the one without id, then the conflicting c1", got)
	}
}

func TestExtractPersonChains(t *testing.T) {
	tests := []struct {
		name      string
		chains    int
		failChain func(personio.PersonFilter) bool
		complete  bool
	}{
		{name: "one chain", chains: 1, complete: true},
		{name: "three chains", chains: 3, complete: true},
		{name: "an exact boundary listing fails", chains: 3, complete: false,
			failChain: func(f personio.PersonFilter) bool { return !f.CreatedAt.IsZero() }},
		{name: "the last range fails", chains: 3, complete: false,
			failChain: func(f personio.PersonFilter) bool { return f.CreatedBefore.IsZero() && !f.CreatedAfter.IsZero() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := company()
				src.failChain = tt.failChain
				e, err := New(src, WithClock(func() time.Time { return now }), WithPersonChains(tt.chains))
				if err != nil {
					t.Fatal(err)
				}
				var known []time.Time
				for _, p := range src.persons {
					c, _ := time.Parse(time.RFC3339, p.CreatedAt)
					known = append(known, c)
				}
				got := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Persons}, PersonsCreatedAt: known}))
				p := got["persons"]
				if p.Complete != tt.complete || p.Exhaustive() != tt.complete {
					t.Fatalf("complete=%v exhaustive=%v err=%v, want complete=%v", p.Complete, p.Exhaustive(), p.Err, tt.complete)
				}
				if !tt.complete && !errors.Is(p.Err, ErrIncomplete) {
					t.Errorf("err = %v, want ErrIncomplete", p.Err)
				}
				if want := 2*tt.chains - 1; len(src.personFilters) != want {
					t.Errorf("%d listings, want %d", len(src.personFilters), want)
				}
				if tt.complete {
					if g := fmt.Sprint(personIDs(p)); g != "[1 2 3 4 5]" {
						t.Errorf("persons = %s", g)
					}
				}
			})
		})
	}
}

func TestExtractLearnsBoundaries(t *testing.T) {
	src := company()
	e, err := New(src, WithClock(func() time.Time { return now }), WithPersonChains(3))
	if err != nil {
		t.Fatal(err)
	}
	collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Persons}}))
	// The first listing knows nothing: an even split from EarliestCreatedAt to now.
	var first time.Time
	for _, f := range src.personFilters {
		if f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() {
			first = f.CreatedBefore
		}
	}
	if want := EarliestCreatedAt.Add(now.Sub(EarliestCreatedAt) / 3).Truncate(time.Second); !first.Equal(want) {
		t.Errorf("first boundary %s, want %s", first, want)
	}
	src.personFilters = nil
	got := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Persons}}))
	if !got["persons"].Exhaustive() || len(listedPersons(got["persons"])) != 5 {
		t.Fatalf("second listing: %v, %d persons", got["persons"].Err, len(listedPersons(got["persons"])))
	}
	var bounds []string
	for _, f := range src.personFilters {
		if !f.CreatedAt.IsZero() {
			bounds = append(bounds, f.CreatedAt.Format(time.DateOnly))
		}
	}
	if g := fmt.Sprint(bounds); g != "[2026-11-02 2026-11-04]" && g != "[2026-11-04 2026-11-02]" {
		t.Errorf("second listing split at %s, want the quantiles of the first", g)
	}
}

// TestExtractPersonsCarryEmploymentIDs: a persons listing reads no employments: persons carry
// their employments as ids, the employments stream lists them (when asked).
func TestExtractPersonsCarryEmploymentIDs(t *testing.T) {
	src := company()
	e, err := New(src, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Persons}}))
	p := got["persons"]
	if !p.Exhaustive() || fmt.Sprint(personIDs(p)) != "[1 2 3 4 5]" {
		t.Fatalf("persons: exhaustive=%v ids=%v err=%v", p.Exhaustive(), personIDs(p), p.Err)
	}
	if src.employmentCalls != 0 {
		t.Errorf("%d employment listings, want none", src.employmentCalls)
	}
	for _, q := range listedPersons(p) {
		if q.EmploymentList != nil || len(q.Employments) != 1 {
			t.Errorf("person %s: employment list %v, refs %v; want no list and the refs", q.ID, q.EmploymentList, q.Employments)
		}
	}
}

func TestExtractSubWindowFails(t *testing.T) {
	src := &failingWindowSource{fakeSource: company()}
	e, err := New(src, WithClock(func() time.Time { return now }), WithLookbackMonths(0), WithCompensationWindows(4))
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, e.Extract(t.Context(), Request{}))
	s := got["compensations:2026-11"]
	if s.Complete || !errors.Is(s.Err, errBoom) || fmt.Sprint(compIDs(s)) != "[c4]" {
		t.Errorf("complete=%v err=%v items=%v, want incomplete with c4", s.Complete, s.Err, compIDs(s))
	}
}

// failingWindowSource fails the sub-window listing that does not start on the first.
type failingWindowSource struct{ *fakeSource }

func (f *failingWindowSource) ListCompensations(ctx context.Context, flt personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	if flt.Window.Start.Day() != 1 {
		return errBoom
	}
	return f.fakeSource.ListCompensations(ctx, flt, fn)
}
