package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultMaxInFlight  = 256
	DefaultQueueSize    = 10000
	// AnswerWithin is how long Personio waits for a 2xx; the listener's timeouts stay below.
	AnswerWithin = 3 * time.Second
)

// Options configure a Receiver.
type Options struct {
	// Addr is the listen address of Run (host:port).
	Addr string
	// Path is the one path deliveries are accepted on (e.g. /webhooks/personio).
	Path string
	// Token is the exact Authorization value Personio sends; required.
	Token string
	// TLSCertFile and TLSKeyFile make Run serve HTTPS; both or neither.
	TLSCertFile, TLSKeyFile string
	// QueueSize bounds the persons waiting for a fetch; default 10,000.
	QueueSize int
	// MaxBodyBytes bounds a delivery's body; default 64 KiB (a delivery holds ids only).
	MaxBodyBytes int64
	// MaxInFlight bounds the requests handled at once; beyond, 503. Default 256.
	MaxInFlight int
	// Registerer receives the personio_cdc_webhook_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Token == "" {
		errs = append(errs, errors.New("Token is required"))
	}
	if strings.ContainsAny(o.Token, "\r\n") {
		errs = append(errs, errors.New("Token must be one line"))
	}
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("Path %q must start with /", o.Path))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLSCertFile and TLSKeyFile go together"))
	}
	if o.QueueSize < 0 || o.MaxBodyBytes < 0 || o.MaxInFlight < 0 {
		errs = append(errs, errors.New("QueueSize, MaxBodyBytes and MaxInFlight must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

// Receiver answers Personio's webhook deliveries and queues the persons they name.
type Receiver struct {
	opts  Options
	token [sha256.Size]byte
	queue *Queue
	m     *metrics
	slots chan struct{}
	log   *slog.Logger
}

// New validates o and builds a receiver with its queue; it does not listen (see Run, Serve
// and Handler).
func New(o Options) (*Receiver, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	q := NewQueue(o.QueueSize)
	return &Receiver{
		opts:  o,
		token: sha256.Sum256([]byte(o.Token)),
		queue: q,
		m:     newMetrics(o.Registerer, q, o.QueueSize),
		slots: make(chan struct{}, o.MaxInFlight),
		log:   o.Logger,
	}, nil
}

// Queue returns the queue the deliveries fill.
func (r *Receiver) Queue() *Queue { return r.queue }

// Finished records the end of a targeted fetch taken from the queue: published (err nil) or
// failed, in which case the target is queued again. Either way the person leaves the in-flight
// set, and deliveries that arrived meanwhile are queued.
func (r *Receiver) Finished(t Target, err error) {
	if err != nil {
		r.m.processed.WithLabelValues("failed").Inc()
		r.queue.Done(t.PersonID, &t)
		return
	}
	r.m.processed.WithLabelValues("published").Inc()
	if !t.FirstReceived.IsZero() {
		r.m.latency.Observe(r.opts.Now().Sub(t.FirstReceived).Seconds())
	}
	r.queue.Done(t.PersonID, nil)
}

// Handler serves the one delivery path; every other path is 404.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(r.opts.Path, http.HandlerFunc(r.serveDelivery))
	return mux
}

// Run listens on Options.Addr and serves until ctx ends, then shuts down gracefully.
func (r *Receiver) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.opts.Addr)
	if err != nil {
		return fmt.Errorf("webhook: listen %s: %w", r.opts.Addr, err)
	}
	return r.Serve(ctx, ln)
}

// Serve serves on ln (closing it) until ctx ends; with TLS files set, it serves HTTPS.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	return serveHTTP(ctx, ln, r.Handler(), r.opts.TLSCertFile, r.opts.TLSKeyFile, r.opts.Path, r.log)
}

// reply writes a short JSON status; it never echoes anything of the request.
func reply(w http.ResponseWriter, status int, outcome string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"status":%q}`+"\n", outcome)
}

func (r *Receiver) serveDelivery(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	status, outcome := r.handle(w, req)
	r.m.deliveries.WithLabelValues(outcome).Inc()
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	reply(w, status, outcome)
	r.m.duration.Observe(time.Since(start).Seconds())
}

// authorized compares the Authorization header with the token in constant time (both are
// hashed first, so that not even their lengths are compared).
func (r *Receiver) authorized(req *http.Request) bool {
	return tokenMatches(req, r.token)
}

// handle decides the reply of one delivery; it never blocks on anything but reading the
// (bounded) body.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) (int, string) {
	if req.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, outcomeMethod
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		return http.StatusServiceUnavailable, outcomeBusy
	}
	if !r.authorized(req) {
		return http.StatusUnauthorized, outcomeUnauthorized
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, outcomeMediaType
	}
	if req.ContentLength > r.opts.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, outcomeTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, outcomeTooLarge
		}
		return http.StatusBadRequest, outcomeBadRequest
	}
	ev, occurred, ok := parseDelivery(body)
	if !ok {
		return http.StatusBadRequest, outcomeBadRequest
	}
	if !slices.Contains(personio.PersonEvents, ev.EventName) {
		r.m.events.WithLabelValues("other").Inc()
		return http.StatusOK, outcomeIgnored
	}
	r.m.events.WithLabelValues(ev.EventName).Inc()
	pid := ev.PersonID()
	if !validID(pid) {
		return http.StatusUnprocessableEntity, outcomeUnroutable
	}
	outcome := r.queue.Offer(targetOf(ev.EventName, pid, r.opts.Now(), occurred))
	if outcome == Full {
		return http.StatusServiceUnavailable, outcomeQueueFull
	}
	return http.StatusAccepted, outcome
}

// targetOf is the fetch an event asks for: its person, and their employments for an
// employment event or a new or deleted person (whose employments change with them).
func targetOf(event, personID string, received, occurred time.Time) Target {
	return Target{
		PersonID:      personID,
		Employments:   strings.HasPrefix(event, "employment.") || event == personio.EventPersonCreated || event == personio.EventPersonDeleted,
		FirstReceived: received,
		LastOccurred:  occurred,
	}
}

// parseDelivery reads a delivery: an object with event_name, occurred_at (RFC 3339) and an
// object payload.
func parseDelivery(body []byte) (personio.WebhookEvent, time.Time, bool) {
	var ev personio.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, time.Time{}, false
	}
	if ev.EventName == "" || len(ev.EventName) > 128 || !isObject(ev.Payload) {
		return ev, time.Time{}, false
	}
	occurred, err := ev.Occurred()
	if err != nil {
		return ev, time.Time{}, false
	}
	return ev, occurred, true
}

func isObject(b json.RawMessage) bool {
	s := strings.TrimSpace(string(b))
	return strings.HasPrefix(s, "{")
}

// validID accepts an id fit to name a person in a request path: 1–128 characters, none of
// them a control character, a slash, '?', '#' or '%'.
func validID(id string) bool {
	if id == "" || len(id) > 128 || id == "." || id == ".." {
		return false
	}
	for _, c := range id {
		if c < 0x20 || c == 0x7f || strings.ContainsRune("/?#%", c) {
			return false
		}
	}
	return true
}
