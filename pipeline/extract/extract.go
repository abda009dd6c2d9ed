package extract

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Source lists Personio resources page by page. *personio.Client satisfies it; every call goes
// through the client's rate limiter, so the Extractor adds none of its own.
type Source interface {
	ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error
	ListEmployments(ctx context.Context, personID string, f personio.EmploymentFilter, fn func([]personio.Employment) error) error
	ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error
}

// PersonGetter reads one person; *personio.Client satisfies it. A targeted listing
// (Request.PersonIDs) confirms with it that a person its id filter did not return is gone (a
// 404). A Source without it confirms nothing: such a person is then neither kept nor deleted.
type PersonGetter interface {
	GetPerson(ctx context.Context, id string) (personio.Person, error)
}

// IDChunk is how many ids one targeted persons request names (the id filter, one page).
const IDChunk = 50

// Person is a person together with the employments listed for it (change.ListedPerson).
type Person = change.ListedPerson

// Snapshot is what one stream read: all of one scope (persons, or the compensations of one month
// window) or, for an incremental listing, the persons changed since a point in time.
type Snapshot struct {
	Entity change.Entity
	// Scope identifies the listing: "persons" or "compensations:2006-01".
	Scope string
	// Window is the month a compensation snapshot covers; zero for persons.
	Window personio.Window
	// Items are the items listed, in listing order (chain by chain, sub-window by
	// sub-window), each identical item once: change.PersonItems, change.CompensationItems.
	// Two different items with the same id are both kept (the differ counts them as a
	// conflict), and so is an item without id (which the normalizer rejects): neither may
	// pass for an item that is gone. Identical compensations without id are kept as often
	// as one request listed them.
	Items change.Items
	// Parts are the scopes a snapshot of an entity listed in parts covers (employments: one
	// per person, change.ScopeName), each with whether its listing completed; empty for a
	// snapshot of one scope (Scope).
	Parts []Part
	// Rest is true when every scope of the entity that Parts does not name is known to be
	// empty (employments: the persons listing was exhaustive, so a person it did not list is
	// gone and has no employments): a stored record in such a scope is deleted.
	Rest bool
	// IDs, for a listing by id (Request.PersonIDs), are the ids it covers: listed by a
	// request that completed, or confirmed gone by a 404 on the person. A stored record of
	// another id is outside the listing, whatever Complete says. Gone are those confirmed
	// gone. Both are nil for every other listing.
	IDs, Gone []string
	// Complete is true when the listing finished without any error (for a snapshot with
	// Parts: every part's). Items of an incomplete snapshot are still valid.
	Complete bool
	// Filtered is true when the listing asked only for items changed since a point in time
	// (incremental sync): an item missing from it says nothing about its existence.
	Filtered bool
	// Err says why the snapshot is incomplete; nil when Complete.
	Err error
	// StartedAt is when the listing began, Duration how long it took.
	StartedAt time.Time
	Duration  time.Duration
}

// Part is one scope of a snapshot with parts.
type Part struct {
	Scope    string
	Complete bool
}

// Exhaustive reports whether the snapshot lists every existing item of its scope, so that an
// item missing from it has been deleted in Personio.
// A listing by id is never exhaustive.
func (s Snapshot) Exhaustive() bool {
	return s.Complete && !s.Filtered && s.Err == nil && s.IDs == nil
}

