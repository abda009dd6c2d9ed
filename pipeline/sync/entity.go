package sync

import (
	"fmt"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// entityRun collects the snapshots of one entity into one diff run.
type entityRun struct {
	entity          change.Entity
	run             *diff.Run
	norm            change.Normalizer // persons of this run, carved from shared blocks
	res             *EntityResult
	received        int
	complete        bool          // every scope so far was listed completely and was valid
	completeWindows []diff.Window // compensations: windows listed completely
	listedWindows   []diff.Window // compensations: every window listed
	everyWindow     bool          // compensations: the listing asked for every window of the look-back
	maxUpdated      time.Time     // persons: largest updated_at listed
	listed          time.Time     // the run's start, before the listing started
	filtered        bool          // persons: an incremental (updated_at) listing
	tenant          string
	erased          *erasure.List // persons erased when the run began: their records are left out
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
	invalid, erased := 0, 0
	var firstInvalid error
	switch snap.Entity {
	case change.Persons:
		for _, p := range snap.Persons {
			rec, err := er.norm.Person(p.Person, p.EmploymentList)
			if err == nil && er.erased.Erased(er.tenant, rec.SubjectID()) {
				erased++
				continue
			}
			if err == nil {
				_, err = er.run.AddOne(rec)
			}
			if err != nil {
				invalid++
				firstInvalid = firstErr(firstInvalid, err)
				continue
			}
			if t := rec.EntityUpdatedAt(); t != nil && t.After(er.maxUpdated) {
				er.maxUpdated = *t
			}
		}
		er.res.Extracted += len(snap.Persons)
		m.EntitiesExtracted.WithLabelValues(string(snap.Entity)).Add(float64(len(snap.Persons)))
	case change.Compensations:
		recs := make([]*change.Compensation, 0, len(snap.Compensations))
		// held: persons with an invalid item without Personio id ("" for one without person
		// id, or a listing that failed: every person). Their items without id would be
		// numbered without the item that is missing, so a key could take the content of its
		// twin: they are left out until the window lists completely and valid again.
		var held map[string]bool
		if !snap.Complete {
			held = map[string]bool{"": true}
		}
		for _, c := range snap.Compensations {
			rec, err := change.NewCompensation(c)
			if err == nil && er.erased.Erased(er.tenant, rec.SubjectID()) {
				erased++ // a composite id holds the person id: numbering is the same without them
				continue
			}
			if err != nil {
				invalid++
				firstInvalid = firstErr(firstInvalid, err)
				if strings.TrimSpace(c.ID) == "" {
					if held == nil {
						held = map[string]bool{}
					}
					held[strings.TrimSpace(c.Person.ID)] = true
				}
				continue
			}
			recs = append(recs, rec)
		}
		// Items without Personio id that share the composite key are told apart by content.
		change.NumberCompensations(recs)
		for _, rec := range recs {
			if rec.PersonioID == nil && (held[""] || held[rec.PersonID]) {
				continue // the window is incomplete: the key keeps its state
			}
			// The policy applies once the identity is settled: a key never depends on it.
			er.norm.Policy().Apply(rec)
			if err := er.run.Add(rec); err != nil {
				invalid++
				firstInvalid = firstErr(firstInvalid, err)
			}
		}
		er.res.Extracted += len(snap.Compensations)
		m.EntitiesExtracted.WithLabelValues(string(snap.Entity)).Add(float64(len(snap.Compensations)))
		w := diff.Window{Start: snap.Window.Start, End: snap.Window.End}
		er.listedWindows = append(er.listedWindows, w)
		if ok && invalid == 0 {
			er.completeWindows = append(er.completeWindows, w)
		}
	}
	if erased > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "erased").Add(float64(erased))
	}
	if invalid > 0 {
		m.ItemsSkipped.WithLabelValues(string(snap.Entity), "invalid").Add(float64(invalid))
		er.partial(&locatedError{entity: string(snap.Entity), scope: snap.Scope, count: invalid,
			err: fmt.Errorf("%s: %d items skipped: %w", snap.Scope, invalid, firstInvalid)})
		ok = false
	}
	if !ok {
		er.complete = false
		er.res.IncompleteScopes = append(er.res.IncompleteScopes, snap.Scope)
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

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
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
