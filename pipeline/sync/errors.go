package sync

import (
	"errors"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

var (
	// ErrRunning is returned by Run while another run is in progress.
	ErrRunning = errors.New("sync: a run is already in progress")
	// ErrUnknownEntity is returned by Run when WithEntities names an entity the runner does
	// not sync.
	ErrUnknownEntity = change.ErrUnknownEntity
	// ErrCredential marks a run stopped because Personio refused the credential. The error
	// also matches personio.ErrAuth; retrying does not help until the credential is fixed.
	ErrCredential = errors.New("the Personio credential was refused")
)
