package codec

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hamba/avro/v2/registry"
)

// Wire-format errors. They are returned wrapped; test with errors.Is.
var (
	// ErrShortPayload means the message is shorter than the 5-byte header.
	ErrShortPayload = errors.New("codec: payload shorter than the 5-byte wire header")
	// ErrBadMagicByte means the first byte is not the Confluent magic byte 0x00.
	ErrBadMagicByte = errors.New("codec: bad magic byte")
	// ErrUnknownSchemaID means the registry does not know the schema id in the header.
	ErrUnknownSchemaID = errors.New("codec: unknown schema id")
	// ErrIncompatible means the registry rejected a schema as incompatible
	// with the versions already registered under the subject.
	ErrIncompatible = errors.New("codec: schema incompatible with the subject")
	// ErrInvalidSchema means the registry rejected a schema as invalid.
	ErrInvalidSchema = errors.New("codec: registry rejected the schema as invalid")
	// ErrUnsupportedType means the Go type cannot carry a decimal of the
	// schema safely in both directions (see Codec.Encode).
	ErrUnsupportedType = errors.New("codec: unsupported Go type for an Avro decimal")
	// ErrInexactDecimal marks a *DecimalError.
	ErrInexactDecimal = errors.New("codec: decimal does not fit the schema exactly")
	// ErrSchemaIDMismatch marks a *SchemaIDError: no schema id the registry
	// confirms names the schema, so nothing may be encoded with it.
	ErrSchemaIDMismatch = errors.New("codec: the schema id does not name the schema in the registry")
)

// SchemaIDError reports a schema id that no longer names its schema in the
// registry (the registry lost its schemas, or lost them and gave the id to
// another schema) and, when Err is set, that the schema could not be
// registered again under an id that does. It matches ErrSchemaIDMismatch.
type SchemaIDError struct {
	Subject string
	ID      int    // the id that failed its check
	Reason  string // why the check failed; empty when Err says why no id is usable
	Err     error  // why registering the schema again failed; nil if it was not tried
}

// Reasons of a failed id check.
const (
	reasonUnknown = "is unknown to the registry"
	reasonOther   = "names another schema in the registry"
)

// errNotReplaced stands for the registration that is still to come after an
// id failed its check.
var errNotReplaced = errors.New("not registered again yet")

// Error implements error.
func (e *SchemaIDError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("codec: schema id %d of subject %s %s", e.ID, e.Subject, e.Reason)
	}
	return fmt.Sprintf("codec: schema id %d of subject %s no longer names the schema, and registering the schema again failed: %v",
		e.ID, e.Subject, e.Err)
}

// Is makes errors.Is(err, ErrSchemaIDMismatch) true.
func (e *SchemaIDError) Is(target error) bool { return target == ErrSchemaIDMismatch }

// Unwrap returns why registering the schema again failed.
func (e *SchemaIDError) Unwrap() error { return e.Err }

// DecimalError reports an amount that the schema's decimal type cannot hold
// exactly: more fractional digits than the scale (which the Avro library
// would silently round) or more digits than the precision. It never carries
// the amount itself, which is payroll data.
type DecimalError struct {
	Path      string // dot path of the field, e.g. "after.amount"
	Scale     int
	Precision int
	Reason    string // "more fractional digits than the scale", "more digits than the precision", "nil"
}

// Error implements error.
func (e *DecimalError) Error() string {
	path := e.Path
	if path == "" {
		path = "<root>"
	}
	return fmt.Sprintf("codec: decimal %s (precision %d, scale %d): %s", path, e.Precision, e.Scale, e.Reason)
}

// Is makes errors.Is(err, ErrInexactDecimal) true.
func (e *DecimalError) Is(target error) bool { return target == ErrInexactDecimal }

func (e *DecimalError) prepend(elem string) {
	if e.Path == "" {
		e.Path = elem
		return
	}
	if strings.HasPrefix(e.Path, "[") {
		e.Path = elem + e.Path
		return
	}
	e.Path = elem + "." + e.Path
}

// RegistryError is a failed schema registry call, classified once.
type RegistryError struct {
	Op      string // "register", "get schema", "check compatibility", …
	Subject string // empty when the call is not about a subject
	Status  int    // HTTP status; 0 when no response arrived
	Code    int    // registry error code, e.g. 40403, 42201; 0 if absent
	Message string // registry message
	Err     error  // underlying error
}

// Error implements error.
func (e *RegistryError) Error() string {
	var b strings.Builder
	b.WriteString("codec: registry ")
	b.WriteString(e.Op)
	if e.Subject != "" {
		b.WriteString(" ")
		b.WriteString(e.Subject)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
		if e.Code != 0 {
			fmt.Fprintf(&b, " code %d", e.Code)
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
		return b.String()
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *RegistryError) Unwrap() error { return e.Err }

// Is maps registry answers onto the package sentinels.
func (e *RegistryError) Is(target error) bool {
	switch target {
	case ErrIncompatible:
		return e.Status == http.StatusConflict
	case ErrInvalidSchema:
		return e.Status == http.StatusUnprocessableEntity && (e.Code == 42201 || e.Code == 0)
	case ErrUnknownSchemaID:
		return e.Op == opGetSchema && e.Status == http.StatusNotFound
	}
	return false
}

// Retryable reports whether the call may succeed if repeated: no answer at
// all (connection refused, reset, timeout), 408, 429 and 5xx. Everything else
// (401/403 credentials, 404, 409 incompatible, 422 invalid) will not change by
// retrying.
func (e *RegistryError) Retryable() bool {
	switch {
	case e.Status == 0:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status >= 500:
		return true
	}
	return false
}

// Retryable reports whether err (from any function of this package) may
// succeed when repeated. Wire-format, decimal and schema errors never do.
func Retryable(err error) bool {
	var re *RegistryError
	if errors.As(err, &re) {
		return re.Retryable()
	}
	return false
}

const (
	opRegister   = "register"
	opGetSchema  = "get schema"
	opCompatible = "check compatibility"
	opConfig     = "set compatibility"
	opPing       = "ping"
	opLookup     = "look up"
	opCheckID    = "check schema id"
)

func registryError(op, subject string, err error) error {
	re := &RegistryError{Op: op, Subject: subject, Err: err}
	var he registry.Error
	if errors.As(err, &he) {
		re.Status = he.StatusCode
		re.Code = he.Code
		re.Message = he.Message
	}
	return re
}
