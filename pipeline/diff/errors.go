package diff

import (
	"errors"
	"fmt"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// ErrMassDelete is matched (errors.Is) by a *MassDeleteError.
var ErrMassDelete = errors.New("mass delete refused")

// ErrFinished is returned by Run methods called after Finish.
var ErrFinished = errors.New("diff run already finished")

// MassDeleteError says that a complete listing would delete more of an entity than the
// guard allows. The run produced no events for the entity.
type MassDeleteError struct {
	Entity  change.Entity
	Deletes int     // keys the listing would delete
	Count   int     // live keys of the tenant's entity in the state
	Ratio   float64 // the configured share
}

// Error implements error.
func (e *MassDeleteError) Error() string {
	return fmt.Sprintf("%s: mass delete refused: the listing would delete %d of %d (limit %.0f%%)",
		e.Entity, e.Deletes, e.Count, e.Ratio*100)
}

// Is makes errors.Is(err, ErrMassDelete) true.
func (e *MassDeleteError) Is(target error) bool { return target == ErrMassDelete }
