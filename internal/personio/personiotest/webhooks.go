package personiotest

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Webhooks v2 as the simulator serves them (see doc.go, "Webhooks"): management under
// /v2/webhooks, delivery of the events churn causes to every ENABLED webhook that enabled
// them, retries with backoff, and the events of the last 30 days per webhook.

// Defaults of WebhookOptions.
const (
	DefaultWebhookCompanyID = "1"
	DefaultWebhookTimeout   = 3 * time.Second
	DefaultWebhookAttempts  = 6
	DefaultWebhookBackoff   = time.Minute
	DefaultWebhookWorkers   = 4
	// WebhookEventRetention is how long GET /v2/webhooks/{id}/events keeps an event.
	WebhookEventRetention = 30 * 24 * time.Hour
)

// webhookEventNames are the names a webhook may enable: the person and employment events and
// the absence, attendance and document events Personio also has (never fired here).
var webhookEventNames = append(slices.Clone(personio.PersonEvents),
	"absence-period.created", "absence-period.updated.status", "absence-period.updated.timerange",
	"absence-period.deleted", "attendance-period.created", "attendance-period.updated",
	"attendance-period.deleted", "document.created", "document.updated", "document.deleted",
	"document.signed",
)

// WebhookOptions configure webhook delivery. The zero value is usable.
type WebhookOptions struct {
	// CompanyID is the company_id of every delivery; default "1".
	CompanyID string
	// Timeout is how long a delivery waits for a 2xx; default 3 s, as Personio.
	Timeout time.Duration
	// Attempts is how many times a delivery is tried before it is given up; default 6.
	Attempts int
	// Backoff is the wait before the first retry, doubled before each further one; default
	// 1 minute (Personio spreads its retries over days). Tests set milliseconds.
	Backoff time.Duration
	// Workers is how many deliveries are in flight at once; default 4.
	Workers int
	// AllowHTTP accepts http:// webhook URLs on any host. Without it, http:// is accepted
	// for loopback hosts only (tests, the demo); Personio accepts https:// only.
	AllowHTTP bool
	// RootCAs, when not nil, are the certificate authorities deliveries to https:// URLs
	// trust instead of the system's: a test's receiver serving TLS with its own CA.
	RootCAs *x509.CertPool
}

func (o WebhookOptions) withDefaults() WebhookOptions {
	if o.CompanyID == "" {
		o.CompanyID = DefaultWebhookCompanyID
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultWebhookTimeout
	}
	if o.Attempts == 0 {
		o.Attempts = DefaultWebhookAttempts
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultWebhookBackoff
	}
	if o.Workers == 0 {
		o.Workers = DefaultWebhookWorkers
	}
	return o
}

func (o WebhookOptions) validate() []error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Webhooks.Timeout must not be negative, got %s", o.Timeout))
	}
	if o.Attempts < 0 {
		errs = append(errs, fmt.Errorf("Webhooks.Attempts must not be negative, got %d", o.Attempts))
	}
	if o.Backoff < 0 {
		errs = append(errs, fmt.Errorf("Webhooks.Backoff must not be negative, got %s", o.Backoff))
	}
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("Webhooks.Workers must not be negative, got %d", o.Workers))
	}
	return errs
}

// WebhookEvent is the body of one delivery: Personio's envelope, ids only in the payload.
// Person events carry {"id": person id}; employment events {"id": employment id, "person":
// {"id": person id}}.
type WebhookEvent struct {
	CompanyID  string          `json:"company_id"`
	OccurredAt string          `json:"occurred_at"`
	EventName  string          `json:"event_name"`
	Payload    json.RawMessage `json:"payload"`
	Meta       json.RawMessage `json:"meta,omitempty"`
}

// WebhookStats count delivery attempts.
type WebhookStats struct {
	Fired     int64 `json:"fired"`     // events fired (before matching any webhook)
	Attempts  int64 `json:"attempts"`  // HTTP requests made
	Delivered int64 `json:"delivered"` // deliveries acknowledged with a 2xx
	Retried   int64 `json:"retried"`   // failed attempts that were scheduled again
	GivenUp   int64 `json:"given_up"`  // deliveries dropped: out of attempts or refused with 4xx
	Pending   int64 `json:"pending"`   // deliveries queued or in flight now
}

