package extract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// simNow is the clock of the simulator tests: its data are anchored at this day.
var simNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// newSim starts a simulator with Personio's compensation limits at their defaults (opts may
// change them) and no rate limits, and a client for it.
func newSim(t *testing.T, opts personiotest.Options) (*personiotest.Server, *personio.Client) {
	t.Helper()
	fast := personiotest.Rate{PerMinute: 6e6, Burst: 1000}
	opts.NoRateLimit, opts.RateLimit, opts.CompensationRateLimit = true, fast, fast
	opts.Now = func() time.Time { return simNow }
	srv := personiotest.NewTestServer(t, opts)
	c, err := personio.New(personio.Config{BaseURL: srv.URL(), ClientID: personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret, MaxAttempts: 2,
		RateLimit:             personio.Rate{PerMinute: 6e6, Burst: 1000},
		CompensationRateLimit: personio.Rate{PerMinute: 6e6, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// truthIn returns the ids of the simulator's compensations effective in w.
func truthIn(srv *personiotest.Server, w personio.Window) []string {
	var out []string
	for _, c := range srv.Truth().Compensations {
		d, _ := time.Parse(time.DateOnly, c.EffectiveFrom)
		if !d.Before(w.Start) && !d.After(w.End) {
			out = append(out, c.ID)
		}
	}
	slices.Sort(out)
	return out
}

func sortedCompIDs(s Snapshot) []string {
	out := compIDs(s)
	slices.Sort(out)
	return out
}

// TestExtractAtMostTwoUnfilteredCompensationRequests: with 28 sub-windows per month and six
// months of look-back (196 listings at once), Personio never sees more than 2 compensation
// requests without a person.id filter in progress, and never answers
// compensations.too_many_requests.
func TestExtractAtMostTwoUnfilteredCompensationRequests(t *testing.T) {
	srv, c := newSim(t, personiotest.Options{Persons: 150, Seed: 3, CompensationMonths: 6,
		Faults: personiotest.Faults{Latency: 3 * time.Millisecond}, CompensationRetryAfter: time.Second})
	e, err := New(c, WithClock(func() time.Time { return simNow }), WithLookbackMonths(6), WithCompensationWindows(28))
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Compensations}}))
	if len(got) != 7 {
		t.Fatalf("%d snapshots, want 7 months", len(got))
	}
	for scope, s := range got {
		if !s.Exhaustive() {
			t.Errorf("%s: not exhaustive: %v", scope, s.Err)
		}
		if g, w := sortedCompIDs(s), truthIn(srv, s.Window); !slices.Equal(g, w) {
			t.Errorf("%s: listed %d compensations, truth has %d", scope, len(g), len(w))
		}
	}
	st := srv.Stats()
	if st.UnfilteredCompensationsPeak > 2 {
		t.Errorf("%d unfiltered compensation requests in progress at once, want at most 2", st.UnfilteredCompensationsPeak)
	}
	if n := st.CompensationErrors["compensations.too_many_requests"]; n != 0 {
		t.Errorf("%d replies compensations.too_many_requests, want 0", n)
	}
	t.Logf("%d compensation requests, peak %d in progress", st.Endpoint("GET /v2/compensations"), st.UnfilteredCompensationsPeak)
}

// recordingSource records every compensation request it passes on.
type recordingSource struct {
	Source
	mu   sync.Mutex
	reqs []string
}

func (r *recordingSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	r.mu.Lock()
	r.reqs = append(r.reqs, fmt.Sprintf("%s limit=%d", f.Window, f.Limit))
	r.mu.Unlock()
	return r.Source.ListCompensations(ctx, f, fn)
}

