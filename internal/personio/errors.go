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
)

// APIError is an unsuccessful HTTP response from Personio. It never holds secrets, tokens,
// query values or personal data: Endpoint is a route template such as "GET /v2/persons".
type APIError struct {
	Status   int    // HTTP status code
	TraceID  string // personio_trace_id, when the body carried one
	Title    string // first error's title, or the status text
	Detail   string // first error's detail, if any
	Type     string // first error's type, if any
	Endpoint string // route template, e.g. "GET /v2/persons/{id}"
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "personio: %s: %d", e.Endpoint, e.Status)
	if e.Title != "" {
		b.WriteString(" ")
		b.WriteString(e.Title)
	}
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.TraceID != "" {
		b.WriteString(" (trace ")
		b.WriteString(e.TraceID)
		b.WriteString(")")
	}
	return b.String()
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

// Is makes errors.Is(err, ErrNotFound) true for a 404, and errors.Is(err, ErrAuth) true for
// a 401 or a 403 (the credential lacks a scope).
func (e *APIError) Is(target error) bool {
	switch target {
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

// Retryable reports whether err (or an error it wraps) says that repeating the operation may
// succeed. Errors that do not say are not retryable.
func Retryable(err error) bool {
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	return false
}

// problem is Personio's application/problem+json body. Formats vary in practice, so every part
// is optional and a few alternative spellings are accepted.
type problem struct {
	TraceID    string          `json:"personio_trace_id"`
	TraceIDAlt string          `json:"trace_id"`
	Title      string          `json:"title"`
	Detail     string          `json:"detail"`
	Type       string          `json:"type"`
	Message    string          `json:"message"`
	Errors     json.RawMessage `json:"errors"`
	Error      json.RawMessage `json:"error"`
	ErrorDesc  string          `json:"error_description"` // OAuth2 token endpoint
}

type problemItem struct {
	Title   string `json:"title"`
	Detail  string `json:"detail"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// newAPIError builds an APIError from a response status and body. It never fails: an
// unreadable body falls back to the status text.
func newAPIError(endpoint string, status int, body []byte) *APIError {
	e := &APIError{Status: status, Endpoint: endpoint}
	var p problem
	if len(body) > 0 && json.Unmarshal(body, &p) == nil {
		e.TraceID = firstNonEmpty(p.TraceID, p.TraceIDAlt)
		e.Title, e.Detail, e.Type = p.Title, firstNonEmpty(p.Detail, p.Message, p.ErrorDesc), p.Type
		var items []problemItem
		if json.Unmarshal(p.Errors, &items) == nil && len(items) > 0 {
			it := items[0]
			e.Title = firstNonEmpty(it.Title, e.Title)
			e.Detail = firstNonEmpty(it.Detail, it.Message, e.Detail)
			e.Type = firstNonEmpty(it.Type, e.Type)
		} else {
			var it problemItem
			var s string
			switch {
			case json.Unmarshal(p.Error, &it) == nil:
				e.Title = firstNonEmpty(e.Title, it.Title)
				e.Detail = firstNonEmpty(e.Detail, it.Detail, it.Message)
				e.Type = firstNonEmpty(e.Type, it.Type)
			case json.Unmarshal(p.Error, &s) == nil:
				e.Title = firstNonEmpty(e.Title, s)
			}
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	e.Title, e.Detail = clip(redact(e.Title), 200), clip(redact(e.Detail), 500)
	e.TraceID, e.Type = clip(e.TraceID, 100), clip(e.Type, 200)
	return e
}

// emailRE finds e-mail addresses a server might echo back in an error detail.
var emailRE = regexp.MustCompile(`[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+`)

// redact removes personal data a server may echo in an error message.
func redact(s string) string { return emailRE.ReplaceAllString(s, "[redacted]") }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
