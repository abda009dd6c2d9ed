package sync

import (
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// PersonStamp is a person of the state: its id and Personio's updated_at (zero when the record
// has none or cannot be read).
type PersonStamp struct {
	ID        string
	UpdatedAt time.Time
}

// PersonStamps returns every person of the state, for a trigger that reads per person (the
// rolling refresh of employments); ok is false while no state was built (before the first run
// rebuilt it). It waits for a run in progress. The records are decoded from the state, about
// as much work as a no-change diff of the persons.
func (r *Runner) PersonStamps() (stamps []PersonStamp, ok bool) {
	r.running.Lock()
	defer r.running.Unlock()
	if r.store == nil || r.dirty {
		return nil, false
	}
	stamps = make([]PersonStamp, 0, r.store.Len(change.Persons))
	r.store.Range(change.Persons, func(key string, e state.Entry) bool {
		id, found := strings.CutPrefix(key, r.cfg.Tenant+":")
		if !found {
			return true
		}
		s := PersonStamp{ID: id}
		if rec, err := e.Record(change.Persons); err == nil {
			if u := rec.EntityUpdatedAt(); u != nil {
				s.UpdatedAt = *u
			}
		}
		stamps = append(stamps, s)
		return true
	})
	return stamps, true
}
