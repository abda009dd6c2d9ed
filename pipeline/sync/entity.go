package sync

import (
	"fmt"
	"slices"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// entityRun collects the snapshots of one entity into one diff run.
type entityRun struct {
	desc           *change.Descriptor
	entity         change.Entity
	run            *diff.Run
	norm           change.Normalizer // puts the records of this run into normal form, with the policy
	res            *EntityResult
	received       int
	complete       bool      // every scope so far was listed completely and was valid
	completeScopes []string  // scopes listed completely and valid
	listedScopes   []string  // every scope listed, complete or not
	everyWindow    bool      // compensations: the listing asked for every window of the look-back
	maxUpdated     time.Time // largest updated_at listed (persons: the high-water mark)
	listed         time.Time // the run's start, before the listing started
	filtered       bool      // an incremental (updated_at) listing
	rest           bool      // every scope not listed is known empty (extract.Snapshot.Rest)
	tenant         string
	erased         *erasure.List // persons erased when the run began: their records are left out
	// targeted is true for a targeted run (kind Webhook): its persons listing covers only the
	// ids it settled (ids), and its deletes are weighed against every stored record.
	targeted bool
	ids      []string // the ids a targeted persons listing covers (extract.Snapshot.IDs)
	invalid  bool     // an item was skipped as invalid
}

// add normalises a snapshot's items and feeds them to the diff run. An item that cannot be put
// into normal form is skipped and makes its scope incomplete, so it is never deleted.
func (er *entityRun) add(snap extract.Snapshot, m *Metrics) {
	er.received++
	er.filtered = er.filtered || snap.Filtered
	er.rest = er.rest || snap.Rest
	er.ids = append(er.ids, snap.IDs...)
	if snap.Err != nil {
		er.partial(&locatedError{entity: string(snap.Entity), scope: snap.Scope, err: snap.Err})
	}
	erased := 0
	var skipped change.Skipped
	if snap.Items != nil {
		skipped = snap.Items.Normalize(&er.norm, snap.Complete, func(rec change.Record) error {
			if er.erased.Erased(er.tenant, rec.SubjectID()) {
				erased++
				return nil
			}
			if _, err := er.run.AddOne(rec); err != nil {
				return err
			}
			if t := rec.EntityUpdatedAt(); t != nil && t.After(er.maxUpdated) {
				er.maxUpdated = *t
			}
			return nil
		})
		er.res.Extracted += snap.Items.Len()
		m.EntitiesExtracted.WithLabelValues(string(snap.Entity)).Add(float64(snap.Items.Len()))
	}
	if erased > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "erased").Add(float64(erased))
	}
	if skipped.N > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "invalid").Add(float64(skipped.N))
		er.partial(&locatedError{entity: string(snap.Entity), scope: snap.Scope, count: skipped.N,
			err: fmt.Errorf("%s: %d items skipped: %w", snap.Scope, skipped.N, skipped.First)})
	}
	// A snapshot of one scope is one part; a skipped item makes its own scope incomplete when
	// the items tell which, else every part of the snapshot.
	parts := snap.Parts
	if len(parts) == 0 {
		parts = []extract.Part{{Scope: snap.Scope, Complete: snap.Complete}}
	}
	for _, p := range parts {
		er.listedScopes = append(er.listedScopes, p.Scope)
		bad := skipped.N > 0 && (len(skipped.Scopes) == 0 || slices.Contains(skipped.Scopes, p.Scope))
		if p.Complete && !bad {
			er.completeScopes = append(er.completeScopes, p.Scope)
		}
	}
	er.invalid = er.invalid || skipped.N > 0
	if !snap.Complete || skipped.N > 0 {
		er.complete = false
		er.res.IncompleteScopes = append(er.res.IncompleteScopes, snap.Scope)
	}
}

// scope is what the entity's listing covered, for the differ's deletes and guards: the whole
// tenant for an entity with one scope, else the scopes that were listed completely (and with
// rest those not listed, known empty) and those listed at all (diff.Covered).
func (er *entityRun) scope() diff.Scope {
	if er.targeted {
		return er.targetedScope()
	}
	if er.desc.Scope == nil {
		return diff.Scope{Complete: er.complete, Filtered: er.filtered}
	}
	sc := diff.Covered(er.desc, er.completeScopes, er.listedScopes, er.rest)
	sc.Filtered = er.filtered
	return sc
}

// targetedScope is the scope of a targeted run (kind Webhook). Persons: only the ids the
// listing by id settled (listed by a completed request, or confirmed gone by a 404), never the
// tenant, and none at all when an item was invalid (it may be one of them). Employments: the
// persons whose listing completed, and those confirmed gone (extract lists them as complete
// and empty). Either way the mass-delete guard weighs the deletes against every stored record
// of the tenant (GuardAll): one person deleted is a small share of them, a burst of deletes
// is not.
func (er *entityRun) targetedScope() diff.Scope {
	if er.desc.Scope != nil {
		sc := diff.Covered(er.desc, er.completeScopes, er.listedScopes, false)
		sc.GuardAll = true
		return sc
	}
	covered := make(map[string]bool, len(er.ids))
	keys := make(map[string]bool, len(er.ids))
	for _, id := range er.ids {
		covered[id] = true
		keys[change.Key(er.tenant, id)] = true
	}
	return diff.Scope{
		Complete: len(covered) > 0 && !er.invalid,
		GuardAll: true,
		KeyIn:    func(key string) bool { return keys[key] }, // the others are not decoded
		Contains: func(rec change.Record) bool { return covered[rec.RecordID()] },
	}
}

// highWaterMark is the mark a complete persons listing leaves: its largest updated_at, but
// never later than the listing's start. A person stamped in the future (a clock far ahead, a
// wrong record) would otherwise move the mark past every real change until the next full
// sync; capped, the next incremental listing asks from at most the start minus the skew margin.
func (er *entityRun) highWaterMark() time.Time {
	if er.maxUpdated.After(er.listed) {
		return er.listed
	}
	return er.maxUpdated
}

// partial records an error that withholds deletes but lets the entity publish.
func (er *entityRun) partial(err error) {
	er.res.addError(err)
	er.res.Outcome = worse(er.res.Outcome, Partial)
}

// fail records an error that withheld the entity's events (or stopped them).
func (er *entityRun) fail(err error) {
	er.res.addError(err)
	er.res.Outcome = Failed
}
