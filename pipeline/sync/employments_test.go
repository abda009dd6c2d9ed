package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	gosync "sync"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// employmentSource fails or empties the employment listings of chosen persons, and can break
// the persons listing off after its first page.
type employmentSource struct {
	extract.Source
	mu          gosync.Mutex
	fail        map[string]bool // person id → the listing fails
	empty       map[string]bool // person id → the listing completes with no employment
	personsFail bool            // the persons listing fails after its first page
	yearZero    string          // a person listed with a created_at in year 0 (an invalid item)
}

var errEmploymentsBroken = errors.New("employment listing broken")

func (s *employmentSource) ListEmployments(ctx context.Context, personID string, f personio.EmploymentFilter, fn func([]personio.Employment) error) error {
	s.mu.Lock()
	fail, empty := s.fail[personID], s.empty[personID]
	s.mu.Unlock()
	switch {
	case fail:
		return fmt.Errorf("list employments: %w", errEmploymentsBroken)
	case empty:
		return nil
	}
	return s.Source.ListEmployments(ctx, personID, f, fn)
}

func (s *employmentSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	s.mu.Lock()
	broken, yearZero := s.personsFail, s.yearZero
	s.mu.Unlock()
	pages := 0
	return s.Source.ListPersons(ctx, f, func(p []personio.Person) error {
		if pages++; broken && pages > 1 {
			return fmt.Errorf("list persons: %w", errEmploymentsBroken)
		}
		for i := range p {
			if p[i].ID == yearZero {
				p[i].CreatedAt = "0000-01-01T00:00:00Z"
			}
		}
		return fn(p)
	})
}

// personWithEmployments returns an active person with at least n employments.
func personWithEmployments(t *testing.T, truth personiotest.Truth, n int, not ...string) string {
	t.Helper()
	for _, p := range truth.Persons {
		if len(truth.Employments[p.ID]) >= n && !slices.Contains(not, p.ID) {
			return p.ID
		}
	}
	t.Fatalf("no person with %d employments", n)
	return ""
}

// deletes returns the keys an entity's topic got "d" events for since the replay before.
func deletes(rp, before oracle.Replay) []string {
	seen := map[string]bool{}
	for _, m := range before.Messages {
		seen[m.Event.EventID] = true
	}
	var out []string
	for _, m := range rp.Messages {
		if !m.Tombstone && m.Event.Op == change.Delete && !seen[m.Event.EventID] {
			out = append(out, m.Key)
		}
	}
	slices.Sort(out)
	return out
}

// TestRunEmploymentsFullSyncChurnFullSync: a full sync publishes every employment on its own
// topic and persons with their employment ids only; employments that change without their
// person's updated_at moving are found by the next full sync, exactly as the truth says, and a
// person gone from the complete persons listing takes their employments along.
func TestRunEmploymentsFullSyncChurnFullSync(t *testing.T) {
	h := newHarness(t, 30)
	r := h.runner()
	res := run(t, r, Full)
	want := h.expected()
	if want.Len(change.Employments) == 0 {
		t.Fatal("the truth has no employments")
	}
	if got := changes(res, change.Employments); got["c"] != want.Len(change.Employments) {
		t.Errorf("employments changes %v, want a create per employment (%d)", got, want.Len(change.Employments))
	}
	rp := h.checkTopics(want)
	for _, m := range rp[change.Persons].Messages {
		for _, e := range m.Event.After.(*change.Person).Employments {
			if e.Status != nil || e.StartDate != nil || e.WeeklyWorkingHours != nil {
				t.Fatalf("person %s carries employment details; want ids only", m.Key)
			}
		}
	}

	churn := h.sim.Churn(personiotest.Churn{EmploymentChanges: 3, CostCenterChanges: 2, Deletions: 1})
	if len(churn.EmploymentChanges)+len(churn.CostCenterChanges) == 0 || len(churn.Deletions) != 1 {
		t.Fatalf("churn %+v", churn)
	}
	// An incremental sync sees no employment change: no person's updated_at moved.
	before := h.replay(change.Employments)
	res = run(t, r, Incremental)
	if got := changes(res, change.Employments); len(got) != 0 {
		t.Errorf("incremental sync published employment changes %v; no person moved", got)
	}
	res = run(t, r, Full)
	if got := changes(res, change.Employments); got["u"] == 0 {
		t.Errorf("full sync after the churn: employment changes %v, want updates", got)
	}
	rp = h.checkTopics(h.expected())
	var wantGone []string
	for _, k := range oracle.Keys(want[change.Employments]) {
		if _, ok := h.expected()[change.Employments][k]; !ok {
			wantGone = append(wantGone, k)
		}
	}
	if got := deletes(rp[change.Employments], before); len(wantGone) == 0 || !slices.Equal(got, wantGone) {
		t.Errorf("employment deletes %v, want those of the person gone %v", got, wantGone)
	}
}

