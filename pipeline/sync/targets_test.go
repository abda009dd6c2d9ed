package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// targetSource is the client with chosen persons gone (left out of every persons listing, 404
// on GET /v2/persons/{id}), others hidden from the id filter only, and GET failing for some.
type targetSource struct {
	*personio.Client
	mu        gosync.Mutex
	gone      map[string]bool // person id → gone from Personio
	hidden    map[string]bool // person id → the id filter leaves it out (the person exists)
	getFails  map[string]bool // person id → GET /v2/persons/{id} answers 500
	invalid   map[string]bool // person id → listed with a custom attribute without id
	byIDCalls [][]string      // the ids of each persons request with an id filter
	gets      []string        // the ids asked for alone
	block     chan struct{}   // when set, listings by id wait for it to close
	blocked   chan struct{}   // closed when a listing by id waits on block
}

func (s *targetSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	s.mu.Lock()
	if len(f.IDs) > 0 {
		s.byIDCalls = append(s.byIDCalls, slices.Clone(f.IDs))
	}
	block, blocked := s.block, s.blocked
	s.mu.Unlock()
	if block != nil && len(f.IDs) > 0 {
		close(blocked)
		<-block
	}
	return s.Client.ListPersons(ctx, f, func(page []personio.Person) error {
		s.mu.Lock()
		kept := slices.DeleteFunc(slices.Clone(page), func(p personio.Person) bool {
			return s.gone[p.ID] || (len(f.IDs) > 0 && s.hidden[p.ID])
		})
		for i := range kept {
			if s.invalid[kept[i].ID] {
				kept[i].CustomAttributes = append(slices.Clone(kept[i].CustomAttributes), personio.CustomAttribute{})
			}
		}
		s.mu.Unlock()
		return fn(kept)
	})
}

func (s *targetSource) GetPerson(ctx context.Context, id string) (personio.Person, error) {
	s.mu.Lock()
	s.gets = append(s.gets, id)
	gone, fails := s.gone[id], s.getFails[id]
	s.mu.Unlock()
	switch {
	case gone:
		return personio.Person{}, fmt.Errorf("get person: %w", &personio.APIError{Status: http.StatusNotFound})
	case fails:
		return personio.Person{}, fmt.Errorf("get person: %w", &personio.APIError{Status: http.StatusInternalServerError})
	}
	return s.Client.GetPerson(ctx, id)
}

// persons returns the ids of the first n persons of the truth with at least minEmp employments.
func personsWith(t *testing.T, truth personiotest.Truth, n, minEmp int) []string {
	t.Helper()
	var out []string
	for _, p := range truth.Persons {
		if len(out) < n && len(truth.Employments[p.ID]) >= minEmp {
			out = append(out, p.ID)
		}
	}
	if len(out) < n {
		t.Fatalf("fewer than %d persons with %d employments", n, minEmp)
	}
	return out
}

func personKeys(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = change.Key(tenant, id)
	}
	slices.Sort(out)
	return out
}

func employmentKeys(truth personiotest.Truth, ids ...string) []string {
	var out []string
	for _, id := range ids {
		for _, e := range truth.Employments[id] {
			out = append(out, change.Key(tenant, e.ID))
		}
	}
	slices.Sort(out)
	return out
}

// TestFetchTargetsOnePersonDeletesNobodyElse: a targeted run of one person lists that person
// by id; every other stored person and employment stays (the listing by id covers only the
// id it asked for). With the persons entity's single scope it would have counted as a listing
// of every person and deleted the rest (or tripped the guard).
func TestFetchTargetsOnePersonDeletesNobodyElse(t *testing.T) {
	h := newHarness(t, 30)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	before := map[change.Entity]oracle.Replay{change.Persons: h.replay(change.Persons), change.Employments: h.replay(change.Employments)}
	churn := h.sim.Churn(personiotest.Churn{Renames: 1})
	if err := r.FetchTargets(t.Context(), churn.Renames, nil); err != nil {
		t.Fatalf("FetchTargets: %v", err)
	}
	for e, b := range before {
		if d := deletes(h.replay(e), b); len(d) != 0 {
			t.Errorf("%s deletes %v after a targeted run of one existing person", e, d)
		}
	}
	rp := h.checkTopicsOf(h.expected(), change.Persons, change.Employments)
	var got []string
	for _, m := range rp[change.Persons].Messages {
		if m.Event.Source.SyncKind == string(Webhook) {
			got = append(got, m.Key)
			if m.Event.Op != change.Update {
				t.Errorf("%s: op %s, want u", m.Key, m.Event.Op)
			}
		}
	}
	if !slices.Equal(got, personKeys(churn.Renames...)) {
		t.Errorf("webhook events for %v, want the renamed person %v", got, churn.Renames)
	}
}

