package sync

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// Kind is the kind of a sync run.
type Kind string

// Kinds of sync runs.
const (
	// Full lists every person and every compensation window and emits c, u and d.
	Full Kind = "full"
	// Incremental lists persons updated since the high-water mark (and every compensation
	// window, which is cheap) and emits c and u; it deletes only compensations, whose windows
	// are listed completely.
	Incremental Kind = "incremental"
	// Resnapshot runs a full sync and then emits an "r" event for every entity in the state, so
	// a new consumer can bootstrap from the topic's tail.
	Resnapshot Kind = "resnapshot"
	// Webhook is a targeted run (Runner.FetchTargets): the persons a webhook named, by id, and
	// the employments of those an employment event named. It deletes only what Personio
	// confirmed gone (404), never moves the high-water mark and never lists compensations.
	// ParseKind does not accept it: only FetchTargets runs it.
	Webhook Kind = "webhook"
)

// ParseKind parses "full", "incremental" or "resnapshot".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Full, Incremental, Resnapshot:
		return k, nil
	}
	return "", fmt.Errorf("unknown sync kind %q (want full, incremental or resnapshot)", s)
}

// Outcome is how a sync run (or one entity of it) ended.
type Outcome string

// Outcomes of a sync run.
const (
	// Complete: every listing finished and every change was published.
	Complete Outcome = "complete"
	// Partial: some listing failed, or some events were too large for their topic; what was
	// read was published, deletes of the failed scopes were withheld, the events left out are
	// tried again by the next sync.
	Partial Outcome = "partial"
	// Failed: the run stopped (publish or state error, cancellation) or the delete guard
	// withheld an entity.
	Failed Outcome = "failed"
)

// worse returns the worse of two outcomes.
func worse(a, b Outcome) Outcome {
	rank := map[Outcome]int{"": 0, Complete: 1, Partial: 2, Failed: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Names of the guards that can withhold an entity's changes (EntityResult.Guard).
const (
	GuardMassDelete = "mass_delete"
	GuardFieldLoss  = "field_loss"
)

// EntityResult is what a sync run did for one entity.
type EntityResult struct {
	Entity    string         `json:"entity"`
	Outcome   Outcome        `json:"outcome"`
	Extracted int            `json:"extracted"`
	Changes   map[string]int `json:"changes"` // published events by op
	// GuardTripped is set when the mass-delete guard or the field-loss guard withheld every
	// change of the entity (the error says which).
	GuardTripped bool `json:"delete_guard_tripped,omitempty"`
	// Guard names the guard that tripped: "mass_delete" or "field_loss" (empty otherwise).
	Guard string `json:"guard,omitempty"`
	// IncompleteScopes lists the scopes whose listing failed (their deletes were withheld).
	IncompleteScopes []string `json:"incomplete_scopes,omitempty"`
	// Skipped lists the events left out because their topic would refuse them (too large):
	// sizes and reasons only. Their keys kept their state; the next sync tries them again.
	Skipped []publish.Skip `json:"skipped,omitempty"`
	// Errors describes each error in one line (ErrorInfo.String): codes and what locates
	// them, never an error's own text, which may carry personal data.
	Errors []string `json:"errors,omitempty"`
	// ErrorDetails are the same errors, one ErrorInfo each.
	ErrorDetails []ErrorInfo `json:"error_details,omitempty"`

	errs []error // the errors behind Errors, for errors.Is
}

// addError records an error of the entity: its description, and the error itself for
// errors.Is.
func (er *EntityResult) addError(err error) {
	info := Describe(err)
	if info.Entity == "" {
		info.Entity = er.Entity
	}
	er.Errors = append(er.Errors, info.String())
	er.ErrorDetails = append(er.ErrorDetails, info)
	er.errs = append(er.errs, err)
}

// Result is the record of one sync run. It holds counts, scopes and error texts: no personal
// data.
type Result struct {
	SyncID   string         `json:"sync_id"`
	Kind     Kind           `json:"kind"`
	Outcome  Outcome        `json:"outcome"`
	Started  time.Time      `json:"started"`
	Ended    time.Time      `json:"ended"`
	Duration time.Duration  `json:"duration_ns"`
	Rebuilt  bool           `json:"state_rebuilt,omitempty"`
	Entities []EntityResult `json:"entities"`
	// Errors lists the run's error and every entity's errors, described (ErrorInfo.String):
	// codes, entities, settings, HTTP statuses, never an error's own text.
	Errors []string `json:"errors,omitempty"`
	// ErrorDetails are the same errors, one ErrorInfo each.
	ErrorDetails []ErrorInfo `json:"error_details,omitempty"`
	// HighWaterMark is the largest person updated_at known after the run, but never later
	// than the start of the run that listed it; the next incremental sync lists persons
	// updated after it (minus the skew margin).
	HighWaterMark time.Time `json:"high_water_mark,omitzero"`
}

// Entity returns the result of one entity (the zero value when absent).
func (r Result) Entity(name string) EntityResult {
	for _, e := range r.Entities {
		if e.Entity == name {
			return e
		}
	}
	return EntityResult{Entity: name}
}

// Published returns the number of events published, all entities and ops together.
func (r Result) Published() int {
	n := 0
	for _, e := range r.Entities {
		for _, c := range e.Changes {
			n += c
		}
	}
	return n
}

func (r Result) clone() Result {
	c := r
	c.Entities = slices.Clone(r.Entities)
	for i := range c.Entities {
		c.Entities[i].Changes = maps.Clone(c.Entities[i].Changes)
		c.Entities[i].IncompleteScopes = slices.Clone(c.Entities[i].IncompleteScopes)
		c.Entities[i].Skipped = slices.Clone(c.Entities[i].Skipped)
		c.Entities[i].Errors = slices.Clone(c.Entities[i].Errors)
		c.Entities[i].ErrorDetails = slices.Clone(c.Entities[i].ErrorDetails)
	}
	c.Errors = slices.Clone(r.Errors)
	c.ErrorDetails = slices.Clone(r.ErrorDetails)
	return c
}

// entity returns a pointer to the result of an entity, which must exist.
func (r *Result) entity(e change.Entity) *EntityResult {
	for i := range r.Entities {
		if r.Entities[i].Entity == string(e) {
			return &r.Entities[i]
		}
	}
	panic("sync: no result slot for entity " + string(e))
}
