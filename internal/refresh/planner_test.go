package refresh

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

const lots = 24 * time.Hour // room when no scheduled sync is near

func newPlanner(t *testing.T, mod func(*Config)) *Planner {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func persons(n int, updated time.Time) []Person {
	out := make([]Person, n)
	for i := range out {
		out[i] = Person{ID: fmt.Sprintf("p%05d", i), UpdatedAt: updated}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"short period", func(c *Config) { c.Period = time.Second }},
		{"zero share", func(c *Config) { c.Share = 0 }},
		{"share above 1", func(c *Config) { c.Share = 1.5 }},
		{"no budget", func(c *Config) { c.Budget = 0 }},
		{"no batch", func(c *Config) { c.MaxBatch = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mod(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New(%+v) = %v, want ErrConfig", cfg, err)
			}
		})
	}
}

// Priority persons (never verified, or updated_at moved since the last verification) come
// first, then the oldest verification, ties by id.
func TestNextOrder(t *testing.T) {
	p := newPlanner(t, func(c *Config) { c.MaxBatch = 10 })
	p.Restore([]Record{
		{PersonID: "a", Verification: Verification{VerifiedAt: t0.Add(-3 * time.Hour), UpdatedAt: t0.Add(-48 * time.Hour)}},
		{PersonID: "b", Verification: Verification{VerifiedAt: t0.Add(-5 * time.Hour), UpdatedAt: t0.Add(-48 * time.Hour)}},
		{PersonID: "c", Verification: Verification{VerifiedAt: t0.Add(-1 * time.Hour), UpdatedAt: t0.Add(-48 * time.Hour)}},
		{PersonID: "d", Verification: Verification{VerifiedAt: t0.Add(-1 * time.Hour), UpdatedAt: t0.Add(-48 * time.Hour)}},
	})
	old := t0.Add(-48 * time.Hour)
	p.Observe(t0, []Person{{"a", old}, {"b", old}, {"c", t0.Add(-time.Minute)}, {"d", old}, {"new", old}}, true)
	// Moved or never verified (longest waiting first), alone in their batch at the cap...
	first := p.Next(t0, lots)
	if want := []string{"c", "new"}; !slices.Equal(first.Persons, want) {
		t.Fatalf("Next = %v, want %v", first.Persons, want)
	}
	if held := p.Next(t0, lots); len(held.Persons) != 0 || held.Wait != 800*time.Millisecond {
		t.Fatalf("Next right after = %+v, want a wait of 2 persons at 2.5/s", held)
	}
	// ... then the oldest verification first, ties by id.
	if got, want := p.Next(t0.Add(time.Second), lots).Persons, []string{"b", "a", "d"}; !slices.Equal(got, want) {
		t.Fatalf("second Next = %v, want %v", got, want)
	}
}

// A batch fits before the next scheduled sync: no more persons than the budget reads twice
// over in the room left; no room, no batch.
func TestNextFitsBeforeSync(t *testing.T) {
	p := newPlanner(t, nil)
	p.Observe(t0, persons(100, t0), true)
	for _, tc := range []struct {
		room time.Duration
		want int
	}{{0, 0}, {-time.Minute, 0}, {300 * time.Millisecond, 0}, {2 * time.Second, 5}, {4 * time.Second, 10}, {time.Hour, DefaultMaxBatch}} {
		p := newPlanner(t, nil)
		p.Observe(t0, persons(100, t0), true)
		plan := p.Next(t0, tc.room)
		if len(plan.Persons) != tc.want {
			t.Errorf("room %s: %d persons, want %d", tc.room, len(plan.Persons), tc.want)
		}
	}
}