// TestFetchTargetsDeletesOnlyWhatPersonioConfirms: a targeted person the id filter does not
// return is asked for alone: a 404 deletes them and their employments (listed by nobody: a
// person.deleted names no employment); a person the filter left out who exists is updated, not
// deleted; a person whose GET fails is kept and makes the run partial, not failed. Persons gone
// from Personio but not targeted stay on the topics.
func TestFetchTargetsDeletesOnlyWhatPersonioConfirms(t *testing.T) {
	h := newHarness(t, 30)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	truth := h.sim.Truth()
	ids := personsWith(t, truth, 4, 1)
	gone, hidden, failing, untargeted := ids[0], ids[1], ids[2], ids[3]
	src.gone = map[string]bool{gone: true, untargeted: true}
	src.hidden = map[string]bool{hidden: true, failing: true}
	src.getFails = map[string]bool{failing: true}
	before := map[change.Entity]oracle.Replay{change.Persons: h.replay(change.Persons), change.Employments: h.replay(change.Employments)}

	if err := r.FetchTargets(t.Context(), []string{gone, hidden, failing}, nil); err != nil {
		t.Fatalf("FetchTargets: %v", err)
	}
	if got, want := deletes(h.replay(change.Persons), before[change.Persons]), personKeys(gone); !slices.Equal(got, want) {
		t.Errorf("person deletes %v, want only the person Personio answered 404 for %v", got, want)
	}
	if got, want := deletes(h.replay(change.Employments), before[change.Employments]), employmentKeys(truth, gone); !slices.Equal(got, want) {
		t.Errorf("employment deletes %v, want those of the person gone %v", got, want)
	}
	slices.Sort(src.gets)
	if want := []string{failing, gone, hidden}; !slices.Equal(src.gets, slices.Sorted(slices.Values(want))) {
		t.Errorf("persons asked for alone %v, want those the id filter did not return %v", src.gets, want)
	}
}

// TestFetchTargetsInvalidItemDeletesNothing: a targeted person listed with an item the
// normalizer rejects is neither published nor deleted, and the run deletes nothing at all (not
// even a person Personio answered 404 for): it is partial, and a later run or sync settles it.
func TestFetchTargetsInvalidItemDeletesNothing(t *testing.T) {
	h := newHarness(t, 30)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	ids := personsWith(t, h.sim.Truth(), 2, 1)
	src.gone = map[string]bool{ids[0]: true}
	src.invalid = map[string]bool{ids[1]: true}
	before := h.replay(change.Persons)
	if err := r.FetchTargets(t.Context(), ids, nil); err != nil {
		t.Fatalf("FetchTargets: %v", err)
	}
	if d := deletes(h.replay(change.Persons), before); len(d) != 0 {
		t.Errorf("deletes %v by a targeted run with an invalid item", d)
	}
}

// TestFetchTargetsWithoutGetterDeletesNothing: a source that cannot read one person confirms
// nothing: a targeted person missing from the listing by id is kept.
func TestFetchTargetsWithoutGetterDeletesNothing(t *testing.T) {
	h := newHarness(t, 30)
	src := &employmentSource{Source: &targetSource{Client: h.client}} // hides GetPerson
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	victim := h.sim.Churn(personiotest.Churn{Deletions: 1}).Deletions
	before := h.replay(change.Persons)
	if err := r.FetchTargets(t.Context(), victim, nil); err != nil {
		t.Fatalf("FetchTargets: %v", err)
	}
	if d := deletes(h.replay(change.Persons), before); len(d) != 0 {
		t.Errorf("deletes %v without a 404 from Personio", d)
	}
}

