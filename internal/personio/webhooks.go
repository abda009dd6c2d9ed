package personio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Route templates of the webhooks API.
const (
	endpointListWebhooks      = "GET /v2/webhooks"
	endpointCreateWebhook     = "POST /v2/webhooks"
	endpointGetWebhook        = "GET /v2/webhooks/{id}"
	endpointUpdateWebhook     = "PATCH /v2/webhooks/{id}"
	endpointDeleteWebhook     = "DELETE /v2/webhooks/{id}"
	endpointListWebhookEvents = "GET /v2/webhooks/{id}/events"
)

// Webhook statuses and authentication types of Personio's webhooks API.
const (
	WebhookEnabled  = "ENABLED"
	WebhookDisabled = "DISABLED"

	WebhookAuthNone   = "NONE"
	WebhookAuthToken  = "TOKEN"
	WebhookAuthCustom = "CUSTOM"
)

// The person and employment events (Personio also has absence, attendance and document
// events, which this service does not use).
const (
	EventPersonCreated                = "person.created"
	EventPersonUpdated                = "person.updated"
	EventPersonDeleted                = "person.deleted"
	EventEmploymentCreated            = "employment.created"
	EventEmploymentUpdated            = "employment.updated"
	EventEmploymentUpdatedCostCenters = "employment.updated.cost-centers"
	EventEmploymentDeleted            = "employment.deleted"
	EventEmploymentStarted            = "employment.started"
	EventEmploymentTerminated         = "employment.terminated"
)

// PersonEvents are the webhook events about persons and their employments, the ones this
// service subscribes to by default.
var PersonEvents = []string{
	EventPersonCreated, EventPersonUpdated, EventPersonDeleted,
	EventEmploymentCreated, EventEmploymentUpdated, EventEmploymentUpdatedCostCenters,
	EventEmploymentDeleted, EventEmploymentStarted, EventEmploymentTerminated,
}

// Page size bounds of the webhook events listing.
const (
	MaxWebhookEventsLimit     = 200
	DefaultWebhookEventsLimit = 200
)

// Webhook is a webhook as Personio's API shows it. Its token is never shown.
type Webhook struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	Description   string   `json:"description"`
	Status        string   `json:"status"`
	AuthType      string   `json:"auth_type"`
	EnabledEvents []string `json:"enabled_events"`
}

// WebhookSpec is what CreateWebhook sends. Token is sent verbatim in the Authorization header
// of every delivery (auth type TOKEN); it never appears in logs or errors.
type WebhookSpec struct {
	URL           string
	Description   string
	Status        string // ENABLED or DISABLED; empty means Personio's default, DISABLED
	AuthType      string // empty means TOKEN when Token is set, else NONE
	Token         string
	EnabledEvents []string
}

// String describes the spec without its token.
func (s WebhookSpec) String() string {
	return fmt.Sprintf("webhook %s (%s, %s, %d events)", s.URL, s.Status, s.authType(), len(s.EnabledEvents))
}

// LogValue logs the spec without its token.
func (s WebhookSpec) LogValue() slog.Value { return slog.StringValue(s.String()) }

func (s WebhookSpec) authType() string {
	switch {
	case s.AuthType != "":
		return s.AuthType
	case s.Token != "":
		return WebhookAuthToken
	}
	return WebhookAuthNone
}

type webhookBody struct {
	URL           string   `json:"url"`
	Description   string   `json:"description"`
	Status        string   `json:"status,omitempty"`
	AuthType      string   `json:"auth_type"`
	Token         string   `json:"token,omitempty"`
	EnabledEvents []string `json:"enabled_events"`
}

func (s WebhookSpec) validate() error {
	var errs []error
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, errors.New("url must be an absolute https URL"))
	}
	if strings.TrimSpace(s.Description) == "" {
		errs = append(errs, errors.New("description is required"))
	}
	if len(s.EnabledEvents) == 0 {
		errs = append(errs, errors.New("at least one enabled event is required"))
	}
	switch s.authType() {
	case WebhookAuthToken:
		if s.Token == "" {
			errs = append(errs, errors.New("auth type TOKEN needs a token"))
		}
	case WebhookAuthNone:
		if s.Token != "" {
			errs = append(errs, errors.New("auth type NONE takes no token"))
		}
	default:
		errs = append(errs, fmt.Errorf("auth type must be %s or %s", WebhookAuthNone, WebhookAuthToken))
	}
	if s.Status != "" && s.Status != WebhookEnabled && s.Status != WebhookDisabled {
		errs = append(errs, fmt.Errorf("status must be %s or %s", WebhookEnabled, WebhookDisabled))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, errors.Join(errs...))
	}
	return nil
}

