package sync

import "errors"

var (
	// ErrRunning is returned by Run while another run is in progress.
	ErrRunning = errors.New("sync: a run is already in progress")
	// ErrUnknownEntity is returned by Run when WithEntities names an entity the runner does
	// not sync.
	ErrUnknownEntity = errors.New("unknown entity")
)
