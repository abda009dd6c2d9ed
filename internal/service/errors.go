package service

import "errors"

// ErrShuttingDown is the readiness error while the service stops.
var ErrShuttingDown = errors.New("shutting down")

// FatalError marks an error that must stop the service: the next tick cannot fix it, an
// operator must (a credential Personio keeps refusing, a schema the registry rejects as
// incompatible). Every other error fails the current sync only, which is retried on the next
// tick.
type FatalError struct {
	Err error
}

// Fatal marks err as fatal; nil stays nil.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &FatalError{Err: err}
}

// Error implements error.
func (e *FatalError) Error() string { return "fatal: " + e.Err.Error() }

// Unwrap returns the marked error.
func (e *FatalError) Unwrap() error { return e.Err }

// IsFatal reports whether err is or wraps a *FatalError.
func IsFatal(err error) bool {
	var fe *FatalError
	return errors.As(err, &fe)
}