// webhook is one registered webhook. Its token and custom headers are never served back.
type webhook struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	Description   string   `json:"description"`
	Status        string   `json:"status"`
	AuthType      string   `json:"auth_type"`
	EnabledEvents []string `json:"enabled_events"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`

	token   string
	headers map[string]string
	events  []storedEvent // oldest first
}

type storedEvent struct {
	seq uint64
	at  time.Time
	ev  WebhookEvent
	id  string
}

// storedEventWire is an event as GET /v2/webhooks/{id}/events serves it.
type storedEventWire struct {
	ID string `json:"id"`
	WebhookEvent
}

type delivery struct {
	hookID  string
	url     string
	headers map[string]string
	body    []byte
	attempt int // attempts made so far
	due     time.Time
	index   int
}

type deliveryHeap []*delivery

func (h deliveryHeap) Len() int           { return len(h) }
func (h deliveryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h deliveryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *deliveryHeap) Push(x any)        { d := x.(*delivery); d.index = len(*h); *h = append(*h, d) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// hookHub holds the webhooks, their events and the delivery queue. Deliveries are timed by
// the real clock; now (Options.Now) stamps events and ages them out.
type hookHub struct {
	opts WebhookOptions
	now  func() time.Time
	stop <-chan struct{}

	mu       sync.Mutex
	hooks    map[string]*webhook
	order    []string // ids in creation order
	nextSeq  uint64
	nextID   uint64
	queue    deliveryHeap
	inFlight int
	wake     chan struct{}
	started  bool
	wg       sync.WaitGroup
	stats    WebhookStats
	client   *http.Client
}

func newHookHub(opts WebhookOptions, now func() time.Time, stop <-chan struct{}) *hookHub {
	var transport http.RoundTripper // nil: http.DefaultTransport
	if opts.RootCAs != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
		transport = t
	}
	return &hookHub{
		opts: opts, now: now, stop: stop,
		hooks: map[string]*webhook{},
		wake:  make(chan struct{}, 1),
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			// Personio does not follow redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// startLocked starts the delivery workers once; h.mu is held.
func (h *hookHub) startLocked() {
	if h.started {
		return
	}
	h.started = true
	for range h.opts.Workers {
		h.wg.Add(1)
		go h.work()
	}
}

func (h *hookHub) wait() { h.wg.Wait() }

func (h *hookHub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// work delivers due items until stop.
func (h *hookHub) work() {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		var next *delivery
		var wait time.Duration = -1
		if len(h.queue) > 0 {
			if d := time.Until(h.queue[0].due); d <= 0 {
				next = heap.Pop(&h.queue).(*delivery)
				h.inFlight++
			} else {
				wait = d
			}
		}
		more := len(h.queue) > 0
		h.mu.Unlock()
		if next != nil {
			if more {
				h.signal() // let an idle worker take the next one
			}
			h.deliver(next)
			continue
		}
		var timer *time.Timer
		var fired <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			fired = timer.C
		}
		select {
		case <-h.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-h.wake:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// deliver makes one attempt and schedules a retry or gives up.
func (h *hookHub) deliver(d *delivery) {
	ok, retry := h.post(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight--
	h.stats.Attempts++
	d.attempt++
	switch {
	case ok:
		h.stats.Delivered++
	case retry && d.attempt < h.opts.Attempts:
		h.stats.Retried++
		d.due = time.Now().Add(h.opts.Backoff << (d.attempt - 1))
		heap.Push(&h.queue, d)
	default:
		h.stats.GivenUp++
	}
}

// post sends d once: ok on 2xx; retry on a timeout, a transport error or a 5xx other than
// 501, as Personio.
func (h *hookHub) post(d *delivery) (ok, retry bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return false, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "personio-sim-webhooks")
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false, true
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, false
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return false, true
	}
	return false, false
}

// fire records evs for every ENABLED webhook that enabled their names and queues their
// delivery.
func (h *hookHub) fire(evs []WebhookEvent) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Fired += int64(len(evs))
	now := h.now()
	queued := false
	for _, id := range h.order {
		w := h.hooks[id]
		if w.Status != "ENABLED" {
			continue
		}
		w.prune(now)
		for _, ev := range evs {
			if !slices.Contains(w.EnabledEvents, ev.EventName) {
				continue
			}
			h.nextSeq++
			at, _ := time.Parse(time.RFC3339Nano, ev.OccurredAt)
			w.events = append(w.events, storedEvent{seq: h.nextSeq, at: at, ev: ev, id: eventID(h.nextSeq)})
			body := mustJSON(ev)
			heap.Push(&h.queue, &delivery{hookID: w.ID, url: w.URL, headers: w.authHeaders(), body: body, due: time.Now()})
			queued = true
		}
	}
	if queued {
		h.startLocked()
		h.signal()
	}
}

func eventID(seq uint64) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", seq)
}

func (w *webhook) prune(now time.Time) {
	cut := now.Add(-WebhookEventRetention)
	i := 0
	for i < len(w.events) && w.events[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		w.events = slices.Delete(w.events, 0, i)
	}
}

func (w *webhook) authHeaders() map[string]string {
	switch w.AuthType {
	case "TOKEN":
		return map[string]string{"Authorization": w.token}
	case "CUSTOM":
		return w.headers
	}
	return nil
}

func (h *hookHub) snapshot() WebhookStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.Pending = int64(len(h.queue) + h.inFlight)
	return s
}