// The planner never plans faster than Share × Budget, whatever the backlog.
func TestPaceCappedAtShare(t *testing.T) {
	p := newPlanner(t, func(c *Config) { c.Share = 0.2 }) // 1 request per second
	p.Observe(t0, persons(5000, t0), true)
	now, planned := t0, 0
	end := t0.Add(10 * time.Minute)
	for now.Before(end) {
		plan := p.Next(now, lots)
		if len(plan.Persons) == 0 {
			if plan.Wait <= 0 {
				t.Fatalf("at %s: nothing planned and no wait", now.Sub(t0))
			}
			now = now.Add(plan.Wait)
			continue
		}
		planned += len(plan.Persons)
		p.Done(now, plan, plan.Persons)
	}
	// 600 s at 1/s, plus the batch started before the end.
	if limit := 600 + DefaultMaxBatch; planned > limit {
		t.Fatalf("planned %d persons in 10 min at a 0.2 share of 5/s, want <= %d", planned, limit)
	}
	if planned < 600 {
		t.Fatalf("planned %d persons in 10 min with a backlog, want the cap (600)", planned)
	}
}

// Persons not verified by a batch (their listing failed) are planned again; the verified ones
// give records to write and are no longer priority.
func TestDonePartial(t *testing.T) {
	p := newPlanner(t, func(c *Config) { c.MaxBatch = 3 })
	p.Observe(t0, persons(3, t0), true)
	plan := p.Next(t0, lots)
	recs := p.Done(t0.Add(time.Second), plan, []string{"p00001"})
	want := []Record{{PersonID: "p00001", Verification: Verification{VerifiedAt: t0.Add(time.Second), UpdatedAt: t0}}}
	if !slices.Equal(recs, want) {
		t.Fatalf("Done records = %+v, want %+v", recs, want)
	}
	next := p.Next(t0.Add(time.Hour), lots)
	if !slices.Equal(next.Persons, []string{"p00000", "p00002"}) {
		t.Fatalf("next batch = %v, want the two unverified (priority) only", next.Persons)
	}
	if st := p.StatusAt(t0.Add(time.Hour)); st.Priority != 0 || st.VerifiedInPeriod != 1 {
		t.Fatalf("status = %+v, want 0 priority (all in flight or verified), 1 verified", st)
	}
}

// Persons in flight are not planned twice; a complete listing drops absent persons.
func TestObserveCompleteRemoves(t *testing.T) {
	p := newPlanner(t, nil)
	p.Observe(t0, persons(3, t0), true)
	p.Observe(t0, []Person{{ID: "p00003", UpdatedAt: t0}}, false) // incremental: adds
	if got := p.StatusAt(t0).Persons; got != 4 {
		t.Fatalf("persons after incremental = %d, want 4", got)
	}
	removed := p.Observe(t0, persons(2, t0), true)
	if !slices.Equal(removed, []string{"p00002", "p00003"}) {
		t.Fatalf("removed = %v", removed)
	}
	if got := p.Next(t0, lots).Persons; !slices.Equal(got, []string{"p00000", "p00001"}) {
		t.Fatalf("Next = %v", got)
	}
	if got := p.Next(t0.Add(time.Hour), lots).Persons; len(got) != 0 {
		t.Fatalf("in-flight persons planned again: %v", got)
	}
}

