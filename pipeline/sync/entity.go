package sync

import (
	"fmt"
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
	tenant         string
	erased         *erasure.List // persons erased when the run began: their records are left out
}

// add normalises a snapshot's items and feeds them to the diff run. An item that cannot be put
// into normal form is skipped and makes its scope incomplete, so it is never deleted.
func (er *entityRun) add(snap extract.Snapshot, m *Metrics) {
	er.received++
	er.filtered = er.filtered || snap.Filtered
	ok := snap.Complete
	if snap.Err != nil {
		er.partial(&locatedError{entity: string(snap.Entity), scope: snap.Scope, err: snap.Err})
	}
	erased := 0
	var invalid int
	var firstInvalid error
	if snap.Items != nil {
		invalid, firstInvalid = snap.Items.Normalize(&er.norm, snap.Complete, func(rec change.Record) error {
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
	er.listedScopes = append(er.listedScopes, snap.Scope)
	if erased > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "erased").Add(float64(erased))
	}
	if invalid > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "invalid").Add(float64(invalid))
		er.partial(&locatedError{entity: string(snap.Entity), scope: snap.Scope, count: invalid,
			err: fmt.Errorf("%s: %d items skipped: %w", snap.Scope, invalid, firstInvalid)})
		ok = false
	}
	if ok {
		er.completeScopes = append(er.completeScopes, snap.Scope)
	} else {
		er.complete = false
		er.res.IncompleteScopes = append(er.res.IncompleteScopes, snap.Scope)
	}
}

// scope is what the entity's listing covered, for the differ's deletes and guards: the whole
// tenant for an entity with one scope, else the scopes that were listed completely (Contains)
// and those listed at all (Listed).
func (er *entityRun) scope() diff.Scope {
	if er.desc.Scope == nil {
		return diff.Scope{Complete: er.complete, Filtered: er.filtered}
	}
	return diff.Scope{Complete: len(er.completeScopes) > 0, Filtered: er.filtered,
		Contains: diff.InScopes(er.desc, er.completeScopes...), Listed: diff.InScopes(er.desc, er.listedScopes...)}
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
