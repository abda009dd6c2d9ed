package codec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// CompatibilityBackwardTransitive is the level the service sets on its subjects.
const CompatibilityBackwardTransitive = registry.BackwardTransitiveCL

// Subject returns the value subject of topic under the TopicNameStrategy.
func Subject(topic string) string { return topic + "-value" }

// RegistryOption configures a Registry.
type RegistryOption func(*registryConfig)

type registryConfig struct {
	user, password string
	basic          bool
	bearer         string
	httpClient     *http.Client
	logger         *slog.Logger
	compatibility  string
	timeout        time.Duration
	registerer     prometheus.Registerer
}

// WithBasicAuth authenticates with HTTP basic auth.
func WithBasicAuth(user, password string) RegistryOption {
	return func(c *registryConfig) { c.user, c.password, c.basic = user, password, true }
}

// WithBearerToken sends "Authorization: Bearer <token>" with every request.
func WithBearerToken(token string) RegistryOption {
	return func(c *registryConfig) { c.bearer = token }
}

// WithHTTPClient sets the HTTP client (TLS settings, proxies, timeouts).
func WithHTTPClient(hc *http.Client) RegistryOption {
	return func(c *registryConfig) { c.httpClient = hc }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) RegistryOption {
	return func(c *registryConfig) { c.logger = l }
}

// WithCompatibility sets the compatibility level Register puts on a subject
// (default BACKWARD_TRANSITIVE); "" leaves the registry's setting alone.
func WithCompatibility(level string) RegistryOption {
	return func(c *registryConfig) { c.compatibility = level }
}

// WithTimeout bounds each registry request when the default HTTP client is
// used (default 10s).
func WithTimeout(d time.Duration) RegistryOption {
	return func(c *registryConfig) { c.timeout = d }
}

// WithRegisterer registers the client's metrics
// (personio_cdc_schema_id_checks_total) with reg; without it they are kept
// unregistered.
func WithRegisterer(reg prometheus.Registerer) RegistryOption {
	return func(c *registryConfig) { c.registerer = reg }
}

// Registry is a Confluent-compatible schema registry client with caches for
// id→schema and (subject, schema)→id. It is safe for concurrent use.
//
// The (subject, schema)→id cache is not trusted on its own: Register confirms
// a cached id with the registry on every call (see Register), because a
// registry that lost its schemas hands the same ids to other schemas.
type Registry struct {
	client        *registry.Client
	logger        *slog.Logger
	compatibility string
	checks        *prometheus.CounterVec // result

	// For the id checks, which must bypass the hamba client's id cache.
	base           *url.URL
	hc             *http.Client
	basic          bool
	user, password string

	mu   sync.RWMutex
	byID map[int]avro.Schema
	ids  map[subjectSchema]int
	// stale holds the schemas whose id failed its check and that could not be
	// registered again (or not yet): CheckIDs reports them until a
	// registration succeeds.
	stale map[subjectSchema]*SchemaIDError
}

// subjectSchema keys the id cache by the full schema text: the canonical
// fingerprint ignores defaults and docs, and a changed default is a new
// schema version.
type subjectSchema struct {
	subject string
	schema  string
}

