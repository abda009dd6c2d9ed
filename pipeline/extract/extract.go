package extract

import (
	"context"
	"errors"
	"fmt"
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

// Person is a person together with the employments listed for it.
type Person struct {
	personio.Person
	EmploymentList []personio.Employment
}

// Snapshot is what one stream read: all of one scope (persons, or the compensations of one month
// window) or, for an incremental listing, the persons changed since a point in time.
type Snapshot struct {
	Entity change.Entity
	// Scope identifies the listing: "persons" or "compensations:2006-01".
	Scope string
	// Window is the month a compensation snapshot covers; zero for persons.
	Window personio.Window
	// Persons holds the items of a persons snapshot, in listing order, each id once.
	Persons []Person
	// Compensations holds the items of a compensation snapshot, in listing order.
	Compensations []personio.Compensation
	// Complete is true when the listing finished without any error. Items of an incomplete
	// snapshot are still valid (a person whose employments could not be read is left out).
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

// Exhaustive reports whether the snapshot lists every existing item of its scope, so that an
// item missing from it has been deleted in Personio.
func (s Snapshot) Exhaustive() bool { return s.Complete && !s.Filtered && s.Err == nil }

// Request says what to extract.
type Request struct {
	// PersonsUpdatedSince, when set, lists only persons updated after it (minus the skew
	// margin): an incremental listing. Zero lists every person.
	PersonsUpdatedSince time.Time
	// SkipCompensations leaves the compensation windows out.
	SkipCompensations bool
}

// Extractor runs the listing streams of one sync.
type Extractor struct {
	src               Source
	lookbackMonths    int
	employmentWorkers int
	skew              time.Duration
	now               func() time.Time
}

// Option configures an Extractor.
type Option func(*Extractor)

// WithLookbackMonths sets how many months before the current one are listed for compensations
// (default 2).
func WithLookbackMonths(n int) Option { return func(e *Extractor) { e.lookbackMonths = n } }

// WithEmploymentWorkers bounds how many persons' employments are fetched at once (default 4).
func WithEmploymentWorkers(n int) Option { return func(e *Extractor) { e.employmentWorkers = n } }

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
		employmentWorkers: 4,
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

// Scopes returns the scopes a request will produce snapshots for, in a stable order.
func (e *Extractor) Scopes(req Request) []string {
	scopes := []string{string(change.Persons)}
	if !req.SkipCompensations {
		for _, w := range e.windows() {
			scopes = append(scopes, WindowScope(w))
		}
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
		select {
		case out <- s:
		case <-ctx.Done():
		}
	}
	g.Go(func() error {
		send(e.persons(ctx, req))
		return nil
	})
	if !req.SkipCompensations {
		for _, w := range e.windows() {
			g.Go(func() error {
				send(e.compensations(ctx, w))
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

// windows returns the month windows to list now.
func (e *Extractor) windows() []personio.Window { return Windows(e.now(), e.lookbackMonths) }

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
	return string(change.Compensations) + ":" + w.Start.Format("2006-01")
}

func (e *Extractor) persons(ctx context.Context, req Request) Snapshot {
	snap := Snapshot{Entity: change.Persons, Scope: string(change.Persons), StartedAt: e.now()}
	var f personio.PersonFilter
	if !req.PersonsUpdatedSince.IsZero() {
		f.UpdatedAfter = req.PersonsUpdatedSince.Add(-e.skew)
		snap.Filtered = true
	}

	var (
		items   []*Person
		seen    = make(map[string]bool)
		mu      sync.Mutex
		empErrs []error
		workers errgroup.Group
	)
	workers.SetLimit(e.employmentWorkers)
	listErr := e.src.ListPersons(ctx, f, func(page []personio.Person) error {
		for _, p := range page {
			if p.ID == "" || seen[p.ID] {
				continue
			}
			seen[p.ID] = true
			item := &Person{Person: p}
			items = append(items, item)
			workers.Go(func() error {
				var emps []personio.Employment
				err := e.src.ListEmployments(ctx, p.ID, personio.EmploymentFilter{}, func(page []personio.Employment) error {
					emps = append(emps, page...)
					return nil
				})
				if err != nil {
					mu.Lock()
					empErrs = append(empErrs, err)
					mu.Unlock()
					return nil
				}
				if emps == nil {
					emps = []personio.Employment{}
				}
				item.EmploymentList = emps
				return nil
			})
		}
		return ctx.Err()
	})
	_ = workers.Wait() // workers report through empErrs

	snap.Persons = make([]Person, 0, len(items))
	for _, it := range items {
		if it.EmploymentList == nil {
			continue // its employments could not be read: leave the person out
		}
		snap.Persons = append(snap.Persons, *it)
	}
	var errs []error
	if listErr != nil {
		errs = append(errs, fmt.Errorf("list persons: %w", listErr))
	}
	if len(empErrs) > 0 {
		errs = append(errs, fmt.Errorf("list employments of %d persons: %w", len(empErrs), empErrs[0]))
	}
	return e.finish(snap, errs)
}

func (e *Extractor) compensations(ctx context.Context, w personio.Window) Snapshot {
	snap := Snapshot{Entity: change.Compensations, Scope: WindowScope(w), Window: w, StartedAt: e.now()}
	f := personio.CompensationFilter{Window: w}
	var errs []error
	err := e.src.ListCompensations(ctx, f, func(page []personio.Compensation) error {
		snap.Compensations = append(snap.Compensations, page...)
		return ctx.Err()
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list compensations %s: %w", w.Start.Format("2006-01"), err))
	}
	return e.finish(snap, errs)
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
