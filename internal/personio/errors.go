package personio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Sentinel errors. Match them with errors.Is; the concrete errors carry more context.
var (
	// ErrNotFound is matched by an *APIError with status 404.
	ErrNotFound = errors.New("personio: not found")
	// ErrAuth is matched by an *AuthError (bad credentials, a revoked credential) and by an
	// *APIError with status 401 or 403 (a missing scope). Retrying does not help; the operator
	// must fix the credential.
	ErrAuth = errors.New("personio: authentication failed")
	// ErrRepeatedCursor means a listing's next link pointed at a page already fetched.
	ErrRepeatedCursor = errors.New("personio: next link repeats a cursor already seen")
	// ErrForeignNextLink means a listing's next link pointed at another origin.
	ErrForeignNextLink = errors.New("personio: next link points to another origin")
	// ErrCrossOriginRedirect is matched by a *RedirectError: Personio answered with a redirect
	// to another origin, which the client never follows.
	ErrCrossOriginRedirect = errors.New("personio: redirect to another origin refused")
	// ErrListingBrokenOff means a listing kept sending next links without the items to justify
	// them (see list in client.go for the bound); what it delivered is incomplete.
	ErrListingBrokenOff = errors.New("personio: listing broken off: more pages than its items explain")
	// ErrWindowTooLong means a compensation window was longer than one calendar month or ended
	// before it started.
	ErrWindowTooLong = errors.New("personio: compensation window must lie within one month")
	// ErrMalformedBody means a response body was not valid (or complete) JSON. The request is
	// retried; the error surfaces only when every attempt failed.
	ErrMalformedBody = errors.New("personio: malformed response body")
	// ErrDecode means a response was valid JSON but did not fit the expected shape.
	ErrDecode = errors.New("personio: cannot decode response")
	// ErrInvalidArgument means a call was refused client-side (bad limit, empty id, …).
	ErrInvalidArgument = errors.New("personio: invalid argument")
	// ErrTooMuchData is matched by an *APIError with status 422 and error type
	// compensations.unprocessable_content: Personio stopped a request that took too long to
	// process. Sending it again does not help (the time depends on how much data it asks
	// for); ask for less: a shorter date range or a smaller page.
	ErrTooMuchData = errors.New("personio: request asks for too much data")
)

// Error types of Personio's compensations API (errors[].type of the problem+json body), as
// APIError.Code returns them.
const (
	// TypeCompensationsTooManyRequests: more than two compensation requests without a
	// person.id filter were in progress for the company (429, Retry-After: 30).
	TypeCompensationsTooManyRequests = "compensations.too_many_requests"
	// TypeCompensationsUnprocessable: the request took too long and was stopped (422).
	TypeCompensationsUnprocessable = "compensations.unprocessable_content"
	// TypeCompensationsUnavailable: the compensations API is unavailable for now (503,
	// Retry-After: 30).
	TypeCompensationsUnavailable = "compensations.service_unavailable"
)

// APIError is an unsuccessful HTTP response from Personio. It never holds secrets, tokens,
// query values, personal data or any free text of the response: Endpoint is a route template
// such as "GET /v2/persons", and of the body only Personio's error type (or OAuth2 error code)
// and trace id are kept, each only when it looks like one (a word, code or URL, never a
// sentence). An error body's title and detail may quote what the request was about (an
// e-mail address, a name, the client secret); they are dropped.
type APIError struct {
	Status   int    // HTTP status code
	TraceID  string // personio_trace_id (or trace_id), when the body carried one
	Type     string // first error's type, e.g. https://developer.personio.de/reference/errors#common.bad_request, or an OAuth2 error code such as invalid_client
	Endpoint string // route template, e.g. "GET /v2/persons/{id}"
}

