package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// Error codes: what /status, sync results and log lines say about an error instead of its
// text. The text of an error may carry Personio's free text (an error body echoes names,
// e-mail addresses, person ids), an entity's id or a value; a code, the entity, the scope, the
// field or setting and the HTTP status never do. Codes are stable: alerts and runbooks may
// match them.
const (
	CodeCredentialRefused = "config.credential_refused" // Personio refused the client id/secret
	CodeKafkaAuth         = "config.kafka_auth_failed"  // Kafka refused the SASL credential
	CodePersonioHTTP      = "personio.http_"            // + status: Personio answered an error status after every retry
	CodePersonioMalformed = "personio.malformed_body"   // a reply was not (complete) JSON, after every retry
	CodePersonioDecode    = "personio.decode_failed"    // a reply did not have the expected shape
	CodePersonioNetwork   = "personio.unreachable"      // no reply: timeouts, refused or reset connections
	// CodePersonioType + Personio's error type of the compensations API, e.g.
	// "personio.compensations.unprocessable_content" (a request too large even for one day),
	// "personio.compensations.too_many_requests", "personio.compensations.service_unavailable".
	CodePersonioType  = "personio."
	CodeBadNextLink   = "listing.bad_next_link"   // a next link repeated a cursor or left the origin
	CodeListingBroken = "listing.broken_off"      // a listing stopped before its end
	CodeDuplicateKeys = "listing.duplicate_keys"  // keys listed twice with different content
	CodeRecordInvalid = "record.invalid"          // items that cannot be put into normal form were skipped
	CodeMassDelete    = "guard.mass_delete"       // the mass-delete guard withheld the entity
	CodeFieldLoss     = "guard.field_loss"        // the field-loss guard withheld the entity
	CodeKafkaWrite    = "kafka.write_failed"      // Kafka did not acknowledge every event
	CodeEventTooLarge = "kafka.event_too_large"   // events larger than their topic takes were left out
	CodeKafkaTopics   = "kafka.topics_failed"     // the output topics could not be created or checked
	CodeStateRebuild  = "state.rebuild_failed"    // the state could not be rebuilt from the topics
	CodeErasure       = "erasure.failed"          // the erasures could not be read or their keys tombstoned
	CodeIncompatible  = "registry.incompatible"   // the registry rejects a schema as incompatible
	CodeInvalidSchema = "registry.invalid_schema" // the registry rejects a schema as invalid
	CodeRegistry      = "registry.failed"         // another schema registry failure
	CodeCancelled     = "sync.cancelled"          // the run was cancelled (shutdown, interrupt)
	CodeTimeout       = "sync.timeout"            // a deadline ran out
	CodeUnclassified  = "sync.failed"             // none of the above
)

// CodeSchemaIDMismatch: no schema id the registry confirms names one of the service's schemas
// (the registry lost them, or gave their ids to other schemas, and does not take them again):
// nothing was published under a stale id.
const CodeSchemaIDMismatch = "registry.schema_id_mismatch"

// ErrorInfo describes an error without its text: a stable code, and what locates it. It never
// holds Personio's free text, names, e-mail addresses, ids or values.
type ErrorInfo struct {
	Code       string `json:"code"`
	Entity     string `json:"entity,omitempty"`
	Scope      string `json:"scope,omitempty"`   // e.g. "persons", "compensations:2026-11"
	Field      string `json:"field,omitempty"`   // dot path of a field, e.g. "amount"
	Setting    string `json:"setting,omitempty"` // the settings to check, e.g. "PERSONIO_CLIENT_SECRET"
	HTTPStatus int    `json:"http_status,omitempty"`
	Endpoint   string `json:"endpoint,omitempty"` // route template, e.g. "GET /v2/persons"
	Host       string `json:"host,omitempty"`     // the server that did not answer (from the settings)
	Count      int    `json:"count,omitempty"`    // items skipped, keys that would be deleted, …
	TraceID    string `json:"personio_trace_id,omitempty"`
	// ErrorType is Personio's error type (errors[].type) in the form
	// personio.APIError.Code gives, e.g. "compensations.unprocessable_content".
	ErrorType string `json:"personio_error_type,omitempty"`
	Message   string `json:"message"` // the code in words: our text, never the error's
}