// WebhookEvent is one event: the body of a delivery, and an item of the events listing
// (which adds ID). Payload holds ids only; see WebhookEvent.PersonID.
type WebhookEvent struct {
	ID         string          `json:"id,omitempty"`
	CompanyID  string          `json:"company_id"`
	OccurredAt string          `json:"occurred_at"`
	EventName  string          `json:"event_name"`
	Payload    json.RawMessage `json:"payload"`
	Meta       json.RawMessage `json:"meta,omitempty"`
}

// Occurred parses OccurredAt (RFC 3339, fractions allowed).
func (e WebhookEvent) Occurred() (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, e.OccurredAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: occurred_at is not an RFC 3339 date-time", ErrInvalidArgument)
	}
	return t, nil
}

// eventPayload is the part of a payload this service reads: the ids.
type eventPayload struct {
	ID       json.RawMessage `json:"id"`
	PersonID json.RawMessage `json:"person_id"`
	Person   *struct {
		ID json.RawMessage `json:"id"`
	} `json:"person"`
}

// PersonID returns the id of the person the event is about: payload.person.id or
// payload.person_id, and for person.* events payload.id. Ids may be strings or numbers.
// It returns "" when the payload names no person.
func (e WebhookEvent) PersonID() string {
	var p eventPayload
	if json.Unmarshal(e.Payload, &p) != nil {
		return ""
	}
	if p.Person != nil {
		if id := idText(p.Person.ID); id != "" {
			return id
		}
	}
	if id := idText(p.PersonID); id != "" {
		return id
	}
	if strings.HasPrefix(e.EventName, "person.") {
		return idText(p.ID)
	}
	return ""
}

// EmploymentID returns payload.id of an employment.* event, else "".
func (e WebhookEvent) EmploymentID() string {
	if !strings.HasPrefix(e.EventName, "employment.") {
		return ""
	}
	var p eventPayload
	if json.Unmarshal(e.Payload, &p) != nil {
		return ""
	}
	return idText(p.ID)
}

// idText reads an id given as a JSON string or number; anything else gives "".
func idText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return string(n)
		}
	}
	return ""
}

// WebhookEventFilter narrows GET /v2/webhooks/{id}/events. Zero fields are not sent.
type WebhookEventFilter struct {
	OccurredAfter  time.Time // occurred_at.gt (whole seconds: an event in that second is listed again)
	OccurredBefore time.Time // occurred_at.lt
	EventNames     []string  // event_name (comma list)
	Limit          int       // page size 1–200; 0 means 200
}

// ListWebhooks lists the company's webhooks.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out []Webhook
	// list bounds its pages by the limit parameter, which Personio may ignore here.
	u := c.endpointURL(url.Values{"limit": {strconv.Itoa(DefaultWebhookEventsLimit)}}, "v2", "webhooks")
	err := list(ctx, c, endpointListWebhooks, c.persons, u, func(ws []Webhook) error {
		out = append(out, ws...)
		return nil
	})
	if err != nil {
		return nil, c.scrub(fmt.Errorf("list webhooks: %w", err))
	}
	return out, nil
}