// --- events the dataset's changes cause ---

func personPayload(personID string) json.RawMessage {
	return mustJSON(map[string]string{"id": personID})
}

func employmentPayload(employmentID, personID string) json.RawMessage {
	return mustJSON(map[string]any{"id": employmentID, "person": map[string]string{"id": personID}})
}

// webhookEvents returns the events a churn's changes cause: person.updated only for the
// attributes Personio names (names, email, custom attributes), not for a status change;
// employment events for the employment that changed; nothing for compensations, which have
// no webhooks. removed are the persons the churn deleted, with their employments.
func webhookEvents(res ChurnResult, d *dataset, removed []*personRec, companyID string, at time.Time) []WebhookEvent {
	var evs []WebhookEvent
	ts := at.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	add := func(name string, payload json.RawMessage) {
		evs = append(evs, WebhookEvent{CompanyID: companyID, OccurredAt: ts, EventName: name, Payload: payload})
	}
	for _, id := range res.Hires {
		add(personio.EventPersonCreated, personPayload(id))
		if p := d.byID[id]; p != nil {
			for _, e := range p.emps {
				add(personio.EventEmploymentCreated, employmentPayload(e.e.ID, id))
			}
		}
	}
	for _, id := range res.Terminations {
		if p := d.byID[id]; p != nil && len(p.emps) > 0 {
			e := p.currentEmployment()
			add(personio.EventEmploymentUpdated, employmentPayload(e.e.ID, id))
			add(personio.EventEmploymentTerminated, employmentPayload(e.e.ID, id))
		}
	}
	for _, p := range removed {
		for _, e := range p.emps {
			add(personio.EventEmploymentDeleted, employmentPayload(e.e.ID, p.p.ID))
		}
		add(personio.EventPersonDeleted, personPayload(p.p.ID))
	}
	for _, ids := range [][]string{res.Renames, res.EmailChanges, res.AttributeChanges} {
		for _, id := range ids {
			add(personio.EventPersonUpdated, personPayload(id))
		}
	}
	// Employment-only changes: an employment event, no person event.
	for _, k := range []struct {
		name string
		ids  []string
	}{{personio.EventEmploymentUpdated, res.EmploymentChanges}, {personio.EventEmploymentUpdatedCostCenters, res.CostCenterChanges}} {
		for _, id := range k.ids {
			if p := d.byID[id]; p != nil && len(p.emps) > 0 {
				add(k.name, employmentPayload(p.currentEmployment().e.ID, id))
			}
		}
	}
	return evs
}

// FireWebhookEvent fires one event as if Personio had: recorded for and delivered to every
// ENABLED webhook that enabled name. employmentID is empty for person events. Tests use it
// for events churn does not make (e.g. employment.updated.cost-centers) and for bursts.
func (s *Server) FireWebhookEvent(name, personID, employmentID string) {
	payload := personPayload(personID)
	if employmentID != "" {
		payload = employmentPayload(employmentID, personID)
	}
	ts := s.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	s.hooks.fire([]WebhookEvent{{CompanyID: s.opts.Webhooks.CompanyID, OccurredAt: ts, EventName: name, Payload: payload}})
}

// WebhookStats returns the delivery counters.
func (s *Server) WebhookStats() WebhookStats { return s.hooks.snapshot() }

// --- management endpoints ---