// TestRunFailedEmploymentListingDeletesNothingOfThatPerson: a person whose employment listing
// fails keeps every published employment (no "d"), while the others' listings complete.
// The persons topic does not suffer from it.
func TestRunFailedEmploymentListingDeletesNothingOfThatPerson(t *testing.T) {
	h := newHarness(t, 30)
	src := &employmentSource{Source: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	truth := h.sim.Truth()
	victim := personWithEmployments(t, truth, 1)
	src.fail = map[string]bool{victim: true}
	h.sim.Churn(personiotest.Churn{EmploymentChanges: 3})
	before := h.replay(change.Employments)

	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("full sync: %v", err)
	}
	er := res.Entity(string(change.Employments))
	if er.Outcome != Partial || er.Changes["d"] != 0 || !slices.Equal(er.IncompleteScopes, []string{"employments"}) {
		t.Errorf("employments %+v; want partial, no delete, the employments listing incomplete", er)
	}
	if pr := res.Entity(string(change.Persons)); pr.Outcome != Complete {
		t.Errorf("persons %s; a failed employment listing is not the persons'", pr.Outcome)
	}
	rp := h.replay(change.Employments)
	if d := deletes(rp, before); len(d) != 0 {
		t.Errorf("deletes %v after a failed employment listing", d)
	}
	for _, e := range truth.Employments[victim] {
		if _, ok := rp.State[change.Employments][change.Key(tenant, e.ID)]; !ok {
			t.Errorf("employment %s of the person whose listing failed is gone from the topic", e.ID)
		}
	}
	// Everyone else's employments are as Personio has them.
	want := h.expected()
	for k, hash := range want[change.Employments] {
		if got, ok := rp.State[change.Employments][k]; !ok || (got != hash && !slices.ContainsFunc(truth.Employments[victim], func(e personio.Employment) bool { return change.Key(tenant, e.ID) == k })) {
			t.Errorf("employment %s: on the topic %v, differs %v", k, ok, got != hash)
		}
	}

	// Once the listing works again, the next full sync publishes the truth.
	src.fail = nil
	run(t, r, Full)
	h.checkTopics(h.expected())
}

// TestRunIncompletePersonsListingDeletesNoEmployment: a person missing from a persons
// listing that broke off keeps their employments: only a complete, unfiltered persons listing
// says a person is gone. The guards are off, so that only the scope withholds the deletes.
func TestRunIncompletePersonsListingDeletesNoEmployment(t *testing.T) {
	h := newHarness(t, 120) // 3 pages of 50
	src := &employmentSource{Source: h.client}
	r := h.runner(func(c *Config) { c.Source, c.PersonChains, c.DeleteGuardOverride = src, 1, true })
	run(t, r, Full)
	stored := h.replay(change.Employments)
	h.sim.Churn(personiotest.Churn{Deletions: 1})
	src.personsFail = true
	res, _ := r.Run(t.Context(), Full)
	if pr := res.Entity(string(change.Persons)); pr.Outcome != Partial || pr.Extracted > 50 {
		t.Fatalf("persons %+v; want the listing broken off after its first page", pr)
	}
	if er := res.Entity(string(change.Employments)); er.Changes["d"] != 0 {
		t.Errorf("employments %+v; a broken persons listing deleted employments", er)
	}
	rp := h.replay(change.Employments)
	if d := deletes(rp, stored); len(d) != 0 {
		t.Errorf("deletes %v", d)
	}
	if len(rp.State[change.Employments]) != len(stored.State[change.Employments]) {
		t.Errorf("%d employments on the topic, %d before", len(rp.State[change.Employments]), len(stored.State[change.Employments]))
	}
	// The complete listing that follows deletes the employments of the person gone.
	src.personsFail = false
	run(t, r, Full)
	h.checkTopics(h.expected())
}