// String renders the description on one line: "persons: personio.http_500: <message>
// (endpoint GET /v2/persons, http_status 403, setting …)".
func (i ErrorInfo) String() string {
	var b strings.Builder
	if i.Entity != "" {
		b.WriteString(i.Entity)
		b.WriteString(": ")
	}
	b.WriteString(i.Code)
	if i.Message != "" {
		b.WriteString(": ")
		b.WriteString(i.Message)
	}
	var parts []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			parts = append(parts, k+" "+v)
		}
	}
	if i.Scope != i.Entity {
		add("scope", i.Scope)
	}
	add("field", i.Field)
	add("endpoint", i.Endpoint)
	add("host", i.Host)
	add("http_status", strconv.Itoa(i.HTTPStatus))
	add("count", strconv.Itoa(i.Count))
	add("setting", i.Setting)
	add("personio_trace_id", i.TraceID)
	add("personio_error_type", i.ErrorType)
	if len(parts) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(parts, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// Describe classifies err (errors.As and errors.Is on the typed errors of the client, the
// differ, the codec and the Kafka adapter) into an ErrorInfo. It reads the typed fields that
// are safe to show — statuses, route templates, field paths, counts — and never err.Error().
func Describe(err error) ErrorInfo {
	if err == nil {
		return ErrorInfo{}
	}
	var info ErrorInfo
	var loc *locatedError
	if errors.As(err, &loc) {
		info.Entity, info.Scope, info.Count = loc.entity, loc.scope, loc.count
	}
	info.Code, info.Message = CodeUnclassified, "the sync failed"

	var (
		mde  *diff.MassDeleteError
		fle  *diff.FieldLossError
		ae   *personio.AuthError
		api  *personio.APIError
		fe   *change.FieldError
		de   *codec.DecimalError
		re   *codec.RegistryError
		pe   *kafka.PublishError
		skip *publish.SkipError
		st   *stageError
		ne   net.Error
		conf *conflictError
		tm   *extract.TooMuchDataError
	)
	switch {
	case errors.As(err, &tm):
		info.Code, info.ErrorType = CodePersonioType+personio.TypeCompensationsUnprocessable, personio.TypeCompensationsUnprocessable
		info.Message = fmt.Sprintf("Personio stops the compensation request for %s as too large even for one day at limit %d; the month is incomplete and its deletes were withheld", tm.Window, tm.Limit)
		if errors.As(err, &api) {
			info.HTTPStatus, info.Endpoint, info.TraceID = api.Status, api.Endpoint, traceID(api.TraceID)
		}
	case errors.As(err, &mde):
		info.Code, info.Entity, info.Count = CodeMassDelete, string(mde.Entity), mde.Deletes
		info.Message = fmt.Sprintf("the listing would delete %d of %d (limit %.0f%%); nothing was published for the entity", mde.Deletes, mde.Count, mde.Ratio*100)
		info.Setting = "DELETE_GUARD_RATIO, DELETE_GUARD_OVERRIDE"
	case errors.As(err, &fle):
		info.Code, info.Entity, info.Field, info.Count = CodeFieldLoss, string(fle.Entity), fle.Field, fle.Lost
		info.Message = fmt.Sprintf("the listing would empty the field in %d of %d (limit %.0f%%); nothing was published for the entity; check the credential's scopes", fle.Lost, fle.Count, fle.Ratio*100)
	case errors.As(err, &ae), errors.Is(err, ErrCredential), errors.Is(err, personio.ErrAuth):
		info.Code, info.Message = CodeCredentialRefused, "Personio refused the credential"
		info.Setting = "PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET"
		if ae != nil {
			info.HTTPStatus, info.Endpoint = ae.Status, ae.Endpoint
		}
		if errors.As(err, &api) {
			info.HTTPStatus, info.Endpoint, info.TraceID = api.Status, api.Endpoint, traceID(api.TraceID)
			if api.Status == http.StatusForbidden {
				info.Message = "Personio refused the credential: it lacks a scope"
			}
		}
	case errors.As(err, &api):
		info.Code = CodePersonioHTTP + strconv.Itoa(api.Status)
		info.HTTPStatus, info.Endpoint, info.TraceID = api.Status, api.Endpoint, traceID(api.TraceID)
		info.Message = httpMessage(api.Status)
		if typ := api.Code(); typ != "other" { // "other": not a type but text
			info.ErrorType = typ
		}
		if msg, ok := compensationsMessage(info.ErrorType); ok {
			info.Code, info.Message = CodePersonioType+info.ErrorType, msg
		}
		switch api.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			info.Setting = "PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET"
		}
	case errors.As(err, &fe):
		info.Code, info.Field = CodeRecordInvalid, fieldPath(fe.Field)
		if info.Entity == "" {
			info.Entity = string(fe.Entity)
		}
		info.Message = "items that cannot be put into normal form were skipped (" + safeReason(fe.Reason) + "); their deletes were withheld"
	case errors.As(err, &de):
		info.Code, info.Field = CodeRecordInvalid, fieldPath(de.Path)
		info.Message = "an amount does not fit the schema's decimal exactly"
	case errors.Is(err, codec.ErrSchemaIDMismatch): // before ErrIncompatible, which may be its cause
		info.Code = CodeSchemaIDMismatch
		info.Message = "a schema id no longer names the service's schema in the registry (it lost its schemas, or gave the id " +
			"to another schema) and the schema could not be registered again; nothing was published under it; restore the registry"
		info.Setting = "SCHEMA_REGISTRY_URL"
		registryDetails(&info, err)
	case errors.Is(err, codec.ErrIncompatible):
		info.Code, info.Message = CodeIncompatible, "the schema registry rejects a schema as incompatible with its subject"
		info.Setting = "SCHEMA_REGISTRY_URL"
		registryDetails(&info, err)
	case errors.Is(err, codec.ErrInvalidSchema):
		info.Code, info.Message = CodeInvalidSchema, "the schema registry rejects a schema as invalid"
		registryDetails(&info, err)
	case errors.As(err, &re):
		info.Code, info.Message, info.Setting = CodeRegistry, "a schema registry call failed: "+safeReason(re.Op), "SCHEMA_REGISTRY_URL"
		info.HTTPStatus = re.Status
		if re.Status == http.StatusUnauthorized || re.Status == http.StatusForbidden {
			info.Message = "the schema registry refused the credential: " + safeReason(re.Op)
			info.Setting = "SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD"
		}
	case errors.Is(err, kafkago.SASLAuthenticationFailed):
		info.Code, info.Message = CodeKafkaAuth, "Kafka refused the SASL credential"
		info.Setting = "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"
	case errors.As(err, &pe), errors.Is(err, publish.ErrStateUnknown), errors.Is(err, kafka.ErrWouldReorder):
		info.Code, info.Message = CodeKafkaWrite, "Kafka did not acknowledge every event; the next sync sends the rest with the same event ids"
		if pe != nil {
			info.Count = len(pe.Failed)
		}
	case errors.As(err, &skip):
		info.Code, info.Count = CodeEventTooLarge, len(skip.Skipped)
		info.Message = skippedMessage(skip.Skipped)
		if info.Entity == "" && len(skip.Skipped) > 0 {
			info.Entity = string(skip.Skipped[0].Entity)
		}
	case errors.As(err, &st):
		info.Code, info.Message = st.code, st.message
		switch {
		case errors.Is(err, codec.ErrUnknownSchemaID):
			info.Message += ": a record names a schema id the registry does not know"
			info.Setting = "SCHEMA_REGISTRY_URL"
		case errors.Is(err, codec.ErrBadMagicByte), errors.Is(err, codec.ErrShortPayload):
			info.Message += ": a record is not in the Confluent wire format"
		}
	case errors.Is(err, personio.ErrRepeatedCursor), errors.Is(err, personio.ErrForeignNextLink):
		info.Code, info.Message = CodeBadNextLink, "a next link repeated a cursor or pointed to another origin"
	case errors.Is(err, personio.ErrMalformedBody):
		info.Code, info.Message = CodePersonioMalformed, "Personio's reply was not complete JSON after every retry"
	case errors.Is(err, personio.ErrDecode):
		info.Code, info.Message = CodePersonioDecode, "Personio's reply did not have the expected shape"
	case errors.As(err, &conf):
		info.Code, info.Count = CodeDuplicateKeys, conf.n
		info.Message = "keys listed twice with different content were skipped"
	case errors.Is(err, context.Canceled):
		info.Code, info.Message = CodeCancelled, "the sync was cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		info.Code, info.Message = CodeTimeout, "a deadline ran out"
	case errors.As(err, &ne):
		info.Code, info.Message = CodePersonioNetwork, "Personio did not answer after every retry"
		info.Setting = "PERSONIO_BASE_URL"
	case errors.Is(err, extract.ErrIncomplete):
		info.Code, info.Message = CodeListingBroken, "the listing stopped before its end; its deletes were withheld"
	}
	switch {
	case strings.HasPrefix(info.Code, "registry."), info.Code == CodePersonioNetwork, info.Code == CodeUnclassified:
		info.Host = hostOf(err)
	}
	// A refusal by the brokers (certificate, TLS, SASL mechanism) names the setting that fixes it,
	// whichever stage met it; a refused SASL credential has its own code above.
	if kind := kafka.Refused(err); kind != kafka.RefusedSASL {
		if setting, problem := kafka.RefusalFix(kind); setting != "" {
			info.Setting = setting
			info.Message += "; " + problem
		}
	}
	// A listing that stopped on one of the causes above says so with the scope.
	if info.Code != CodeListingBroken && errors.Is(err, extract.ErrIncomplete) {
		info.Message += "; the listing stopped before its end and its deletes were withheld"
	}
	return info
}