// NewRegistry returns a client for the registry at baseURL (for Apicurio the
// ccompat path, e.g. http://host:8080/apis/ccompat/v7).
func NewRegistry(baseURL string, opts ...RegistryOption) (*Registry, error) {
	cfg := registryConfig{compatibility: CompatibilityBackwardTransitive, timeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("codec: schema registry URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("codec: schema registry URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("codec: schema registry URL %q: host is missing", u.Redacted())
	case cfg.basic && cfg.bearer != "":
		return nil, errors.New("codec: schema registry: basic auth and bearer token are mutually exclusive")
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("codec: schema registry timeout %v must be positive", cfg.timeout)
	}
	if cfg.compatibility != "" {
		switch cfg.compatibility {
		case registry.BackwardCL, registry.BackwardTransitiveCL, registry.ForwardCL, registry.ForwardTransitiveCL,
			registry.FullCL, registry.FullTransitiveCL, registry.NoneCL:
		default:
			return nil, fmt.Errorf("codec: schema registry compatibility level %q is not valid", cfg.compatibility)
		}
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.timeout}
	}
	if cfg.bearer != "" {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c := *hc
		c.Transport = &bearerTransport{token: cfg.bearer, base: base}
		hc = &c
	}
	copts := []registry.ClientFunc{registry.WithHTTPClient(hc)}
	if cfg.basic {
		copts = append(copts, registry.WithBasicAuth(cfg.user, cfg.password))
	}
	client, err := registry.NewClient(u.String(), copts...)
	if err != nil {
		return nil, fmt.Errorf("codec: schema registry client: %w", err)
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{
		client:        client,
		logger:        logger.With("component", "schema-registry"),
		compatibility: cfg.compatibility,
		checks:        newCheckCounter(cfg.registerer),
		base:          u,
		hc:            hc,
		basic:         cfg.basic,
		user:          cfg.user,
		password:      cfg.password,
		byID:          make(map[int]avro.Schema),
		ids:           make(map[subjectSchema]int),
		stale:         make(map[subjectSchema]*SchemaIDError),
	}, nil
}

type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// Register makes sure schema is registered under subject and returns the id
// that names it. The id it returns has just been confirmed: the registry's
// GET /schemas/ids/{id} answered a schema with the same canonical form (see
// sameSchema). Call it before every use of the id; a cached id costs one GET.
//
//   - A cached id that is confirmed is returned.
//   - A cached id the registry no longer knows (it lost its schemas), or that
//     names another schema (it lost them and gave the id away), is forgotten,
//     and the schema is registered again; the id the registry gives it, which
//     may be a new one, is confirmed the same way and used from then on.
//   - When no id can be confirmed — the registration is refused, or its id
//     names another schema — Register fails with an error matching
//     ErrSchemaIDMismatch, and keeps failing until a registration succeeds.
//   - When the registry does not answer, Register fails with a retryable
//     error: an unconfirmed id is never returned.
//
// Registering first sets the subject's compatibility level (a registry that
// refuses is logged, not fatal); registering an existing schema returns its
// id. If the credentials may not register (401/403), it looks the schema up
// instead, so a read-only deployment works once the schema exists. An
// incompatible schema yields an error matching ErrIncompatible.
func (r *Registry) Register(ctx context.Context, subject string, schema avro.Schema) (int, error) {
	text, err := json.Marshal(schema)
	if err != nil {
		return 0, fmt.Errorf("codec: register %s: marshal schema: %w", subject, err)
	}
	k := subjectSchema{subject: subject, schema: string(text)}
	r.mu.RLock()
	id, cached := r.ids[k]
	staleID, stale := 0, r.stale[k] != nil
	if stale {
		staleID = r.stale[k].ID
	}
	r.mu.RUnlock()
	if cached {
		err := r.checkID(ctx, subject, id, schema)
		if err == nil {
			r.checks.WithLabelValues(checkOK).Inc()
			return id, nil
		}
		if !errors.Is(err, ErrSchemaIDMismatch) {
			r.checks.WithLabelValues(checkError).Inc()
			return 0, err
		}
		r.logger.WarnContext(ctx, "schema registry: the schema id no longer names the schema; registering it again",
			"subject", subject, "id", id, "err", err)
		r.mu.Lock()
		delete(r.ids, k)
		r.stale[k] = &SchemaIDError{Subject: subject, ID: id, Err: errNotReplaced}
		r.mu.Unlock()
		staleID, stale = id, true
	}
	id, err = r.register(ctx, subject, string(text))
	if err == nil {
		err = r.checkID(ctx, subject, id, schema)
	}
	if err != nil {
		switch {
		case stale:
			r.checks.WithLabelValues(checkRefused).Inc()
			se := &SchemaIDError{Subject: subject, ID: staleID, Err: err}
			r.mu.Lock()
			r.stale[k] = se
			r.mu.Unlock()
			return 0, se
		case errors.Is(err, ErrSchemaIDMismatch):
			r.checks.WithLabelValues(checkRefused).Inc()
		default:
			r.checks.WithLabelValues(checkError).Inc()
		}
		return 0, err
	}
	r.mu.Lock()
	r.ids[k] = id
	r.byID[id] = schema
	delete(r.stale, k)
	r.mu.Unlock()
	if stale {
		r.checks.WithLabelValues(checkReplaced).Inc()
		r.logger.WarnContext(ctx, "schema registry: schema registered again, publishing under the id it names now",
			"subject", subject, "old_id", staleID, "id", id)
	} else {
		r.checks.WithLabelValues(checkOK).Inc()
	}
	return id, nil
}

// register sets the subject's compatibility level and registers text under
// subject (or looks it up when the credentials may not register).
func (r *Registry) register(ctx context.Context, subject, text string) (int, error) {
	if r.compatibility != "" {
		if err := r.client.SetCompatibilityLevel(ctx, subject, r.compatibility); err != nil {
			r.logger.WarnContext(ctx, "schema registry refused to set the compatibility level",
				"subject", subject, "level", r.compatibility, "err", registryError(opConfig, subject, err))
		}
	}
	id, _, err := r.client.CreateSchema(ctx, subject, text)
	if err == nil {
		return id, nil
	}
	var he registry.Error
	if !errors.As(err, &he) || (he.StatusCode != http.StatusUnauthorized && he.StatusCode != http.StatusForbidden) {
		return 0, registryError(opRegister, subject, err)
	}
	r.logger.WarnContext(ctx, "schema registry refused registration, looking the schema up instead",
		"subject", subject, "status", he.StatusCode)
	id, _, err = r.client.IsRegistered(ctx, subject, text)
	if err != nil {
		return 0, registryError(opLookup, subject, err)
	}
	return id, nil
}

// CheckIDs checks every id Register returned against the registry, for
// readiness probes: nil when each still names its schema; an error matching
// ErrSchemaIDMismatch when one no longer does (the next Register replaces it
// or refuses) or when a schema's id failed and could not be replaced; another
// error when the registry does not answer. It changes nothing.
func (r *Registry) CheckIDs(ctx context.Context) error {
	type entry struct {
		subject string
		id      int
		schema  avro.Schema
	}
	var (
		check []entry
		errs  []error
	)
	r.mu.RLock()
	for k, id := range r.ids {
		check = append(check, entry{subject: k.subject, id: id, schema: r.byID[id]})
	}
	for _, se := range r.stale {
		errs = append(errs, se)
	}
	r.mu.RUnlock()
	for _, e := range check {
		if e.schema == nil {
			continue // not possible: Register caches both
		}
		if err := r.checkID(ctx, e.subject, e.id, e.schema); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkID confirms that the registry's id names schema: nil when it does, an
// error matching ErrSchemaIDMismatch when the registry does not know the id or
// gives it to another schema, another error when it does not answer.
func (r *Registry) checkID(ctx context.Context, subject string, id int, schema avro.Schema) error {
	text, err := r.fetchSchema(ctx, id)
	if err != nil {
		var re *RegistryError
		if errors.As(err, &re) && re.Status == http.StatusNotFound {
			return &SchemaIDError{Subject: subject, ID: id, Reason: reasonUnknown}
		}
		return fmt.Errorf("schema id %d of %s: %w", id, subject, err)
	}
	if !sameSchema(schema, text) {
		return &SchemaIDError{Subject: subject, ID: id, Reason: reasonOther}
	}
	return nil
}

// maxSchemaBytes bounds the answer of GET /schemas/ids/{id}.
const maxSchemaBytes = 8 << 20

// fetchSchema returns the schema text the registry holds under id, always
// from the registry (the hamba client caches ids forever).
func (r *Registry) fetchSchema(ctx context.Context, id int) (string, error) {
	u := r.base.JoinPath("schemas", "ids", strconv.Itoa(id))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", registryError(opCheckID, "", err)
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if r.basic {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return "", registryError(opCheckID, "", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSchemaBytes))
		_ = resp.Body.Close()
	}()
	body := io.LimitReader(resp.Body, maxSchemaBytes)
	if resp.StatusCode >= http.StatusBadRequest {
		he := registry.Error{StatusCode: resp.StatusCode}
		_ = json.NewDecoder(body).Decode(&he)
		return "", registryError(opCheckID, "", he)
	}
	var payload struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := json.NewDecoder(body).Decode(&payload); err != nil {
		return "", registryError(opCheckID, "", fmt.Errorf("decode the answer: %w", err))
	}
	if payload.SchemaType != "" && !strings.EqualFold(payload.SchemaType, "AVRO") {
		return "", nil // another kind of schema: never ours
	}
	return payload.Schema, nil
}

// sameSchema reports whether text is an Avro schema with the canonical form of
// schema: the same names, types, field order, enum symbols and logical types
// (a decimal's precision and scale included). Docs, defaults and aliases may
// differ: the binary encoding does not depend on them, so a record written with
// schema decodes the same with text as writer schema.
func sameSchema(schema avro.Schema, text string) bool {
	if text == "" {
		return false
	}
	// A cache of its own: another schema must not replace our named types in
	// the package-wide cache.
	got, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return false
	}
	return got.String() == schema.String()
}

// SchemaByID returns the schema registered under id, cached after the first
// call. An id the registry does not know yields an error matching
// ErrUnknownSchemaID.
func (r *Registry) SchemaByID(ctx context.Context, id int) (avro.Schema, error) {
	r.mu.RLock()
	s, ok := r.byID[id]
	r.mu.RUnlock()
	if ok {
		return s, nil
	}
	s, err := r.client.GetSchema(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, registryError(opGetSchema, "", err))
	}
	r.mu.Lock()
	r.byID[id] = s
	r.mu.Unlock()
	return s, nil
}

