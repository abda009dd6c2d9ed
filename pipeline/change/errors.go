package change

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (errors.Is) by every error about an entity Personio sent that cannot
// be put into normal form. The caller skips that entity, counts it and marks the sync partial.
var ErrInvalid = errors.New("invalid entity")

// ErrUnknownEntity is matched by the error of Describe for a name no descriptor has.
var ErrUnknownEntity = errors.New("unknown entity")

// FieldError says which field of which entity is unusable and why. It never holds the field's
// value: values may be personal data or salaries.
type FieldError struct {
	Entity Entity
	ID     string // entity id as sent (may be empty when the id itself is missing)
	Field  string // dot path of the field, e.g. "amount" or "employments.7.weekly_working_hours"
	Reason string // e.g. "more than 4 decimal places"
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %q: field %s: %s", e.Entity, e.ID, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }
