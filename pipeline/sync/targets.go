package sync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// errNoGetter is what authGuard.GetPerson answers when the source cannot read one person: not
// a 404, so nothing is confirmed gone.
var errNoGetter = errors.New("sync: the source cannot read one person")

// FetchTargets is a targeted run (kind Webhook), the webhook trigger's: it lists the given
// persons by id and the employments of employmentsOf, and publishes what changed through the
// differ and publisher of the syncs.
//
// Deletes: a person is deleted only when Personio answered 404 on it, never because a listing
// filtered by id left it out; a person's employments only when their own listing completed
// without it, or when the person is gone (404). Nobody else's record is in the run's scope.
// The mass-delete guard weighs the deletes against every stored record of the entity, so one
// person.deleted passes and a batch deleting many is withheld. The run never lists
// compensations and never moves the high-water mark of the incremental syncs.
//
// While a scheduled sync holds the runner, the targeted run is handed to that sync, which runs
// it between two of its snapshots as soon as every entity the targeted run covers (persons,
// employments) is either outside the sync or finished by it (published, in the state): the
// delivery's latency does not include a compensation listing. It never runs while the sync
// has a listing of those entities open, whose records, read before the targeted run's, would
// otherwise be diffed after it (a stale "u") and carry versions taken before it. When the
// sync ends first, the targeted run takes the runner itself; a scheduled Run waits for it in
// turn. It returns an error when the run failed (a guard, a publish failure, ctx); a Partial
// run (some person could not be read) returns nil: what was read is published, and the
// periodic syncs cover the rest. A runner that syncs no persons (Config.Entities) has nothing
// to fetch and returns nil.
func (r *Runner) FetchTargets(ctx context.Context, persons, employmentsOf []string) error {
	var ids []string
	for _, id := range slices.Concat(persons, employmentsOf) {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || !slices.Contains(r.entities, change.Persons) {
		return nil // nothing to fetch, or a runner that syncs no persons (a tenant's entities)
	}
	o := runOptions{personIDs: ids, entities: r.targetEntities()}
	if slices.Contains(o.entities, change.Employments) {
		o.employmentsOf = []string{}
		for _, id := range employmentsOf {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(o.employmentsOf, id) {
				o.employmentsOf = append(o.employmentsOf, id)
			}
		}
	}
	only, err := o.selected(r.entities)
	if err != nil {
		return err
	}
	r.targets.Add(1)
	defer r.targets.Add(-1)
	if r.running.TryLock() {
		defer r.running.Unlock()
		_, err = r.runLocked(ctx, Webhook, only, o)
		return err
	}
	job := &targetJob{ctx: ctx, only: only, o: o, done: make(chan error, 1)}
	r.jobsMu.Lock()
	r.jobs = append(r.jobs, job)
	r.jobsMu.Unlock()
	select {
	case r.jobReady <- struct{}{}:
	default:
	}
	got := make(chan struct{})
	go func() {
		r.running.Lock()
		close(got)
	}()
	release := func() { // hand the runner back once the waiter gets it
		go func() {
			<-got
			r.running.Unlock()
		}()
	}
	select {
	case err := <-job.done: // the sync ran it
		release()
		return err
	case <-got:
		if !r.takeJob(job) { // the sync ran it just before it ended
			r.running.Unlock()
			return <-job.done
		}
		defer r.running.Unlock()
		_, err = r.runLocked(ctx, Webhook, only, o)
		return err
	case <-ctx.Done():
		release()
		if !r.takeJob(job) { // the sync is running it under ctx: it ends at once
			return <-job.done
		}
		return ctx.Err()
	}
}

// targetJob is a targeted run waiting for the runner.
type targetJob struct {
	ctx  context.Context
	only []change.Entity
	o    runOptions
	done chan error // capacity 1: the run's error, sent by whoever ran it
}

// targetEntities returns the entities a targeted run covers: persons, and employments when
// the runner syncs them.
func (r *Runner) targetEntities() []change.Entity {
	es := []change.Entity{change.Persons}
	if slices.Contains(r.entities, change.Employments) {
		es = append(es, change.Employments)
	}
	return es
}

// takeJob removes job from the waiting targeted runs; false when it was taken already.
func (r *Runner) takeJob(job *targetJob) bool {
	r.jobsMu.Lock()
	defer r.jobsMu.Unlock()
	i := slices.Index(r.jobs, job)
	if i < 0 {
		return false
	}
	r.jobs = slices.Delete(r.jobs, i, i+1)
	return true
}

// yieldable reports whether a sync holding the runner, of the entities only, with those of
// closed finished, may run targeted runs now: every entity a targeted run covers is outside
// the sync or finished, and the state agrees with the topics.
func (r *Runner) yieldable(only []change.Entity, closed map[change.Entity]bool) bool {
	if r.dirty || r.store == nil {
		return false
	}
	for _, e := range r.targetEntities() {
		if slices.Contains(only, e) && !closed[e] {
			return false
		}
	}
	return true
}

// runJobs runs, inside the sync holding the runner, every targeted run waiting for it, each as
// its own run of kind Webhook (nested: the sync's schemas, topics, state and erasures).
func (r *Runner) runJobs() {
	for {
		r.jobsMu.Lock()
		if len(r.jobs) == 0 {
			r.jobsMu.Unlock()
			return
		}
		job := r.jobs[0]
		r.jobs = r.jobs[1:]
		r.jobsMu.Unlock()
		o := job.o
		o.nested = true
		_, err := r.runLocked(job.ctx, Webhook, job.only, o)
		job.done <- err
		if r.dirty {
			return // the next run rebuilds the state first
		}
	}
}

// WebhookWatermark returns the latest extracted_at of a targeted run's event that the topics
// hold (ok false when they hold none): the point up to which deliveries were processed, where
// the webhook catch-up starts (less its margin). It builds the state first when no run has
// (reading the topics), waiting for a run in progress.
func (r *Runner) WebhookWatermark(ctx context.Context) (time.Time, bool, error) {
	r.targets.Add(1) // a moment's work, as a targeted run: a Run waits for it
	defer r.targets.Add(-1)
	if err := r.lock(ctx); err != nil {
		return time.Time{}, false, err
	}
	defer r.running.Unlock()
	if r.store == nil || r.dirty {
		if err := r.prepare(ctx, &Result{}); err != nil {
			return time.Time{}, false, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.webhookMark, !r.webhookMark.IsZero(), nil
}

// noteWebhookMark moves the webhook watermark to t when t is later.
func (r *Runner) noteWebhookMark(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.After(r.webhookMark) {
		r.webhookMark = t
	}
}

// lock takes the runner, waiting for a run in progress until ctx ends.
func (r *Runner) lock(ctx context.Context) error {
	if r.running.TryLock() {
		return nil
	}
	got := make(chan struct{})
	go func() {
		r.running.Lock()
		close(got)
	}()
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		go func() { // hand the runner back once the waiter gets it
			<-got
			r.running.Unlock()
		}()
		return ctx.Err()
	}
}

// sourceOf returns the source of a decoded envelope.
func sourceOf(env change.Envelope) (change.Source, bool) {
	switch e := env.(type) {
	case *change.PersonChange:
		return e.Source, true
	case *change.EmploymentChange:
		return e.Source, true
	case *change.CompensationChange:
		return e.Source, true
	}
	return change.Source{}, false
}