// CheckCompatible reports whether schema could be registered under subject:
// nil when compatible (or the subject does not exist yet), an error matching
// ErrIncompatible when not, another error when the registry could not answer.
func (r *Registry) CheckCompatible(ctx context.Context, subject string, schema avro.Schema) error {
	text, err := json.Marshal(schema)
	if err != nil {
		return fmt.Errorf("codec: check %s: marshal schema: %w", subject, err)
	}
	ok, err := r.client.IsCompatible(ctx, subject, string(text))
	if err != nil {
		var he registry.Error
		if errors.As(err, &he) && he.StatusCode == http.StatusNotFound {
			return nil // no versions yet: anything is compatible
		}
		return registryError(opCompatible, subject, err)
	}
	if !ok {
		return &RegistryError{Op: opCompatible, Subject: subject, Status: http.StatusConflict,
			Message: "schema is not compatible with the registered versions"}
	}
	return nil
}

// Ping checks that the registry answers (GET /config), for readiness probes.
func (r *Registry) Ping(ctx context.Context) error {
	if _, err := r.client.GetGlobalCompatibilityLevel(ctx); err != nil {
		return registryError(opPing, "", err)
	}
	return nil
}

// Results of the schema id checks, the label of personio_cdc_schema_id_checks_total.
const (
	checkOK       = "ok"       // the id names the schema
	checkReplaced = "replaced" // the id did not; the schema was registered again under an id that does
	checkRefused  = "refused"  // no id names the schema: nothing may be published with it
	checkError    = "error"    // the registry did not answer
)

func newCheckCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "personio_cdc_schema_id_checks_total",
		Help: "Checks that a schema id still names the service's schema in the registry, by result " +
			"(ok, replaced: registered again under a new id, refused: no id names the schema, error: no answer).",
	}, []string{"result"})
	for _, r := range []string{checkOK, checkReplaced, checkRefused, checkError} {
		c.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}