// Request says what to extract.
type Request struct {
	// PersonsUpdatedSince, when set, lists only persons updated after it (minus the skew
	// margin): an incremental listing. Zero lists every person.
	PersonsUpdatedSince time.Time
	// PersonIDs, when not nil, lists only these persons (by the id filter, IDChunk at a time;
	// one the filter does not return is asked for alone, and a 404 confirms it gone): a
	// targeted listing, whose Snapshot names the ids it covers (Snapshot.IDs). Its employments
	// snapshot lists only those of EmploymentsOf, and says the employments of a person
	// confirmed gone listed and empty. It excludes PersonsUpdatedSince.
	PersonIDs []string
	// Entities are the entities to list; none lists every entity (change.Entities).
	Entities []change.Entity
	// EmploymentsOf names persons whose employments are listed, besides those of every
	// person the request's persons listing returns. When it is not nil and persons are not
	// requested, only these persons' employments are listed (no persons listing): the seam
	// for a rolling refresh. When it is nil and persons are not requested, the persons are
	// listed (not delivered) to learn whose employments to list.
	EmploymentsOf []string
	// GoneEmploymentsOnly reads no employment listing of the persons the persons listing
	// returns (only those of EmploymentsOf): the employments snapshot then names their scopes
	// as not listed this time (kept as they are) and, after an exhaustive persons listing,
	// says every other person gone (Rest), so that the employments of persons gone are
	// deleted without a request. For a trigger that reads the listed persons' employments
	// on its own schedule (the rolling refresh).
	GoneEmploymentsOnly bool
	// CurrentMonthOnly lists only the compensation window of the current month, not the
	// look-back (an incremental sync: Personio has no updated_at filter for compensations, so
	// the earlier months wait for the next full sync instead of costing every incremental sync
	// their whole listing).
	CurrentMonthOnly bool
	// PersonsCreatedAt, when not empty, holds the created_at of persons known to exist (e.g.
	// from the state); a full listing splits its chains at their quantiles. When empty, the
	// extractor uses the quantiles its previous complete full listing saw, and on its first
	// listing an even split of [EarliestCreatedAt, now].
	PersonsCreatedAt []time.Time
}

// EarliestCreatedAt is the start of the span a full persons listing splits evenly when it knows
// no created_at yet: no Personio record was created before it. Persons created earlier (or
// later than now) are still listed, by the first and the last chain.
var EarliestCreatedAt = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// Defaults of the parallel listings.
const (
	DefaultPersonChains        = 6
	DefaultCompensationWindows = 1
	DefaultEmploymentWorkers   = 4
	// MinCompensationsLimit is the smallest page size the extractor asks for when Personio
	// stops a one-day compensation request as too large (see Extractor.listRange).
	MinCompensationsLimit = 10
)

// Extractor runs the listing streams of one sync. It is safe for concurrent use.
type Extractor struct {
	src               Source
	lookbackMonths    int
	employmentWorkers int
	personChains      int
	compWindows       int
	skew              time.Duration
	now               func() time.Time

	mu         sync.Mutex
	boundaries []time.Time // learnt from the last complete full persons listing
	// compDays, when > 0, is the longest date range a compensation request may cover: learnt
	// from Personio stopping a longer one as too large (422), so that later syncs do not ask
	// again for what cannot be served.
	compDays int
}

// Option configures an Extractor.
type Option func(*Extractor)

// WithLookbackMonths sets how many months before the current one are listed for compensations
// (default 2).
func WithLookbackMonths(n int) Option { return func(e *Extractor) { e.lookbackMonths = n } }

// WithEmploymentWorkers bounds how many persons' employment listings run at once (default 4).
func WithEmploymentWorkers(n int) Option { return func(e *Extractor) { e.employmentWorkers = n } }

// WithPersonChains sets into how many created_at ranges a full persons listing is split, each
// listed by its own cursor chain at the same time (default 6; 1 lists with one chain). Every
// boundary between two ranges costs one more (exact created_at) listing.
func WithPersonChains(k int) Option { return func(e *Extractor) { e.personChains = k } }

// WithCompensationWindows sets into how many date ranges each compensation month window is
// split (default 1: the month whole). The ranges are listed at the same time, but the client
// lets at most 2 compensation requests without a person.id filter be in flight per credential
// (Personio's limit), so more ranges cost requests without adding speed.
func WithCompensationWindows(n int) Option { return func(e *Extractor) { e.compWindows = n } }

// WithSkewMargin sets how far before the high-water mark an incremental listing starts, to
// cover clock skew between Personio's servers (default 2 minutes).
func WithSkewMargin(d time.Duration) Option { return func(e *Extractor) { e.skew = d } }

// WithClock replaces time.Now, which decides the current compensation month.
func WithClock(now func() time.Time) Option { return func(e *Extractor) { e.now = now } }