// TestFetchTargetsGuardWeighsEveryStoredRecord: the mass-delete guard of a targeted run counts
// every stored person and employment. Two persons deleted (with their employments) out of 30
// pass; counted against the targeted scope alone they would be every record of it and trip.
// A burst deleting a third of the persons trips it and publishes nothing.
func TestFetchTargetsGuardWeighsEveryStoredRecord(t *testing.T) {
	h := newHarness(t, 30)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	truth := h.sim.Truth()
	two := personsWith(t, truth, 2, 2)
	src.gone = map[string]bool{two[0]: true, two[1]: true}
	before := map[change.Entity]oracle.Replay{change.Persons: h.replay(change.Persons), change.Employments: h.replay(change.Employments)}
	if err := r.FetchTargets(t.Context(), two, nil); err != nil {
		t.Fatalf("FetchTargets of two deleted persons: %v", err)
	}
	if got := deletes(h.replay(change.Persons), before[change.Persons]); !slices.Equal(got, personKeys(two...)) {
		t.Errorf("person deletes %v, want %v", got, personKeys(two...))
	}
	if got, want := deletes(h.replay(change.Employments), before[change.Employments]), employmentKeys(truth, two...); !slices.Equal(got, want) {
		t.Errorf("employment deletes %v, want %v", got, want)
	}

	var burst []string
	for _, p := range truth.Persons {
		if len(burst) < 10 && !slices.Contains(two, p.ID) {
			burst = append(burst, p.ID)
			src.gone[p.ID] = true
		}
	}
	before[change.Persons] = h.replay(change.Persons)
	err := r.FetchTargets(t.Context(), burst, nil)
	if mde := (*diff.MassDeleteError)(nil); !errors.As(err, &mde) {
		t.Fatalf("FetchTargets of a burst deleting 10 of 28 persons: %v, want a *diff.MassDeleteError", err)
	}
	if d := deletes(h.replay(change.Persons), before[change.Persons]); len(d) != 0 {
		t.Errorf("deletes %v published past the guard", d)
	}
}

// TestFetchTargetsChurnMatchesTruth: after churn of persons and employments, one targeted run
// of the persons changed (employments of those whose employment changed) makes the persons and
// employments topics equal Personio's truth, with sync_kind "webhook". It lists persons by id
// in requests of 50, lists no compensation, and leaves the high-water mark alone; the watermark
// a new runner reads from the topics is the run's extracted_at.
func TestFetchTargetsChurnMatchesTruth(t *testing.T) {
	h := newHarness(t, 120)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	hwm := r.HighWaterMark()
	if _, ok, err := h.runner().WebhookWatermark(t.Context()); ok || err != nil {
		t.Fatalf("watermark before any targeted run: ok %v, err %v", ok, err)
	}
	churn := h.sim.Churn(personiotest.Churn{Hires: 2, Terminations: 2, Renames: 3, EmploymentChanges: 3, CostCenterChanges: 2, Deletions: 1})
	persons := slices.Concat(churn.Hires, churn.Terminations, churn.Renames, churn.Deletions)
	emps := slices.Concat(churn.EmploymentChanges, churn.CostCenterChanges, churn.Terminations, churn.Hires)
	// Pad to more than one request of 50 with persons that did not change.
	for _, p := range h.sim.Truth().Persons {
		if len(persons) < 60 && !slices.Contains(persons, p.ID) && !slices.Contains(emps, p.ID) {
			persons = append(persons, p.ID)
		}
	}
	compsBefore := h.replay(change.Compensations)
	start := time.Now()
	if err := r.FetchTargets(t.Context(), persons, emps); err != nil {
		t.Fatalf("FetchTargets: %v", err)
	}
	h.checkTopicsOf(h.expected(), change.Persons, change.Employments)
	if n := len(h.replay(change.Compensations).Messages); n != len(compsBefore.Messages) {
		t.Errorf("compensations topic went from %d to %d messages; a targeted run lists none", len(compsBefore.Messages), n)
	}
	if got := r.HighWaterMark(); !got.Equal(hwm) {
		t.Errorf("high-water mark moved from %s to %s", hwm, got)
	}
	for _, ids := range src.byIDCalls {
		if len(ids) > extract.IDChunk {
			t.Errorf("a request named %d ids, more than %d", len(ids), extract.IDChunk)
		}
	}
	if len(src.byIDCalls) != 2 {
		t.Errorf("%d requests by id for %d persons, want 2", len(src.byIDCalls), len(persons)+len(emps))
	}
	mark, ok, err := h.runner().WebhookWatermark(t.Context())
	if err != nil || !ok || mark.Before(start.Add(-time.Second)) {
		t.Errorf("watermark read from the topics %s (ok %v, err %v), want the targeted run's start (after %s)", mark, ok, err, start)
	}
}

