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

// AccessError is Kafka or the schema registry refusing the service for good at start-up: a
// credential or a certificate that only an operator can fix. Setting names the setting to
// check first; the message never holds a secret.
type AccessError struct {
	Setting string // e.g. KAFKA_SASL_PASSWORD
	Message string // what was refused and what to check
	Err     error  // the refusal as the client saw it
}

// Error implements error: "SETTING: message: cause".
func (e *AccessError) Error() string {
	return e.Setting + ": " + e.Message + ": " + e.Err.Error()
}

// Unwrap returns the refusal.
func (e *AccessError) Unwrap() error { return e.Err }
