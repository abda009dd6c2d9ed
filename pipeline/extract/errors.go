package extract

import "errors"

// ErrIncomplete marks a snapshot whose listing did not finish: its items are valid, but an entity
// missing from it may still exist in Personio.
var ErrIncomplete = errors.New("listing incomplete")
