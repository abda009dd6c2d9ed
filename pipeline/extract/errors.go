package extract

import (
	"errors"
	"fmt"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// ErrIncomplete marks a snapshot whose listing did not finish: its items are valid, but an entity
// missing from it may still exist in Personio.
var ErrIncomplete = errors.New("listing incomplete")

// TooMuchDataError means Personio stopped a compensation request as too large
// (422 compensations.unprocessable_content) even for a single day at the smallest page size the
// extractor asks for: that month cannot be listed completely by date ranges. It matches
// personio.ErrTooMuchData.
type TooMuchDataError struct {
	Window personio.Window // the day that could not be listed
	Limit  int             // the page size of the last request
	Err    error           // Personio's reply, a *personio.APIError
}

// Error implements error.
func (e *TooMuchDataError) Error() string {
	return fmt.Sprintf("compensations %s: Personio stops the request as too large even for one day at limit %d (%s)",
		e.Window, e.Limit, personio.TypeCompensationsUnprocessable)
}

// Unwrap returns Personio's reply.
func (e *TooMuchDataError) Unwrap() error { return e.Err }
