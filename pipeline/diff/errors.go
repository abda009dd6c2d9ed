package diff

import (
	"errors"
	"fmt"
	"strings"

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
	Count   int     // live keys of the tenant's entity in the state inside the listed scope
	Ratio   float64 // the configured share
}

// Error implements error.
func (e *MassDeleteError) Error() string {
	return fmt.Sprintf("%s: mass delete refused: the listing would delete %d of %d (limit %.0f%%)",
		e.Entity, e.Deletes, e.Count, e.Ratio*100)
}

// Is makes errors.Is(err, ErrMassDelete) true.
func (e *MassDeleteError) Is(target error) bool { return target == ErrMassDelete }

// ErrMassFieldLoss is matched (errors.Is) by a *FieldLossError.
var ErrMassFieldLoss = errors.New("mass field loss refused")

// FieldLossError says that a listing would empty one field (a family of fields, see
// FieldEmpty) of more of an entity than the guard allows: what Personio's replies look like
// when the credential lost the scope of that field, since Personio omits fields it may not
// show. The run produced no events for the entity. It names fields and counts, never values.
type FieldLossError struct {
	Entity change.Entity
	Field  string   // the family emptied most often, e.g. "email" or "employments.*.status"
	Lost   int      // updates that would empty Field
	Count  int      // live keys of the tenant's entity in the state inside the listed scope
	Ratio  float64  // the configured share
	Fields []string // every family over the limit, sorted
}

// Error implements error.
func (e *FieldLossError) Error() string {
	more := ""
	if n := len(e.Fields); n > 1 {
		more = fmt.Sprintf(" (fields over the limit: %s)", strings.Join(e.Fields, ", "))
	}
	return fmt.Sprintf("%s: mass field loss refused: the listing would empty %q of %d of %d (limit %.0f%%)%s; "+
		"check the credential's scopes",
		e.Entity, e.Field, e.Lost, e.Count, e.Ratio*100, more)
}

// Is makes errors.Is(err, ErrMassFieldLoss) true.
func (e *FieldLossError) Is(target error) bool { return target == ErrMassFieldLoss }