// hostOf returns the host of the request that failed, when err holds a *url.Error: the
// address of a server from the settings (no user, no path, no query).
func hostOf(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return ""
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ""
	}
	return u.Host
}

// skippedMessage says what happened to events left out as too large, with their sizes (never
// their keys or content).
func skippedMessage(skips []publish.Skip) string {
	largest, limit := 0, 0
	for _, s := range skips {
		largest, limit = max(largest, s.Size), s.Limit
	}
	what := fmt.Sprintf("an event of %d bytes is", largest)
	if len(skips) > 1 {
		what = fmt.Sprintf("%d events (the largest %d bytes) are", len(skips), largest)
	}
	return what + fmt.Sprintf(" larger than the topic takes (at most %d bytes: its max.message.bytes less the batch header and compression margin); left out, the key keeps its state and the next sync tries again", limit)
}

// compensationsMessage is the meaning of an error type of Personio's compensations API.
func compensationsMessage(typ string) (string, bool) {
	switch typ {
	case personio.TypeCompensationsUnprocessable:
		return "Personio stopped a compensation request as too large", true
	case personio.TypeCompensationsTooManyRequests:
		return "Personio refused a compensation request: too many in progress, after every retry", true
	case personio.TypeCompensationsUnavailable:
		return "Personio's compensations API was unavailable after every retry", true
	}
	return "", false
}