// TestRunWaitsForATargetedRun: a scheduled sync that starts while a targeted run holds the
// runner waits for it instead of failing with ErrRunning.
func TestRunWaitsForATargetedRun(t *testing.T) {
	h := newHarness(t, 30)
	src := &targetSource{Client: h.client}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	src.mu.Lock()
	src.block, src.blocked = make(chan struct{}), make(chan struct{})
	blocked := src.blocked
	src.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- r.FetchTargets(t.Context(), []string{h.sim.Truth().Persons[0].ID}, nil) }()
	<-blocked
	synced := make(chan error, 1)
	go func() { _, err := r.Run(t.Context(), Incremental); synced <- err }()
	time.Sleep(50 * time.Millisecond) // let the sync find the runner held
	src.mu.Lock()
	close(src.block)
	src.block = nil
	src.mu.Unlock()
	if err := <-done; err != nil {
		t.Errorf("FetchTargets: %v", err)
	}
	if err := <-synced; err != nil {
		t.Errorf("a sync during a targeted run: %v, want it to wait and succeed", err)
	}
}

// compBlockSource is targetSource whose compensation listings wait, once block is set, until
// it is closed (blocked is closed when the first one waits).
type compBlockSource struct {
	*targetSource
	mu      gosync.Mutex
	block   chan struct{}
	blocked chan struct{}
}

func (s *compBlockSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	s.mu.Lock()
	block, blocked := s.block, s.blocked
	if blocked != nil {
		close(blocked)
		s.blocked = nil
	}
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Client.ListCompensations(ctx, f, fn)
}

// TestFetchTargetsDuringSyncCompensations: a targeted run that arrives while a scheduled sync
// lists compensations runs inside that sync once the sync published its persons, instead of
// waiting for the compensations (webhook_latency_p99_seconds was 37 s at 10,000 persons for
// that wait). The persons topic then holds, for the person changed after the sync's persons
// listing, the sync's events and the targeted run's "u" after them, versions in sequence; the
// topics equal the truth when the sync ends, a full sync after it publishes nothing (no stale
// listing of the sync undid the targeted run), and the high-water mark is the sync's.
func TestFetchTargetsDuringSyncCompensations(t *testing.T) {
	h := newHarness(t, 30)
	src := &compBlockSource{targetSource: &targetSource{Client: h.client}}
	r := h.runner(func(c *Config) { c.Source = src })
	run(t, r, Full)
	first := h.sim.Churn(personiotest.Churn{Renames: 1}).Renames[0]

	release := make(chan struct{})
	src.mu.Lock()
	src.block, src.blocked = release, make(chan struct{})
	blocked := src.blocked
	src.mu.Unlock()
	synced := make(chan error, 1)
	go func() { _, err := r.Run(t.Context(), Incremental); synced <- err }()
	<-blocked
	// The sync published its persons (the rename) and waits for the compensations.
	for deadline := time.Now().Add(time.Minute); len(h.replay(change.Persons).Versions[change.Key(tenant, first)]) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the incremental sync did not publish the renamed person")
		}
		time.Sleep(5 * time.Millisecond)
	}
	hwm := r.HighWaterMark()
	second := h.sim.Churn(personiotest.Churn{Renames: 1}).Renames[0]
	fetched := make(chan error, 1)
	go func() { fetched <- r.FetchTargets(t.Context(), []string{second}, nil) }()
	var order []string
	select {
	case err := <-fetched:
		order = append(order, "targeted run returned")
		if err != nil {
			t.Errorf("FetchTargets: %v", err)
		}
		close(release)
	case <-time.After(30 * time.Second): // breaks the deadlock of a runner that makes it wait
		order = append(order, "compensations released")
		close(release)
		if err := <-fetched; err != nil {
			t.Errorf("FetchTargets: %v", err)
		}
		order = append(order, "targeted run returned")
	}
	if err := <-synced; err != nil {
		t.Fatalf("incremental sync: %v", err)
	}
	if order[0] != "targeted run returned" {
		t.Errorf("order %q: the targeted run waited for the sync's compensation listing", order)
	}
	rp := h.replay(change.Persons)
	key := change.Key(tenant, second)
	if vs := rp.Versions[key]; !slices.Equal(vs, []int64{1, 2}) {
		t.Errorf("versions of the person renamed during the sync: %v, want [1 2]", vs)
	}
	var kinds []string
	for _, m := range rp.Messages {
		if m.Key == key && !m.Tombstone {
			kinds = append(kinds, m.Event.Source.SyncKind)
		}
	}
	if !slices.Equal(kinds, []string{string(Full), string(Webhook)}) {
		t.Errorf("events of the person renamed during the sync by sync kind: %v, want [full webhook]", kinds)
	}
	if got := r.HighWaterMark(); !got.Equal(hwm) {
		t.Errorf("high-water mark %s after the targeted run, want the sync's %s", got, hwm)
	}
	h.checkTopics(h.expected())
	if res := run(t, r, Full); res.Published() != 0 {
		t.Errorf("a full sync after the targeted run published %d events (%+v)", res.Published(), res.Entities)
	}
}