// TestExtractSplitsWindowPersonioStops: a month of a company of 10,000 persons is too large
// for one request under the simulator's default work limit (422
// compensations.unprocessable_content), and so are its halves; the extractor asks for quarters
// (both halves at once) and lists the month completely, never sending one request twice. The next sync starts with
// ranges that fit.
func TestExtractSplitsWindowPersonioStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a company of 10,000 persons")
	}
	srv, c := newSim(t, personiotest.Options{Persons: 10_000, Seed: 5, CompensationMonths: 1})
	src := &recordingSource{Source: c}
	e, err := New(src, WithClock(func() time.Time { return simNow }), WithLookbackMonths(0))
	if err != nil {
		t.Fatal(err)
	}
	s := collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Compensations}}))["compensations:2026-11"]
	if !s.Exhaustive() {
		t.Fatalf("not exhaustive: %v", s.Err)
	}
	want := truthIn(srv, s.Window)
	if g := sortedCompIDs(s); !slices.Equal(g, want) || len(want) < 9_000 {
		t.Fatalf("listed %d compensations, truth has %d", len(g), len(want))
	}
	st := srv.Stats()
	comp := st.Requests["GET /v2/compensations"]
	if comp[422] != 3 || st.CompensationErrors["compensations.unprocessable_content"] != 3 {
		t.Errorf("422 replies = %d, want 3 (the month and its two halves)", comp[422])
	}
	wantFirst := []string{
		"2026-11-01..2026-11-30 limit=100",
		"2026-11-01..2026-11-15 limit=100", "2026-11-01..2026-11-08 limit=100", "2026-11-09..2026-11-15 limit=100",
		"2026-11-16..2026-11-30 limit=100", "2026-11-16..2026-11-23 limit=100", "2026-11-24..2026-11-30 limit=100",
	}
	slices.Sort(wantFirst)
	if slices.Sort(src.reqs); !slices.Equal(src.reqs, wantFirst) {
		t.Errorf("listings asked for\n%s\nwant\n%s", strings.Join(src.reqs, "\n"), strings.Join(wantFirst, "\n"))
	}
	t.Logf("month of 10,000 persons: %d compensations in %d requests (%d stopped as too large, %d pages)",
		len(want), st.Endpoint("GET /v2/compensations"), comp[422], comp[200])

	// The next sync asks for ranges that fit at once.
	before := srv.Stats().Requests["GET /v2/compensations"][422]
	s = collect(t, e.Extract(t.Context(), Request{Entities: []change.Entity{change.Compensations}}))["compensations:2026-11"]
	if !s.Exhaustive() || len(listedCompensations(s)) != len(want) {
		t.Fatalf("second sync: exhaustive %v, %d items: %v", s.Exhaustive(), len(listedCompensations(s)), s.Err)
	}
	if n := srv.Stats().Requests["GET /v2/compensations"][422] - before; n != 0 {
		t.Errorf("second sync: %d requests stopped as too large, want 0", n)
	}
}

// TestExtractWindowTooLargeEvenForADay: when Personio stops even a one-day request at the
// smallest page size, that month's snapshot is incomplete (no deletes follow from it) and its
// error names the day and Personio's error type; the persons listing and the other months go
// on.
func TestExtractWindowTooLargeEvenForADay(t *testing.T) {
	// 100 persons × 1 day + 100 × 10 = 1,100 > 1,000: no request of a day fits, and a
	// month (of at most 31 days at limit 100) never has more work than 3,100 + 10,000.
	srv, c := newSim(t, personiotest.Options{Persons: 100, Seed: 7, CompensationMonths: 2, CompensationWorkLimit: 1_000})
	src := &recordingSource{Source: c}
	e, err := New(src, WithClock(func() time.Time { return simNow }), WithLookbackMonths(1))
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, e.Extract(t.Context(), Request{}))
	if p := got["persons"]; !p.Exhaustive() || len(listedPersons(p)) != len(srv.Truth().Persons) {
		t.Errorf("persons: exhaustive %v, %d persons: %v", p.Exhaustive(), len(listedPersons(p)), p.Err)
	}
	for _, scope := range []string{"compensations:2026-10", "compensations:2026-11"} {
		s := got[scope]
		if s.Complete || s.Exhaustive() || len(listedCompensations(s)) != 0 {
			t.Errorf("%s: complete %v, exhaustive %v, %d items; want an incomplete, empty listing", scope, s.Complete, s.Exhaustive(), len(listedCompensations(s)))
		}
		var tm *TooMuchDataError
		if !errors.As(s.Err, &tm) || !errors.Is(s.Err, personio.ErrTooMuchData) || !errors.Is(s.Err, ErrIncomplete) {
			t.Fatalf("%s: err = %v, want a TooMuchDataError", scope, s.Err)
		}
		msg := s.Err.Error()
		if tm.Window.Start != tm.Window.End || tm.Limit != 12 ||
			!strings.Contains(msg, scope) || !strings.Contains(msg, tm.Window.String()) || !strings.Contains(msg, "compensations.unprocessable_content") {
			t.Errorf("%s: error %q, want it to name the scope, the day and the error type", scope, msg)
		}
	}
	// No request was sent twice.
	seen := map[string]bool{}
	for _, r := range src.reqs {
		if seen[r] {
			t.Errorf("request %s sent twice", r)
		}
		seen[r] = true
	}
}