// webhookBody is the body of POST /v2/webhooks and PATCH /v2/webhooks/{id}; absent fields
// are nil.
type webhookBody struct {
	URL           *string           `json:"url"`
	Description   *string           `json:"description"`
	Status        *string           `json:"status"`
	AuthType      *string           `json:"auth_type"`
	Token         *string           `json:"token"`
	CustomHeaders map[string]string `json:"custom_headers"`
	EnabledEvents []string          `json:"enabled_events"`
}

var forbiddenHeaderPrefixes = []string{"host", "content-length", "transfer-encoding", "connection",
	"upgrade", "te", "trailer", "expect", "content-type"}

func webhookError(status int, detail string) response {
	title := map[int]string{400: "Bad request", 404: "Resource not found", 409: "Conflict", 422: "Unprocessable entity"}[status]
	code := map[int]string{400: "common.bad_request", 404: "common.resource_not_found", 409: "webhooks.conflict", 422: "webhooks.unprocessable_entity"}[status]
	return errorResponse(status, title, detail, code)
}

func readWebhookBody(r *http.Request) (webhookBody, *response) {
	var b webhookBody
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		resp := webhookError(http.StatusBadRequest, "The body must be application/json.")
		return b, &resp
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = strictUnmarshal(raw, &b)
	}
	if err != nil {
		resp := webhookError(http.StatusBadRequest, "The body is not a valid webhook: "+err.Error())
		return b, &resp
	}
	return b, nil
}