// After a restart the rotation continues from the records: persons verified recently are not
// read again at once, only those whose updated_at moved or that were never verified.
func TestRestoreResumes(t *testing.T) {
	const n = 1000
	p := newPlanner(t, nil)
	var recs []Record
	for i, x := range persons(n, t0.Add(-48*time.Hour)) {
		// Verified evenly over the last 20 hours.
		recs = append(recs, Record{PersonID: x.ID, Verification: Verification{
			VerifiedAt: t0.Add(-time.Duration(i) * 20 * time.Hour / n), UpdatedAt: x.UpdatedAt}})
	}
	p.Restore(recs)
	listed := persons(n, t0.Add(-48*time.Hour))
	listed[500].UpdatedAt = t0.Add(-time.Minute) // moved since its verification
	p.Observe(t0, listed, true)
	st := p.StatusAt(t0)
	if st.Priority != 1 || st.Restored != n || st.VerifiedInPeriod != n || st.Behind {
		t.Fatalf("status after restore = %+v, want 1 priority, %d restored and verified, not behind", st, n)
	}
	if want := (20*time.Hour - 20*time.Hour/n).Seconds(); st.OldestUnverifiedAgeSeconds != want {
		t.Fatalf("oldest age = %v, want %v", st.OldestUnverifiedAgeSeconds, want)
	}
	// The first hour reads the moved person first, then about what the period needs: the
	// persons whose deadline (verified + period - slack) comes within the hour, not everyone.
	now, read := t0, []string{}
	for now.Before(t0.Add(time.Hour)) {
		plan := p.Next(now, lots)
		if len(plan.Persons) == 0 {
			now = now.Add(plan.Wait)
			continue
		}
		read = append(read, plan.Persons...)
		p.Done(now, plan, plan.Persons)
	}
	if read[0] != "p00500" {
		t.Fatalf("first read %s, want the moved person p00500", read[0])
	}
	if len(read) > 200 {
		t.Fatalf("read %d of %d persons in the first hour after a restart; the records should spare them", len(read), n)
	}
}

// A share too small for the period is reported: Behind, the required share, the metric.
func TestBehindReported(t *testing.T) {
	reg := prometheus.NewRegistry()
	// 10,000 persons in 2 h need 1.4 requests/s: more than 0.1 × 5/s, less than 0.5 × 5/s.
	p := newPlanner(t, func(c *Config) { c.Period = 2 * time.Hour; c.Share = 0.1; c.Registerer = reg })
	p.Restore(func() (r []Record) {
		for _, x := range persons(10000, t0) {
			r = append(r, Record{PersonID: x.ID, Verification: Verification{VerifiedAt: t0, UpdatedAt: t0}})
		}
		return r
	}())
	p.Observe(t0, persons(10000, t0), true)
	st := p.StatusAt(t0)
	if !st.Behind || st.RequiredShare <= 0.1 {
		t.Fatalf("status = %+v, want behind with a required share above 0.1", st)
	}
	if got := testutil.ToFloat64(p.metrics.behind); got != 1 {
		t.Fatalf("personio_cdc_employment_refresh_behind = %v, want 1", got)
	}
	if got := testutil.ToFloat64(p.metrics.share); got != 0.1 {
		t.Fatalf("personio_cdc_employment_refresh_budget_share = %v, want 0.1", got)
	}
	// With the default share the same period is kept.
	q := newPlanner(t, func(c *Config) { c.Period = 2 * time.Hour })
	q.Restore(func() (r []Record) {
		for _, x := range persons(10000, t0) {
			r = append(r, Record{PersonID: x.ID, Verification: Verification{VerifiedAt: t0, UpdatedAt: t0}})
		}
		return r
	}())
	q.Observe(t0, persons(10000, t0), true)
	if st := q.StatusAt(t0); st.Behind {
		t.Fatalf("status at share 0.5 = %+v, want not behind", st)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	v := Verification{VerifiedAt: t0, UpdatedAt: t0.Add(-time.Hour)}
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || !got.VerifiedAt.Equal(v.VerifiedAt) || !got.UpdatedAt.Equal(v.UpdatedAt) {
		t.Fatalf("Decode(Encode(%+v)) = %+v, %v", v, got, err)
	}
	for _, bad := range []string{"", "{", `{"person_updated_at":"2026-01-01T00:00:00Z"}`} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrRecord) {
			t.Errorf("Decode(%q) = %v, want ErrRecord", bad, err)
		}
	}
	if id, ok := ParseKey("acme", Key("acme", "42")); !ok || id != "42" {
		t.Fatalf("ParseKey = %q, %v", id, ok)
	}
	for _, k := range []string{"other:42", "acme:", "acme"} {
		if _, ok := ParseKey("acme", k); ok {
			t.Errorf("ParseKey(%q) ok", k)
		}
	}
}
