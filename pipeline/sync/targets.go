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
// It waits while another run holds the runner (a scheduled sync: the delivery's latency then
// includes the rest of that sync), and a scheduled Run waits for it in turn. It returns an
// error when the run failed (a guard, a publish failure, ctx); a Partial run (some person could
// not be read) returns nil: what was read is published, and the periodic syncs cover the rest.
// A runner that syncs no persons (Config.Entities) has nothing to fetch and returns nil.
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
	o := runOptions{personIDs: ids, entities: []change.Entity{change.Persons}}
	if slices.Contains(r.entities, change.Employments) {
		o.entities = append(o.entities, change.Employments)
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
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.running.Unlock()
	_, err = r.runLocked(ctx, Webhook, only, o)
	return err
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