// checkWebhook validates w (after a create or an update applied b to it).
func (h *hookHub) checkWebhook(w *webhook, b webhookBody) string {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return "url must be an absolute HTTPS URL."
	}
	if u.Scheme == "http" && !h.opts.AllowHTTP && !isLoopback(u.Hostname()) {
		return "url must be an HTTPS URL."
	}
	if w.Description == "" {
		return "description is required."
	}
	if w.Status != "ENABLED" && w.Status != "DISABLED" {
		return "status must be ENABLED or DISABLED."
	}
	if len(w.EnabledEvents) == 0 {
		return "enabled_events must name at least one event."
	}
	for _, e := range w.EnabledEvents {
		if !slices.Contains(webhookEventNames, e) {
			return "enabled_events names an unknown event: " + strconv.Quote(e) + "."
		}
	}
	switch w.AuthType {
	case "NONE":
		if b.Token != nil || len(b.CustomHeaders) > 0 {
			return "auth_type NONE takes neither token nor custom_headers."
		}
	case "TOKEN":
		if w.token == "" {
			return "auth_type TOKEN requires a token."
		}
		if len(b.CustomHeaders) > 0 {
			return "custom_headers are allowed only with auth_type CUSTOM."
		}
	case "CUSTOM":
		if len(w.headers) == 0 || len(w.headers) > 3 {
			return "auth_type CUSTOM requires 1 to 3 custom_headers."
		}
		for k := range w.headers {
			for _, f := range forbiddenHeaderPrefixes {
				if strings.HasPrefix(strings.ToLower(k), f) {
					return "custom header " + strconv.Quote(k) + " is not allowed."
				}
			}
		}
	default:
		return "auth_type must be NONE, TOKEN or CUSTOM."
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (w *webhook) apply(b webhookBody) {
	if b.URL != nil {
		w.URL = *b.URL
	}
	if b.Description != nil {
		w.Description = *b.Description
	}
	if b.Status != nil {
		w.Status = *b.Status
	}
	if b.AuthType != nil {
		w.AuthType = *b.AuthType
	}
	if b.Token != nil {
		w.token = *b.Token
	}
	if b.CustomHeaders != nil {
		w.headers = b.CustomHeaders
	}
	if b.EnabledEvents != nil {
		w.EnabledEvents = slices.Clone(b.EnabledEvents)
	}
	if w.AuthType != "TOKEN" {
		w.token = ""
	}
	if w.AuthType != "CUSTOM" {
		w.headers = nil
	}
}

func (h *hookHub) urlTakenLocked(u, except string) bool {
	for id, w := range h.hooks {
		if id != except && w.URL == u {
			return true
		}
	}
	return false
}

func (s *Server) createWebhook(_ http.ResponseWriter, r *http.Request, _ string) response {
	b, bad := readWebhookBody(r)
	if bad != nil {
		return *bad
	}
	if b.URL == nil || b.Description == nil || b.EnabledEvents == nil {
		return webhookError(http.StatusBadRequest, "url, description and enabled_events are required.")
	}
	h := s.hooks
	now := rfc3339(s.opts.Now())
	w := &webhook{Status: "DISABLED", AuthType: "TOKEN", CreatedAt: now, UpdatedAt: now}
	w.apply(b)
	if msg := h.checkWebhook(w, b); msg != "" {
		return webhookError(http.StatusUnprocessableEntity, msg)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.urlTakenLocked(w.URL, "") {
		return webhookError(http.StatusConflict, "A webhook with this url exists already.")
	}
	h.nextID++
	w.ID = fmt.Sprintf("2e4324b0-1b0e-41ee-a7f7-%012d", h.nextID)
	h.hooks[w.ID] = w
	h.order = append(h.order, w.ID)
	resp := jsonResponse(mustJSON(w))
	resp.status = http.StatusCreated
	return resp
}

func (s *Server) listWebhooks(_ http.ResponseWriter, r *http.Request, _ string) response {
	q := newQuery(r, "limit", "cursor") // accepted; the list is one page
	if q.err != "" {
		return badRequest(q.err)
	}
	h := s.hooks
	h.mu.Lock()
	items := make([][]byte, 0, len(h.order))
	for _, id := range h.order {
		items = append(items, mustJSON(h.hooks[id]))
	}
	h.mu.Unlock()
	return jsonResponse(page(r, items, ""))
}

func (s *Server) getWebhook(_ http.ResponseWriter, r *http.Request, _ string) response {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.hooks[r.PathValue("id")]
	if w == nil {
		return webhookError(http.StatusNotFound, "The webhook does not exist.")
	}
	return jsonResponse(mustJSON(w))
}

func (s *Server) updateWebhook(_ http.ResponseWriter, r *http.Request, _ string) response {
	b, bad := readWebhookBody(r)
	if bad != nil {
		return *bad
	}
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.hooks[r.PathValue("id")]
	if w == nil {
		return webhookError(http.StatusNotFound, "The webhook does not exist.")
	}
	next := *w
	next.events = nil
	next.apply(b)
	if msg := h.checkWebhook(&next, b); msg != "" {
		return webhookError(http.StatusUnprocessableEntity, msg)
	}
	if h.urlTakenLocked(next.URL, w.ID) {
		return webhookError(http.StatusConflict, "A webhook with this url exists already.")
	}
	next.events = w.events
	next.UpdatedAt = rfc3339(s.opts.Now())
	*w = next
	return jsonResponse(mustJSON(w))
}

func (s *Server) deleteWebhook(_ http.ResponseWriter, r *http.Request, _ string) response {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	id := r.PathValue("id")
	if h.hooks[id] == nil {
		return webhookError(http.StatusNotFound, "The webhook does not exist.")
	}
	delete(h.hooks, id)
	h.order = slices.DeleteFunc(h.order, func(x string) bool { return x == id })
	// Deliveries already queued for it are dropped.
	kept := h.queue[:0]
	for _, d := range h.queue {
		if d.hookID != id {
			kept = append(kept, d)
		}
	}
	h.queue = kept
	heap.Init(&h.queue)
	return response{status: http.StatusNoContent}
}

var webhookEventParams = []string{"limit", "cursor", "occurred_at", "occurred_at.gt", "occurred_at.lt", "event_name"}

// listWebhookEvents serves GET /v2/webhooks/{id}/events: the webhook's events of the last
// 30 days, oldest first, filtered by occurred_at[.gt|.lt] and event_name (a comma list),
// limit 1–200 (default 100), cursor pagination as every listing.
func (s *Server) listWebhookEvents(_ http.ResponseWriter, r *http.Request, _ string) response {
	q := newQuery(r, webhookEventParams...)
	limit := q.limit(100, 1, 200)
	after := q.cursor('w')
	occ := q.timeFilter("occurred_at")
	names := q.list("event_name")
	if q.err != "" {
		return badRequest(q.err)
	}
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.hooks[r.PathValue("id")]
	if w == nil {
		return webhookError(http.StatusNotFound, "The webhook does not exist.")
	}
	w.prune(s.opts.Now())
	items, next := collectPage(w.events, limit, 'w', func(e storedEvent) bool {
		return e.seq > after && occ.match(e.at) && (names == nil || names[e.ev.EventName])
	}, func(e storedEvent) ([]byte, uint64) {
		return mustJSON(storedEventWire{ID: e.id, WebhookEvent: e.ev}), e.seq
	})
	return jsonResponse(page(r, items, next))
}