// CreateWebhook registers a webhook and returns it as Personio stored it.
func (c *Client) CreateWebhook(ctx context.Context, spec WebhookSpec) (Webhook, error) {
	if err := spec.validate(); err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	body, err := json.Marshal(webhookBody{
		URL: spec.URL, Description: spec.Description, Status: spec.Status,
		AuthType: spec.authType(), Token: spec.Token, EnabledEvents: spec.EnabledEvents,
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	w, err := sendOne[Webhook](ctx, c, endpointCreateWebhook, http.MethodPost, c.endpointURL(nil, "v2", "webhooks"), body)
	if err != nil {
		return Webhook{}, redact(c.scrub(fmt.Errorf("create webhook: %w", err)), spec.Token)
	}
	return w, nil
}

// GetWebhook returns one webhook; ErrNotFound when it does not exist.
func (c *Client) GetWebhook(ctx context.Context, id string) (Webhook, error) {
	if err := checkID("webhook id", id); err != nil {
		return Webhook{}, fmt.Errorf("get webhook: %w", err)
	}
	w, err := getOne[Webhook](ctx, c, endpointGetWebhook, c.endpointURL(nil, "v2", "webhooks", id))
	if err != nil {
		return Webhook{}, c.scrub(fmt.Errorf("get webhook: %w", err))
	}
	return w, nil
}

// SetWebhookStatus enables or disables a webhook.
func (c *Client) SetWebhookStatus(ctx context.Context, id, status string) (Webhook, error) {
	if err := checkID("webhook id", id); err != nil {
		return Webhook{}, fmt.Errorf("update webhook: %w", err)
	}
	if status != WebhookEnabled && status != WebhookDisabled {
		return Webhook{}, fmt.Errorf("update webhook: %w: status must be %s or %s", ErrInvalidArgument, WebhookEnabled, WebhookDisabled)
	}
	body, _ := json.Marshal(map[string]string{"status": status})
	w, err := sendOne[Webhook](ctx, c, endpointUpdateWebhook, http.MethodPatch, c.endpointURL(nil, "v2", "webhooks", id), body)
	if err != nil {
		return Webhook{}, c.scrub(fmt.Errorf("update webhook: %w", err))
	}
	return w, nil
}

// DeleteWebhook removes a webhook; ErrNotFound when it does not exist.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	if err := checkID("webhook id", id); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if err := c.call(ctx, endpointDeleteWebhook, c.persons, http.MethodDelete, c.endpointURL(nil, "v2", "webhooks", id), nil, nil); err != nil {
		return c.scrub(fmt.Errorf("delete webhook: %w", err))
	}
	return nil
}

// ListWebhookEvents lists the events Personio kept for a webhook (30 days), oldest first,
// calling fn once per page in order.
func (c *Client) ListWebhookEvents(ctx context.Context, webhookID string, f WebhookEventFilter, fn func([]WebhookEvent) error) error {
	if err := checkID("webhook id", webhookID); err != nil {
		return fmt.Errorf("list webhook events: %w", err)
	}
	limit, err := pageLimit(f.Limit, DefaultWebhookEventsLimit, MaxWebhookEventsLimit)
	if err != nil {
		return fmt.Errorf("list webhook events: %w", err)
	}
	q := url.Values{}
	q.Set("limit", strconv.Itoa(limit))
	if err := setList(q, "event_name", f.EventNames); err != nil {
		return fmt.Errorf("list webhook events: %w", err)
	}
	setTime(q, "occurred_at.gt", f.OccurredAfter)
	setTime(q, "occurred_at.lt", f.OccurredBefore)
	u := c.endpointURL(q, "v2", "webhooks", webhookID, "events")
	if err := list(ctx, c, endpointListWebhookEvents, c.persons, u, fn); err != nil {
		return c.scrub(fmt.Errorf("list webhook events: %w", err))
	}
	return nil
}

// sendOne sends body with method and decodes the object of the reply ({"_data": {...}}
// unwrapped).
func sendOne[T any](ctx context.Context, c *Client, endpoint, method string, u *url.URL, body []byte) (T, error) {
	var v T
	err := c.call(ctx, endpoint, c.persons, method, u, body, func(b []byte) error {
		var wrapped struct {
			Data json.RawMessage `json:"_data"`
		}
		if json.Unmarshal(b, &wrapped) == nil && isObject(wrapped.Data) {
			b = wrapped.Data
		}
		if !isObject(b) {
			return fmt.Errorf("%s: %w: not a JSON object", endpoint, ErrDecode)
		}
		var zero T
		v = zero
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("%s: %w: %s", endpoint, ErrDecode, describeDecodeError(err))
		}
		return nil
	})
	return v, err
}

// redact cuts secret out of err's message (as Client.scrub does for the credential).
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}
