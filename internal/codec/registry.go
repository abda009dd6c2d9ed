package codec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"
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

// Registry is a Confluent-compatible schema registry client with caches for
// id→schema and (subject, schema)→id. It is safe for concurrent use.
type Registry struct {
	client        *registry.Client
	logger        *slog.Logger
	compatibility string

	mu   sync.RWMutex
	byID map[int]avro.Schema
	ids  map[subjectSchema]int
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
		byID:          make(map[int]avro.Schema),
		ids:           make(map[subjectSchema]int),
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

// Register makes sure schema is registered under subject and returns its id.
// It first sets the subject's compatibility level (a registry that refuses is
// logged, not fatal), then registers; registering an existing schema returns
// its id. If the credentials may not register (401/403), it looks the schema
// up instead, so a read-only deployment works once the schema exists.
// An incompatible schema yields an error matching ErrIncompatible.
func (r *Registry) Register(ctx context.Context, subject string, schema avro.Schema) (int, error) {
	text, err := json.Marshal(schema)
	if err != nil {
		return 0, fmt.Errorf("codec: register %s: marshal schema: %w", subject, err)
	}
	k := subjectSchema{subject: subject, schema: string(text)}
	r.mu.RLock()
	id, ok := r.ids[k]
	r.mu.RUnlock()
	if ok {
		return id, nil
	}
	if r.compatibility != "" {
		if err := r.client.SetCompatibilityLevel(ctx, subject, r.compatibility); err != nil {
			r.logger.WarnContext(ctx, "schema registry refused to set the compatibility level",
				"subject", subject, "level", r.compatibility, "err", registryError(opConfig, subject, err))
		}
	}
	id, _, err = r.client.CreateSchema(ctx, subject, string(text))
	if err != nil {
		var he registry.Error
		if !errors.As(err, &he) || (he.StatusCode != http.StatusUnauthorized && he.StatusCode != http.StatusForbidden) {
			return 0, registryError(opRegister, subject, err)
		}
		r.logger.WarnContext(ctx, "schema registry refused registration, looking the schema up instead",
			"subject", subject, "status", he.StatusCode)
		id, _, err = r.client.IsRegistered(ctx, subject, string(text))
		if err != nil {
			return 0, registryError(opLookup, subject, err)
		}
	}
	r.mu.Lock()
	r.ids[k] = id
	r.byID[id] = schema
	r.mu.Unlock()
	return id, nil
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
