package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/personio-cdc/personio-cdc/internal/refresh"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// RunnerEmployments is the EmploymentReader of the sync runner. A refresh batch is a run of
// the employments entity alone for the batch's persons (syncrun.WithEmploymentsOf), of kind
// Full, so that an employment a person's completed listing no longer returns is deleted, and
// nothing of anyone else's; the persons are those of the runner's state.
type RunnerEmployments struct {
	// Runner runs the batches (the scheduler's runner, so that /status counts their events).
	Runner Runner
	// Stamps gives the persons of the state; (*syncrun.Runner).PersonStamps.
	Stamps func() ([]syncrun.PersonStamp, bool)
}

// RefreshEmployments implements EmploymentReader. The persons count as verified only when the
// run completed: a partial run does not say whose listing failed, so all of them are read
// again by a later batch.
func (r RunnerEmployments) RefreshEmployments(ctx context.Context, ids []string) ([]string, error) {
	res, err := r.Runner.Run(ctx, syncrun.Full, syncrun.WithEntities(change.Employments), syncrun.WithEmploymentsOf(ids...))
	if err != nil {
		return nil, fmt.Errorf("refresh the employments of %d persons: %w", len(ids), err)
	}
	if res.Outcome != syncrun.Complete {
		return nil, fmt.Errorf("refresh the employments of %d persons: %s (%s)", len(ids), res.Outcome, reasonOf(res, nil))
	}
	return slices.Clone(ids), nil
}

// Persons implements EmploymentReader.
func (r RunnerEmployments) Persons() ([]refresh.Person, bool) {
	stamps, ok := r.Stamps()
	if !ok {
		return nil, false
	}
	out := make([]refresh.Person, len(stamps))
	for i, s := range stamps {
		out[i] = refresh.Person{ID: s.ID, UpdatedAt: s.UpdatedAt}
	}
	return out, true
}
