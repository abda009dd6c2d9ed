package sync

import "errors"

// ErrRunning is returned by Run while another run is in progress.
var ErrRunning = errors.New("sync: a run is already in progress")