// New returns an Extractor reading from src.
func New(src Source, opts ...Option) (*Extractor, error) {
	e := &Extractor{
		src:               src,
		lookbackMonths:    2,
		employmentWorkers: DefaultEmploymentWorkers,
		personChains:      DefaultPersonChains,
		compWindows:       DefaultCompensationWindows,
		skew:              2 * time.Minute,
		now:               time.Now,
	}
	for _, o := range opts {
		o(e)
	}
	var errs []error
	if src == nil {
		errs = append(errs, errors.New("extract: source is required"))
	}
	if e.lookbackMonths < 0 {
		errs = append(errs, fmt.Errorf("extract: look-back months must be >= 0, got %d", e.lookbackMonths))
	}
	if e.employmentWorkers < 1 {
		errs = append(errs, fmt.Errorf("extract: employment workers must be >= 1, got %d", e.employmentWorkers))
	}
	if e.personChains < 1 || e.personChains > 64 {
		errs = append(errs, fmt.Errorf("extract: person chains must be in [1, 64], got %d", e.personChains))
	}
	if e.compWindows < 1 || e.compWindows > 28 {
		errs = append(errs, fmt.Errorf("extract: compensation windows must be in [1, 28], got %d", e.compWindows))
	}
	if e.skew < 0 {
		errs = append(errs, fmt.Errorf("extract: skew margin must be >= 0, got %s", e.skew))
	}
	if e.now == nil {
		errs = append(errs, errors.New("extract: clock is nil"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// lister lists one entity: the scopes a request makes it list, in a stable order, and the
// streams that list them. Every entity of change.Entities has
// one (TestEveryEntityHasALister).
type lister struct {
	scopes func(e *Extractor, req Request) []string
	// streams returns the streams that list the scopes; together they send one Snapshot
	// per scope.
	streams func(e *Extractor, req Request) []stream
}

// listers are the listings of the entities.
var listers = map[change.Entity]lister{
	change.Persons: {
		scopes: func(*Extractor, Request) []string { return []string{string(change.Persons)} },
		streams: func(e *Extractor, req Request) []stream {
			return []stream{func(ctx context.Context, send func(Snapshot)) {
				ps := e.persons(ctx, req)
				send(ps)
				if req.wants(change.Employments) {
					send(e.employments(ctx, req, &ps)) // of the persons just listed
				}
			}}
		},
	},
	change.Compensations: {
		scopes: func(e *Extractor, req Request) []string {
			var out []string
			for _, w := range e.windows(req) {
				out = append(out, WindowScope(w))
			}
			return out
		},
		streams: func(e *Extractor, req Request) []stream {
			var out []stream
			for _, w := range e.windows(req) {
				out = append(out, func(ctx context.Context, send func(Snapshot)) { send(e.compensations(ctx, w)) })
			}
			return out
		},
	},
	// Employments are listed per person (Personio has no other listing), after the persons
	// listing that says whose: by the persons stream when persons are requested too.
	change.Employments: {
		scopes: func(*Extractor, Request) []string { return []string{string(change.Employments)} },
		streams: func(e *Extractor, req Request) []stream {
			if req.wants(change.Persons) {
				return nil // the persons stream lists them
			}
			return []stream{func(ctx context.Context, send func(Snapshot)) {
				if req.EmploymentsOf != nil {
					send(e.employments(ctx, req, nil))
					return
				}
				ps := e.persons(ctx, req) // whose employments; not delivered
				send(e.employments(ctx, req, &ps))
			}}
		},
	},
}

// stream lists what it lists and sends one Snapshot per scope.
type stream func(ctx context.Context, send func(Snapshot))

// wants reports whether req lists entity ent.
func (req Request) wants(ent change.Entity) bool {
	return len(req.Entities) == 0 || slices.Contains(req.Entities, ent)
}

// listed returns the listers of the entities req asks for, in the order of change.Entities.
func (req Request) listed() []lister {
	var out []lister
	for _, ent := range change.Entities() {
		if req.wants(ent) {
			out = append(out, listers[ent])
		}
	}
	return out
}

// Scopes returns the scopes a request will produce snapshots for, in a stable order.
func (e *Extractor) Scopes(req Request) []string {
	var scopes []string
	for _, l := range req.listed() {
		scopes = append(scopes, l.scopes(e, req)...)
	}
	return scopes
}

// Extract starts every stream and returns the channel their snapshots arrive on, one per scope.
// The channel is closed when all streams have finished. When ctx is cancelled the streams stop,
// snapshots not yet delivered are dropped, and the channel is closed.
func (e *Extractor) Extract(ctx context.Context, req Request) <-chan Snapshot {
	out := make(chan Snapshot)
	var g errgroup.Group
	send := func(s Snapshot) {
		if ctx.Err() != nil {
			return // cancelled: drop it rather than let select pick at random
		}
		select {
		case out <- s:
		case <-ctx.Done():
		}
	}
	for _, l := range req.listed() {
		for _, stream := range l.streams(e, req) {
			g.Go(func() error {
				stream(ctx, send)
				return nil
			})
		}
	}
	go func() {
		_ = g.Wait() // streams report failures in their snapshots
		close(out)
	}()
	return out
}

// windows returns the month windows req lists now.
func (e *Extractor) windows(req Request) []personio.Window {
	if req.CurrentMonthOnly {
		return Windows(e.now(), 0)
	}
	return Windows(e.now(), e.lookbackMonths)
}

// Windows returns the compensation month windows listed at time now with the given look-back:
// the lookback months before now's month and now's month (UTC), oldest first, each a whole
// calendar month.
func Windows(now time.Time, lookback int) []personio.Window {
	now = now.UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return personio.MonthWindows(first.AddDate(0, -lookback, 0), first.AddDate(0, 1, -1))
}

// WindowScope names the scope of a compensation month window, e.g. "compensations:2026-11".
func WindowScope(w personio.Window) string {
	return change.MonthScope(change.Compensations, w.Start)
}

// SubWindows splits a window of dates into n consecutive windows of whole days, both ends
// inclusive, that do not overlap and together cover it exactly. A window shorter than n days
// gives one window per day.
func SubWindows(w personio.Window, n int) []personio.Window {
	total := days(w)
	if total < 1 {
		return nil
	}
	n = max(1, min(n, total))
	out := make([]personio.Window, 0, n)
	from := dateOf(w.Start)
	for i := range n {
		// Spread the remainder over the first windows: sizes differ by at most one day.
		size := total / n
		if i < total%n {
			size++
		}
		to := from.AddDate(0, 0, size-1)
		out = append(out, personio.Window{Start: from, End: to})
		from = to.AddDate(0, 0, 1)
	}
	return out
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Boundaries returns k-1 created_at boundaries that split the given instants into k ranges of
// about the same size (their quantiles), truncated to the second as the API's filters are,
// strictly increasing. Fewer boundaries come back when the instants have fewer distinct
// values. It does not modify times.
func Boundaries(times []time.Time, k int) []time.Time {
	if k < 2 || len(times) == 0 {
		return nil
	}
	sorted := make([]time.Time, len(times))
	for i, t := range times {
		sorted[i] = t.UTC().Truncate(time.Second)
	}
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	var out []time.Time
	for i := 1; i < k; i++ {
		b := sorted[i*len(sorted)/k]
		if len(out) == 0 || b.After(out[len(out)-1]) {
			out = append(out, b)
		}
	}
	return out
}

// evenBoundaries splits [from, to] into k ranges of equal length.
func evenBoundaries(from, to time.Time, k int) []time.Time {
	if k < 2 || !to.After(from) {
		return nil
	}
	step := to.Sub(from) / time.Duration(k)
	out := make([]time.Time, 0, k-1)
	for i := 1; i < k; i++ {
		b := from.Add(time.Duration(i) * step).UTC().Truncate(time.Second)
		if len(out) == 0 || b.After(out[len(out)-1]) {
			out = append(out, b)
		}
	}
	return out
}

// PersonFilters returns the filters of a full persons listing split at the given strictly
// increasing boundaries b1 < … < bn: created_at < b1, b_i < created_at < b_i+1, created_at >
// bn, and created_at = b_i for each boundary. Every instant is matched by at least one of
// them, whether the API compares created_at to the second or by day, so their union is the
// whole listing when every one of them completed. No boundaries gives one unfiltered listing.
func PersonFilters(bounds []time.Time) []personio.PersonFilter {
	if len(bounds) == 0 {
		return []personio.PersonFilter{{}}
	}
	fs := make([]personio.PersonFilter, 0, 2*len(bounds)+1)
	fs = append(fs, personio.PersonFilter{CreatedBefore: bounds[0]})
	for i := 1; i < len(bounds); i++ {
		fs = append(fs, personio.PersonFilter{CreatedAfter: bounds[i-1], CreatedBefore: bounds[i]})
	}
	fs = append(fs, personio.PersonFilter{CreatedAfter: bounds[len(bounds)-1]})
	for _, b := range bounds {
		fs = append(fs, personio.PersonFilter{CreatedAt: b})
	}
	return fs
}

// personBoundaries picks the chain boundaries of a full listing.
func (e *Extractor) personBoundaries(req Request) []time.Time {
	if e.personChains < 2 {
		return nil
	}
	if len(req.PersonsCreatedAt) > 0 {
		if b := Boundaries(req.PersonsCreatedAt, e.personChains); len(b) > 0 {
			return b
		}
	}
	e.mu.Lock()
	learnt := e.boundaries
	e.mu.Unlock()
	if len(learnt) > 0 {
		return learnt
	}
	return evenBoundaries(EarliestCreatedAt, e.now(), e.personChains)
}

func (e *Extractor) persons(ctx context.Context, req Request) Snapshot {
	if req.PersonIDs != nil {
		return e.personsByID(ctx, req.PersonIDs)
	}
	snap := Snapshot{Entity: change.Persons, Scope: string(change.Persons), StartedAt: e.now()}
	filters := []personio.PersonFilter{{}}
	if !req.PersonsUpdatedSince.IsZero() {
		// An incremental listing returns few pages: one chain.
		filters[0].UpdatedAfter = req.PersonsUpdatedSince.Add(-e.skew)
		snap.Filtered = true
	} else {
		filters = PersonFilters(e.personBoundaries(req))
	}

	var (
		mu       sync.Mutex
		seen     = make(map[string][]*personio.Person) // id → the different items listed with it
		perChain = make([][]*personio.Person, len(filters))
		chains   errgroup.Group
		listErrs = make([]error, len(filters))
	)
	for ci, f := range filters {
		chains.Go(func() error {
			listErrs[ci] = e.src.ListPersons(ctx, f, func(page []personio.Person) error {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range page {
					// Chains overlap at their boundaries: an item listed again exactly as
					// before is dropped. Two different items with one id are both kept, for
					// the differ to count as a conflict; an item without id is kept too, for
					// the normalizer to reject (it makes the listing incomplete). Neither is
					// dropped in silence, which would turn an existing person into a delete.
					id := strings.TrimSpace(p.ID)
					if id != "" && slices.ContainsFunc(seen[id], func(it *personio.Person) bool {
						return reflect.DeepEqual(*it, p)
					}) {
						continue
					}
					item := &p
					perChain[ci] = append(perChain[ci], item)
					if id != "" {
						seen[id] = append(seen[id], item)
					}
				}
				return ctx.Err()
			})
			return nil
		})
	}
	_ = chains.Wait() // chains report through listErrs

	var errs []error
	failedChains := 0
	for ci, err := range listErrs {
		if err != nil {
			failedChains++
			if failedChains == 1 {
				errs = append(errs, fmt.Errorf("list persons (chain %d of %d): %w", ci+1, len(filters), err))
			}
		}
	}
	if failedChains > 1 {
		errs = append(errs, fmt.Errorf("%d of %d person listing chains failed", failedChains, len(filters)))
	}
	kept := 0
	for _, items := range perChain {
		kept += len(items)
	}
	persons := make(change.PersonItems, 0, kept)
	created := make([]time.Time, 0, kept)
	for _, items := range perChain {
		for _, it := range items {
			// Persons carry their employments as ids (Person.Employments); the
			// employments stream lists their details.
			persons = append(persons, Person{Person: *it})
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(it.CreatedAt)); err == nil {
				created = append(created, t)
			}
		}
	}
	snap.Items = persons
	if len(errs) == 0 && !snap.Filtered && e.personChains > 1 {
		// The next full listing splits where this one's persons are.
		if b := Boundaries(created, e.personChains); len(b) > 0 {
			e.mu.Lock()
			e.boundaries = b
			e.mu.Unlock()
		}
	}
	return e.finish(snap, errs)
}

// personsByID lists the persons ids by the id filter, IDChunk at a time. An id a completed
// request did not return is asked for alone: a 404 confirms it gone (Snapshot.Gone), a person
// is listed. Only ids so settled are covered (Snapshot.IDs); the others make the snapshot
// incomplete and stay outside it, so nothing is inferred from their absence.
func (e *Extractor) personsByID(ctx context.Context, want []string) Snapshot {
	snap := Snapshot{Entity: change.Persons, Scope: string(change.Persons), StartedAt: e.now(),
		IDs: []string{}, Gone: []string{}}
	var ids []string
	seenID := map[string]bool{}
	for _, id := range want {
		if id = strings.TrimSpace(id); id != "" && !strings.Contains(id, ",") && !seenID[id] {
			seenID[id] = true
			ids = append(ids, id)
		}
	}
	getter, _ := e.src.(PersonGetter)
	var (
		persons change.PersonItems
		errs    []error
	)
	for chunk := range slices.Chunk(ids, IDChunk) {
		var listed []personio.Person
		err := e.src.ListPersons(ctx, personio.PersonFilter{IDs: chunk}, func(page []personio.Person) error {
			listed = append(listed, page...)
			return ctx.Err()
		})
		for _, p := range listed {
			persons = append(persons, Person{Person: p})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("list persons by id: %w", err))
			continue // none of the chunk is covered: a failed request says nothing
		}
		returned := map[string]bool{}
		for _, p := range listed {
			returned[strings.TrimSpace(p.ID)] = true
		}
		for _, id := range chunk {
			if returned[id] {
				snap.IDs = append(snap.IDs, id)
				continue
			}
			if getter == nil {
				errs = append(errs, fmt.Errorf("person %d of the id filter not returned and cannot be asked for alone", len(snap.IDs)+1))
				continue
			}
			p, err := getter.GetPerson(ctx, id)
			switch {
			case err == nil:
				persons = append(persons, Person{Person: p})
				if strings.TrimSpace(p.ID) == id {
					snap.IDs = append(snap.IDs, id)
				} else {
					errs = append(errs, errors.New("get person: the answer names another person"))
				}
			case errors.Is(err, personio.ErrNotFound):
				snap.IDs = append(snap.IDs, id)
				snap.Gone = append(snap.Gone, id)
			default:
				errs = append(errs, fmt.Errorf("get person not listed by id: %w", err))
			}
		}
	}
	snap.Items = persons
	return e.finish(snap, errs)
}

// employments lists the employments of the persons of ps (a persons snapshot; nil: none) and
// of req.EmploymentsOf, each person's listing its own scope, at most employmentWorkers at
// once. The snapshot's Rest is true when ps is exhaustive and every item of it has an id: a
// person it did not list is gone, with their employments.
func (e *Extractor) employments(ctx context.Context, req Request, ps *Snapshot) Snapshot {
	snap := Snapshot{Entity: change.Employments, Scope: string(change.Employments), StartedAt: e.now()}
	var ids []string
	known := map[string]bool{}
	addID := func(id string) {
		if id = strings.TrimSpace(id); id != "" && !known[id] {
			known[id] = true
			ids = append(ids, id)
		}
	}
	var unread []string // persons listed whose employments are not read (GoneEmploymentsOnly)
	for _, id := range req.EmploymentsOf {
		addID(id)
	}
	var gone []string // persons confirmed gone by a listing by id: their employments with them
	if ps != nil && ps.IDs != nil {
		for _, id := range ps.Gone {
			if !slices.Contains(gone, id) {
				gone = append(gone, id)
			}
		}
		// Only EmploymentsOf are read (not every person listed); one of them confirmed gone
		// is not asked for.
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(ps.Gone, id) })
		ps = nil
	}
	if ps != nil {
		items, _ := ps.Items.(change.PersonItems)
		snap.Rest = ps.Exhaustive()
		for _, p := range items {
			id := strings.TrimSpace(p.ID)
			switch {
			case id == "":
				snap.Rest = false // someone without id: their employments cannot be told gone
			case req.GoneEmploymentsOnly && !known[id]:
				known[id] = true
				unread = append(unread, id)
			default:
				addID(id)
			}
		}
	}

	lists := make(change.EmploymentItems, len(ids))
	listErrs := make([]error, len(ids))
	var workers errgroup.Group
	workers.SetLimit(e.employmentWorkers)
	for i, id := range ids {
		workers.Go(func() error {
			lists[i].PersonID = id
			lists[i].Employments = []personio.Employment{}
			listErrs[i] = e.src.ListEmployments(ctx, id, personio.EmploymentFilter{}, func(page []personio.Employment) error {
				lists[i].Employments = append(lists[i].Employments, page...)
				return ctx.Err()
			})
			return nil
		})
	}
	_ = workers.Wait() // listings report through listErrs
	snap.Items = lists
	snap.Parts = make([]Part, len(ids), len(ids)+len(unread)+len(gone))
	var (
		failed int
		first  error
	)
	for i, id := range ids {
		snap.Parts[i] = Part{Scope: change.ScopeName(change.Employments, id), Complete: listErrs[i] == nil}
		if listErrs[i] != nil {
			failed++
			if first == nil {
				first = listErrs[i]
			}
		}
	}
	for _, id := range unread {
		snap.Parts = append(snap.Parts, Part{Scope: change.ScopeName(change.Employments, id)}) // not listed: kept
	}
	for _, id := range gone {
		// Personio said 404 on the person: their employments are gone with them.
		snap.Parts = append(snap.Parts, Part{Scope: change.ScopeName(change.Employments, id), Complete: true})
	}
	var errs []error
	if failed > 0 {
		errs = append(errs, fmt.Errorf("list employments of %d of %d persons: %w", failed, len(ids), first))
	}
	return e.finish(snap, errs)
}

func (e *Extractor) compensations(ctx context.Context, w personio.Window) Snapshot {
	snap := Snapshot{Entity: change.Compensations, Scope: WindowScope(w), Window: w, StartedAt: e.now()}
	n := e.compWindows
	e.mu.Lock()
	if e.compDays > 0 {
		n = max(n, (days(w)+e.compDays-1)/e.compDays)
	}
	e.mu.Unlock()
	subs := SubWindows(w, n)
	pages := make([][][]personio.Compensation, len(subs)) // per sub-window, per request
	listErrs := make([]error, len(subs))
	var g errgroup.Group
	for i, sw := range subs {
		g.Go(func() error {
			listErrs[i] = e.listRange(ctx, sw, personio.DefaultCompensationsLimit, &pages[i])
			return nil
		})
	}
	_ = g.Wait() // sub-windows report through listErrs
	snap.Items = change.CompensationItems(unionCompensations(slices.Concat(pages...)))
	var errs []error
	for i, err := range listErrs {
		if err != nil {
			errs = append(errs, fmt.Errorf("list compensations %s: %w", subs[i], err))
		}
	}
	return e.finish(snap, errs)
}

// listRange lists the compensations of the dates r with page size limit into out. When
// Personio stops the request as too large (personio.ErrTooMuchData: sending it again never
// helps), it asks for less instead: the two halves of r, listed at once and each the same way,
// and for a single day a page half the size, down to MinCompensationsLimit. It never sends the same
// request twice. A day that is too large even then fails with a *TooMuchDataError naming it.
// Items of a listing that failed otherwise are kept (they are valid); those of a listing
// stopped as too large are dropped, since its halves list them again.
func (e *Extractor) listRange(ctx context.Context, r personio.Window, limit int, out *[][]personio.Compensation) error {
	var items []personio.Compensation
	err := e.src.ListCompensations(ctx, personio.CompensationFilter{Window: r, Limit: limit}, func(page []personio.Compensation) error {
		items = append(items, page...)
		return ctx.Err()
	})
	if !errors.Is(err, personio.ErrTooMuchData) {
		// Each request's items are a listing of their own for unionCompensations.
		*out = append(*out, items)
		return err
	}
	if d := days(r); d > 1 {
		e.learnCompDays((d + 1) / 2) // the size of the first half
		// Both halves at once: more listings than slots keep both of the credential's
		// compensation slots busy (the client lets no more than 2 be in flight). A half that
		// cannot be split further stops the other: the month cannot be complete.
		hctx, stop := context.WithCancelCause(ctx)
		defer stop(nil)
		var (
			lists [2][][]personio.Compensation
			errs  [2]error
			wg    sync.WaitGroup
		)
		for i, half := range SubWindows(r, 2) {
			wg.Go(func() {
				errs[i] = e.listRange(hctx, half, limit, &lists[i])
				var tooMuch *TooMuchDataError
				if errors.As(errs[i], &tooMuch) {
					stop(errs[i])
				}
			})
		}
		wg.Wait()
		*out = append(*out, lists[0]...)
		*out = append(*out, lists[1]...)
		if cause := context.Cause(hctx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
			return cause // the half too large; the other was stopped for it
		}
		return errors.Join(errs[0], errs[1])
	}
	if smaller := limit / 2; smaller >= MinCompensationsLimit {
		return e.listRange(ctx, r, smaller, out)
	}
	return &TooMuchDataError{Window: r, Limit: limit, Err: err}
}

// learnCompDays lowers the longest date range later compensation requests cover.
func (e *Extractor) learnCompDays(d int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.compDays == 0 || d < e.compDays {
		e.compDays = max(d, 1)
	}
}

// days is the number of calendar days of w, both ends included.
func days(w personio.Window) int {
	return int(dateOf(w.End).Sub(dateOf(w.Start)).Hours()/24) + 1
}

// unionCompensations concatenates the sub-window listings and drops an item identical to one
// already kept. Two different items with the same identity are both kept: the differ counts
// them as a conflict rather than picking one. Identical items without id are payments of their
// own (two equal bonuses on one day): the union keeps as many of them as the one listing that
// has the most, so one listed again by another sub-window is still dropped.
func unionCompensations(lists [][]personio.Compensation) []personio.Compensation {
	var out []personio.Compensation
	kept := map[string][]int{} // identity → indexes in out
	for _, list := range lists {
		matched := map[int]bool{} // items of out an item without id of this list stands for
	items:
		for _, c := range list {
			key := compensationKey(c)
			noID := strings.TrimSpace(c.ID) == ""
			for _, i := range kept[key] {
				if !matched[i] && reflect.DeepEqual(out[i], c) {
					if noID {
						matched[i] = true
					}
					continue items
				}
			}
			if noID {
				matched[len(out)] = true
			}
			kept[key] = append(kept[key], len(out))
			out = append(out, c)
		}
	}
	return out
}

// compensationKey is the identity of a compensation as sent (change.CompensationID of the
// trimmed raw values); it only groups candidates for the exact comparison.
func compensationKey(c personio.Compensation) string {
	if id := strings.TrimSpace(c.ID); id != "" {
		return id
	}
	return strings.TrimSpace(c.Person.ID) + "|" + strings.TrimSpace(c.Type.ID) + "|" +
		strings.TrimSpace(c.EffectiveFrom) + "|" + strings.TrimSpace(c.Interval)
}

func (e *Extractor) finish(snap Snapshot, errs []error) Snapshot {
	snap.Duration = e.now().Sub(snap.StartedAt)
	if len(errs) == 0 {
		snap.Complete = true
		return snap
	}
	snap.Err = fmt.Errorf("%s: %w: %w", snap.Scope, ErrIncomplete, errors.Join(errs...))
	return snap
}