// TestRunEmploymentGuardsWithinScope: the mass-delete guard counts within the scopes listed.
// A credential that lost the employments scope (every listing complete and empty) deletes
// nothing; a run over a few persons (WithEmploymentsOf, as a refresh asks) whose listings come
// back empty for a quarter of them is refused, although that is a small share of every stored
// employment; and the same few deletes inside a full sync pass.
func TestRunEmploymentGuardsWithinScope(t *testing.T) {
	h := newHarness(t, 60)
	src := &employmentSource{Source: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	truth := h.sim.Truth()
	stored := h.replay(change.Employments)
	if n := len(stored.State[change.Employments]); n < 50 {
		t.Fatalf("%d employments stored; want at least 50", n)
	}

	all := map[string]bool{}
	for _, p := range truth.Persons {
		all[p.ID] = true
	}
	src.empty = all
	res, err := r.Run(t.Context(), Full)
	if er := res.Entity(string(change.Employments)); er.Outcome != Failed || er.Guard != GuardMassDelete || err == nil {
		t.Errorf("every employment listing empty: employments %+v, err %v; want the mass-delete guard", er, err)
	}
	if pr := res.Entity(string(change.Persons)); pr.Outcome != Complete {
		t.Errorf("persons %s; the guard withholds the employments only", pr.Outcome)
	}

	// 12 persons with one employment each, 3 of them listed empty: 3 deletes of 12 in scope.
	var few []string
	for _, p := range truth.Persons {
		if len(truth.Employments[p.ID]) == 1 {
			few = append(few, p.ID)
		}
		if len(few) == 12 {
			break
		}
	}
	if len(few) < 12 {
		t.Fatalf("only %d persons with one employment", len(few))
	}
	src.empty = map[string]bool{few[0]: true, few[1]: true, few[2]: true}
	res, err = r.Run(t.Context(), Full, WithEntities(change.Employments), WithEmploymentsOf(few...))
	if er := res.Entity(string(change.Employments)); er.Outcome != Failed || er.Guard != GuardMassDelete || err == nil {
		t.Errorf("3 of 12 listed persons empty: employments %+v, err %v; want the guard (3 deletes of 12 in scope)", er, err)
	}
	if d := deletes(h.replay(change.Employments), stored); len(d) != 0 {
		t.Fatalf("deletes %v despite the guard", d)
	}

	// The same three in a full sync: 3 of every stored employment, under the share.
	res, err = r.Run(t.Context(), Full)
	if er := res.Entity(string(change.Employments)); err != nil || er.Outcome != Complete || er.Changes["d"] != 3 {
		t.Errorf("3 persons empty in a full sync: employments %+v, err %v; want 3 deletes", er, err)
	}
}

// TestRunGoneEmploymentsOnly: a run WithGoneEmploymentsOnly (the scheduled syncs while a
// rolling refresh reads the employments) sends no employment request, deletes the employments
// of the person gone from its complete persons listing, and leaves everyone else's as they
// are; the guard weighs those deletes against every stored employment.
func TestRunGoneEmploymentsOnly(t *testing.T) {
	h := newHarness(t, 40)
	r := h.runner()
	run(t, r, Full)
	stored := h.replay(change.Employments)
	churn := h.sim.Churn(personiotest.Churn{Deletions: 1, EmploymentChanges: 3})
	gone := churn.Deletions[0]
	const emps = "GET /v2/persons/{person_id}/employments"
	before := h.sim.Stats().Endpoint(emps)

	res, err := r.Run(t.Context(), Full, WithGoneEmploymentsOnly())
	if err != nil {
		t.Fatalf("full sync: %v (%+v)", err, res)
	}
	if n := h.sim.Stats().Endpoint(emps) - before; n != 0 {
		t.Errorf("%d employment requests; want none", n)
	}
	var wantGone []string
	for _, m := range stored.Messages {
		if m.Event.After != nil && m.Event.After.SubjectID() == gone && !slices.Contains(wantGone, m.Key) {
			wantGone = append(wantGone, m.Key)
		}
	}
	slices.Sort(wantGone)
	rp := h.replay(change.Employments)
	if got := deletes(rp, stored); len(wantGone) == 0 || !slices.Equal(got, wantGone) {
		t.Errorf("deletes %v, want the employments of the person gone %v", got, wantGone)
	}
	if er := res.Entity(string(change.Employments)); er.Outcome != Complete || er.Changes["u"] != 0 {
		t.Errorf("employments %+v; want complete, nobody's employment read", er)
	}
	// The next normal full sync reads everyone's and publishes the truth.
	run(t, r, Full)
	h.checkTopics(h.expected())
}

// TestRunInvalidPersonDeletesNoEmployment: a persons listing that ran to its end with an id on
// every item, but skipped an invalid one, deletes no person; the employments of the persons
// it did not list are not deleted either, so that a person and their employments leave the
// topics together. Before, the employments of a person gone went while the person stayed, with
// employment ids pointing at deleted records.
func TestRunInvalidPersonDeletesNoEmployment(t *testing.T) {
	h := newHarness(t, 30)
	src := &employmentSource{Source: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	stored := h.replay(change.Employments)
	gone := h.sim.Churn(personiotest.Churn{Deletions: 1}).Deletions
	if len(gone) != 1 {
		t.Fatalf("churn deleted %v", gone)
	}
	src.mu.Lock()
	src.yearZero = personWithEmployments(t, h.sim.Truth(), 1, gone...)
	src.mu.Unlock()

	res, err := r.Run(t.Context(), Full)
	if err != nil {
		t.Fatalf("full sync: %v", err)
	}
	if pr := res.Entity(string(change.Persons)); pr.Outcome != Partial || pr.Changes["d"] != 0 {
		t.Fatalf("persons %+v; want partial (the invalid item) without deletes", pr)
	}
	if er := res.Entity(string(change.Employments)); er.Changes["d"] != 0 {
		t.Errorf("employments %+v; the persons listing that deleted nobody deleted employments", er)
	}
	if d := deletes(h.replay(change.Employments), stored); len(d) != 0 {
		t.Errorf("employment deletes %v while their person %s stays on the persons topic", d, gone[0])
	}

	// Once the item is valid again, the person and their employments go together.
	src.mu.Lock()
	src.yearZero = ""
	src.mu.Unlock()
	run(t, r, Full)
	h.checkTopics(h.expected())
}