// Error implements error: the route, the status and its text, then the error type's code and
// the trace id when known.
func (e *APIError) Error() string {
	s := fmt.Sprintf("personio: %s: %d", e.Endpoint, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if c := e.codes(); c != "" {
		s += " (" + c + ")"
	}
	return s
}

// codes returns "type T, trace X" with the parts that are known; T is Code().
func (e *APIError) codes() string {
	var parts []string
	if c := e.Code(); c != "" {
		parts = append(parts, "type "+c)
	}
	if e.TraceID != "" {
		parts = append(parts, "trace "+e.TraceID)
	}
	return strings.Join(parts, ", ")
}

// Code returns Personio's error type in a form safe for logs and metric labels: the part after
// the last "#" or "/" of errors[].type (the simulator and some replies send a documentation
// URL), lower case, e.g. "compensations.too_many_requests". It is "" when the reply carried
// no type and "other" when the type does not look like one (free text is never passed on).
func (e *APIError) Code() string { return errorCode(e.Type) }

// typeRE is the shape of an error type: dot-separated lower-case words.
var typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,4}$`)

func errorCode(typ string) string {
	t := strings.TrimSpace(typ)
	if t == "" {
		return ""
	}
	if i := strings.LastIndexAny(t, "#/"); i >= 0 {
		t = t[i+1:]
	}
	t = strings.ToLower(t)
	if len(t) > 64 || !typeRE.MatchString(t) {
		return "other"
	}
	return t
}

// Retryable reports whether the same request may succeed later: 408, 429 and 5xx are
// retryable; 400, 401, 403, 404, 422 and other 4xx are not.
func (e *APIError) Retryable() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusRequestTimeout:
		return true
	case e.Status >= 500:
		return true
	}
	return false
}

// Is makes errors.Is(err, ErrNotFound) true for a 404, errors.Is(err, ErrAuth) true for a 401
// or a 403 (the credential lacks a scope), and errors.Is(err, ErrTooMuchData) true for a 422
// of type compensations.unprocessable_content.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrTooMuchData:
		return e.Status == http.StatusUnprocessableEntity && e.Code() == TypeCompensationsUnprocessable
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrAuth:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	}
	return false
}

// AuthError is a failure to authenticate: the token endpoint refused the credentials, or an API
// call was still unauthorized with a freshly issued token (credential revoked or missing
// scope). It matches ErrAuth and is never retryable.
type AuthError struct {
	Endpoint string // route template of the call that failed
	Status   int    // HTTP status, 0 when unknown
	Reason   string // short reason, free of secrets
	Err      error  // underlying *APIError when there is one
}

// Error implements error.
func (e *AuthError) Error() string {
	s := "personio: authentication failed: " + e.Endpoint
	if e.Status != 0 {
		s += fmt.Sprintf(": %d", e.Status)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// Retryable reports false: retrying does not fix a credential.
func (e *AuthError) Retryable() bool { return false }

// RedirectError is a redirect to another origin (scheme, host and port) than the configured
// base URL, which no request of the client follows: the token request would send the client
// secret there, an API request would take its data from there. It matches
// ErrCrossOriginRedirect and is never retryable. Redirects within the origin are followed.
type RedirectError struct {
	Endpoint string // route template of the request that was redirected
	Status   int    // the redirect's HTTP status
	Target   string // the target's origin (scheme://host:port), never its path or query
}

// Error implements error.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("personio: %s: %d: redirect to another origin (%s) refused", e.Endpoint, e.Status, e.Target)
}

// Is makes errors.Is(err, ErrCrossOriginRedirect) true.
func (e *RedirectError) Is(target error) bool { return target == ErrCrossOriginRedirect }

// Retryable reports false: the same request gets the same redirect.
func (e *RedirectError) Retryable() bool { return false }

// ConfigError names a configuration setting that is missing or invalid.
type ConfigError struct {
	Field  string // Config field, e.g. "ClientID"
	Env    string // environment variable the service reads it from, if any
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string {
	if e.Env != "" {
		return fmt.Sprintf("personio: %s %s (%s)", e.Field, e.Reason, e.Env)
	}
	return fmt.Sprintf("personio: %s %s", e.Field, e.Reason)
}

// retryableError marks a transport-level failure (timeout, reset, malformed body) that the
// retry loop may repeat. reason is the metric label.
type retryableError struct {
	reason string
	err    error
}

func (e *retryableError) Error() string   { return e.err.Error() }
func (e *retryableError) Unwrap() error   { return e.err }
func (e *retryableError) Retryable() bool { return true }

// redactedError is an error whose message had a credential cut out (see Client.scrub). It
// unwraps to the original, so errors.Is and errors.As still see what happened.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Retryable reports whether err (or an error it wraps) says that repeating the operation may
// succeed. Errors that do not say are not retryable.
func Retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return false
}

// problem is the part of Personio's application/problem+json body (or of an OAuth2 error body)
// that an APIError keeps. Formats vary in practice, so every part is optional and a few
// alternative spellings are accepted.
type problem struct {
	TraceID    string          `json:"personio_trace_id"`
	TraceIDAlt string          `json:"trace_id"`
	Type       string          `json:"type"`
	Errors     json.RawMessage `json:"errors"`
	Error      json.RawMessage `json:"error"` // an object, or an OAuth2 error code
}

type problemItem struct {
	Type string `json:"type"`
}

// newAPIError builds an APIError from a response status and body. It never fails: of an
// unreadable body nothing is kept.
func newAPIError(endpoint string, status int, body []byte) *APIError {
	e := &APIError{Status: status, Endpoint: endpoint}
	var p problem
	if len(body) == 0 || json.Unmarshal(body, &p) != nil {
		return e
	}
	e.TraceID = code(firstNonEmpty(p.TraceID, p.TraceIDAlt))
	var items []problemItem
	var item problemItem
	var s string
	switch {
	case json.Unmarshal(p.Errors, &items) == nil && len(items) > 0:
		e.Type = code(firstNonEmpty(items[0].Type, p.Type))
	case json.Unmarshal(p.Error, &item) == nil:
		e.Type = code(firstNonEmpty(p.Type, item.Type))
	case json.Unmarshal(p.Error, &s) == nil:
		e.Type = code(firstNonEmpty(p.Type, s))
	default:
		e.Type = code(p.Type)
	}
	return e
}

// codeRE matches what an error type, an OAuth2 error code or a trace id look like: a word, a
// dotted code, a UUID or a URL; never a sentence, an e-mail address or a quoted value.
var codeRE = regexp.MustCompile(`^[A-Za-z0-9._:/#-]{1,200}$`)

// code returns s if it looks like a code (see codeRE), otherwise "".
func code(s string) string {
	if s = strings.TrimSpace(s); codeRE.MatchString(s) {
		return s
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