// httpMessage is the meaning of an HTTP status from Personio (DESIGN.md §2).
func httpMessage(status int) string {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return "Personio rejected the request (a request too large, or a bug on our side)"
	case status == http.StatusUnauthorized:
		return "Personio refused the token"
	case status == http.StatusForbidden:
		return "the credential lacks a scope"
	case status == http.StatusNotFound:
		return "Personio does not know the resource"
	case status == http.StatusTooManyRequests:
		return "Personio's rate limit held after every retry"
	case status >= 500:
		return "Personio failed after every retry"
	}
	return "Personio answered with an error status"
}

// registryDetails copies the status of a *codec.RegistryError in err, if any.
func registryDetails(info *ErrorInfo, err error) {
	var re *codec.RegistryError
	if errors.As(err, &re) {
		info.HTTPStatus = re.Status
	}
}

// traceRE is the shape of a trace id; anything else (a server echoing text there) is dropped.
var traceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)

func traceID(s string) string {
	if traceRE.MatchString(s) && !strings.Contains(s, "@") {
		return s
	}
	return ""
}

// safeRE is the shape of a reason written by this project: short lower-case words.
var safeRE = regexp.MustCompile(`^[a-z][a-z0-9 ,._/()%-]{0,80}$`)

// safeReason returns a reason of our own code (a field error's reason, a registry operation)
// when it looks like one, "invalid" otherwise: a reason must not smuggle a value through.
func safeReason(s string) string {
	if safeRE.MatchString(s) {
		return s
	}
	return "invalid"
}

// fieldPath returns a field's dot path with every segment that holds a digit (an element's
// id or index) written as "*": "employments.7.weekly_working_hours" becomes
// "employments.*.weekly_working_hours".
func fieldPath(p string) string {
	segs := strings.Split(p, ".")
	for i, s := range segs {
		if strings.ContainsAny(s, "0123456789[]@") {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, ".")
}

// locatedError places an error in an entity and a scope, with a count (items skipped).
type locatedError struct {
	entity, scope string
	count         int
	err           error
}

func (e *locatedError) Error() string { return e.err.Error() }
func (e *locatedError) Unwrap() error { return e.err }

// stageError marks the stage of a run that failed when the error itself does not say.
type stageError struct {
	code, message string
	err           error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func atStage(code, message string, err error) error {
	return &stageError{code: code, message: message, err: err}
}

// conflictError counts keys listed twice with different content.
type conflictError struct {
	entity change.Entity
	n      int
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s: %d keys listed twice with different content were skipped", e.entity, e.n)
}

// RunError is the error Run returns. Its text is the description of the errors behind it
// (codes, entities, settings, HTTP statuses), so that whoever logs or prints it shows no
// personal data and none of Personio's free text; errors.Is and errors.As see the errors
// themselves.
type RunError struct {
	Details []ErrorInfo
	err     error
}

// Error implements error.
func (e *RunError) Error() string {
	texts := make([]string, len(e.Details))
	for i, d := range e.Details {
		texts[i] = d.String()
	}
	return "sync: " + strings.Join(texts, "; ")
}

// Unwrap returns the error behind the description.
func (e *RunError) Unwrap() error { return e.err }