// TestFetchTargetsWaitsForSyncPersons: a targeted run never runs while the sync holding the
// runner has its persons listing open. Here the full sync has read its page of persons, then
// a person is renamed and a targeted run of that person asked for while the sync's listing is
// still open: had it run then, the sync would have diffed its older read of the person after
// it and published the old name again as a "u". It runs once the sync's persons are
// published instead, and the topics equal the truth.
func TestFetchTargetsWaitsForSyncPersons(t *testing.T) {
	h := newHarness(t, 30)
	src := &pageHold{targetSource: &targetSource{Client: h.client}, held: make(chan struct{}), release: make(chan struct{})}
	r := h.runner(func(c *Config) { c.Source = src; c.PersonChains = 1 })
	run(t, r, Full)
	src.mu.Lock()
	src.armed = true
	src.mu.Unlock()
	synced := make(chan error, 1)
	go func() { _, err := r.Run(t.Context(), Full); synced <- err }()
	<-src.held // the sync has read a page of persons; its listing stays open
	renamed := h.sim.Churn(personiotest.Churn{Renames: 1}).Renames[0]
	src.mu.Lock()
	inPage := slices.Contains(src.page, renamed)
	src.mu.Unlock()
	if !inPage {
		t.Fatalf("the renamed person %s is not in the page the sync read: the test needs one page of persons", renamed)
	}
	fetched := make(chan error, 1)
	go func() { fetched <- r.FetchTargets(t.Context(), []string{renamed}, nil) }()
	// Release the listing once the targeted run waits for the runner (or ran, wrongly).
	for done := false; !done; {
		select {
		case err := <-fetched:
			fetched <- err
			done = true
		default:
			r.jobsMu.Lock()
			done = len(r.jobs) > 0
			r.jobsMu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}
	src.open()
	if err := <-fetched; err != nil {
		t.Errorf("FetchTargets: %v", err)
	}
	if err := <-synced; err != nil {
		t.Errorf("full sync: %v", err)
	}
	src.mu.Lock()
	if src.byIDWhileHeld > 0 {
		t.Errorf("%d listings by id while the sync's persons listing was open", src.byIDWhileHeld)
	}
	src.mu.Unlock()
	if vs := h.replay(change.Persons).Versions[change.Key(tenant, renamed)]; !slices.Equal(vs, []int64{1, 2}) {
		t.Errorf("versions of the renamed person %v, want [1 2]", vs)
	}
	h.checkTopics(h.expected())
}

// pageHold is targetSource whose first unfiltered persons listing, once armed, hands its
// first page to the run and then waits for open; it counts the listings by id made
// meanwhile (and opens then, so that a runner that lets them through does not deadlock).
type pageHold struct {
	*targetSource
	mu            gosync.Mutex
	armed         bool
	page          []string // the ids of the held page
	held          chan struct{}
	release       chan struct{}
	opened        bool
	byIDWhileHeld int
}

func (s *pageHold) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened {
		s.opened = true
		close(s.release)
	}
}

func (s *pageHold) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	if len(f.IDs) > 0 {
		s.mu.Lock()
		held := s.page != nil && !s.opened
		if held {
			s.byIDWhileHeld++
		}
		s.mu.Unlock()
		if held {
			s.open()
		}
		return s.targetSource.ListPersons(ctx, f, fn)
	}
	return s.targetSource.ListPersons(ctx, f, func(page []personio.Person) error {
		err := fn(page)
		s.mu.Lock()
		hold := s.armed && s.page == nil
		if hold {
			for _, p := range page {
				s.page = append(s.page, p.ID)
			}
		}
		s.mu.Unlock()
		if hold {
			close(s.held)
			select {
			case <-s.release:
			case <-ctx.Done():
			}
		}
		return err
	})
}
