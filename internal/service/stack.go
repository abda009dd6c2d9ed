package service

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/redact"
	"github.com/personio-cdc/personio-cdc/internal/refresh"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Stack is every component of the service, built from one config.Config.
type Stack struct {
	Config   config.Config
	Personio *personio.Client
	Kafka    *kafka.Client
	Registry *codec.Registry
	Runner   *syncrun.Runner
	Logger   *slog.Logger
	// Redact removes the configured secrets from log records and /status.
	Redact *redact.Redactor
	// Employments reads the employments of given persons for the rolling refresh (Build sets
	// the runner's, RunnerEmployments); nil leaves the refresh off.
	Employments EmploymentReader
	// Targets runs the webhook trigger's targeted fetches (the runner); nil leaves the webhook
	// receiver off whatever WEBHOOK_ADDR says.
	Targets TargetReader
	// Reader reads the topics for this tenant's state, the erasure list and the refresh
	// journal: the Kafka client, or a tenant's view of a shared replay (tenant.Replay).
	Reader syncrun.TopicReader

	shared bool // Kafka and Registry belong to the caller: Close leaves them open
}

// Shared are the clients the tenants of one process share: one Kafka client, one schema
// registry client, and the reader of the topics for each tenant's state.
type Shared struct {
	Kafka    *kafka.Client
	Registry *codec.Registry
	// Reader reads the topics for the tenant's state (default Kafka); a tenant's view of a
	// tenant.Replay reads each topic once for every tenant of the process.
	Reader syncrun.TopicReader
	// Producer, when set, publishes the tenant's events instead of Kafka: in a consumer group
	// (GROUP_ID) the tenant's transactional producer, which fences the instance that owned the
	// tenant before (kafka.TxnProducer).
	Producer publish.Producer
}

// Redactor returns the redactor of cfg's secrets: the Personio client secret, the Kafka SASL
// password, the schema registry password and the field policy's hash key. The client id is not among them: it names the
// credential, /status shows it, and the secret alone is what must never leak.
func Redactor(cfg config.Config) *redact.Redactor {
	return redact.New(cfg.Personio.ClientSecret.Value(), cfg.Kafka.SASLPassword.Value(),
		cfg.SchemaRegistry.Password.Value(), cfg.Sync.FieldPolicyHashKey.Value(), cfg.Webhook.Token.Value())
}

// Build constructs the clients and the sync runner. Nothing connects yet: the first sync
// creates missing topics, registers the schemas and rebuilds the state from the topics.
// reg receives every metric; logger every log record (a nil logger discards).
func Build(cfg config.Config, reg prometheus.Registerer, logger *slog.Logger) (*Stack, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sh, err := NewShared(cfg, reg, logger)
	if err != nil {
		return nil, err
	}
	s, err := BuildTenant(cfg, sh, reg, logger)
	if err != nil {
		_ = sh.Kafka.Close()
		return nil, err
	}
	s.shared = false
	return s, nil
}

// NewShared builds the clients the tenants of a process share from cfg's Kafka and schema
// registry settings, their metrics on reg. The caller closes Kafka.
func NewShared(cfg config.Config, reg prometheus.Registerer, logger *slog.Logger) (Shared, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = Redactor(cfg).Logger(logger)
	kc, err := NewKafka(cfg, reg, logger)
	if err != nil {
		return Shared{}, fmt.Errorf("kafka client: %w", err)
	}
	sr, err := NewRegistry(cfg, logger, codec.WithRegisterer(reg))
	if err != nil {
		_ = kc.Close()
		return Shared{}, fmt.Errorf("schema registry client: %w", err)
	}
	return Shared{Kafka: kc, Registry: sr}, nil
}

// BuildTenant builds one tenant's stack on clients the process shares: its own Personio
// client (and rate limiters) and sync runner, its metrics on reg (for many tenants, a
// registerer that labels them with the tenant). Close leaves the shared clients open.
func BuildTenant(cfg config.Config, sh Shared, reg prometheus.Registerer, logger *slog.Logger) (*Stack, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if sh.Kafka == nil || sh.Registry == nil {
		return nil, errors.New("service: the shared Kafka and schema registry clients are required")
	}
	red := Redactor(cfg)
	logger = red.Logger(logger)
	s := &Stack{Config: cfg, Logger: logger, Redact: red, Kafka: sh.Kafka, Registry: sh.Registry, Reader: sh.Reader, shared: true}
	if s.Reader == nil {
		s.Reader = sh.Kafka
	}
	var err error
	if s.Personio, err = NewPersonio(cfg, reg, logger.With("component", "personio")); err != nil {
		return nil, fmt.Errorf("personio client: %w", err)
	}
	if p := cfg.Sync.FieldPolicy; p.Active() {
		// Field names and a fingerprint only: a record changes once when they change.
		logger.Info("field policy: dropped and hashed fields are never published; records it changes are updated once",
			"field_policy", p)
	}
	rc := RunnerConfig(cfg)
	rc.Source = s.Personio
	rc.Producer = s.Kafka
	if sh.Producer != nil {
		rc.Producer = sh.Producer
	}
	rc.Registry = s.Registry
	rc.Codec = codec.New(s.Registry)
	rc.Reader = s.Reader
	rc.Admin = s.Kafka
	rc.TopicSpec = TopicTemplate(cfg)
	rc.Registerer = reg
	rc.Logger = logger.With("component", "sync")
	if s.Runner, err = syncrun.New(rc); err != nil {
		return nil, fmt.Errorf("sync runner: %w", err)
	}
	s.Employments = RunnerEmployments{Runner: s.Runner, Stamps: s.Runner.PersonStamps}
	s.Targets = s.Runner // WEBHOOK_ADDR turns the webhook trigger on
	return s, nil
}

// RunnerConfig returns the sync runner's settings from cfg, on top of the runner's defaults;
// the dependencies (source, producer, registry, codec, reader) are left for the caller.
func RunnerConfig(cfg config.Config) syncrun.Config {
	rc := syncrun.DefaultConfig()
	rc.Tenant = cfg.Personio.Tenant
	rc.TopicPrefix = cfg.Kafka.TopicPrefix
	rc.LookbackMonths = cfg.Sync.CompensationLookbackMonths
	rc.DeleteGuardRatio = cfg.Sync.DeleteGuardRatio
	rc.DeleteGuardOverride = cfg.Sync.DeleteGuardOverride
	// The entities of the settings (SYNC_ENTITIES, SYNC_EMPLOYMENT_DETAILS) or of the
	// tenant's entry in TENANTS_FILE.
	rc.Entities = cfg.Sync.Synced()
	rc.EmploymentDetails = cfg.Sync.Syncs(change.Employments)
	rc.PersonChains = cfg.Sync.PersonListChains
	rc.CompensationSubWindows = cfg.Sync.CompensationSubWindows
	rc.PublishBatchSize = cfg.Sync.PublishBatchSize
	rc.FieldPolicy = cfg.Sync.FieldPolicy
	rc.SegmentRoll = cfg.Kafka.SegmentRoll
	return rc
}

// Close releases the Kafka connections, unless the stack shares them (BuildTenant).
func (s *Stack) Close() error {
	if s.shared {
		return nil
	}
	return s.Kafka.Close()
}

// ReadyChecks are the /readyz checks: Kafka and the schema registry answer, and every schema id
// the service publishes under still names its schema in the registry (a registry that lost its
// schemas, or gave their ids to other schemas, is not ready until a sync has registered them
// again; see codec.Registry.CheckIDs).
func (s *Stack) ReadyChecks() []admin.Check {
	return []admin.Check{
		{Name: "kafka", Func: s.Kafka.Ping},
		{Name: "schema-registry", Func: s.Registry.Ping},
		{Name: "schema-ids", Func: s.Registry.CheckIDs},
	}
}

// Status is the /status document: the build, the tenant's sync status and the effective
// settings (secrets redacted).
type Status struct {
	Service string           `json:"service"`
	Version string           `json:"version"`
	Started time.Time        `json:"started"`
	Tenants []syncrun.Status `json:"tenants"`
	// Schedule says when the next syncs run and why a full sync is being retried.
	Schedule ScheduleStatus `json:"schedule"`
	// EmploymentRefresh is the rotation's progress; absent while the refresh is off.
	EmploymentRefresh *refresh.Status `json:"employment_refresh,omitempty"`
	// Activity is, per tenant, the events published in the last 24 hours and the Personio API
	// traffic since start (requests, 429s, retries, the rate limiter's rates and waits).
	Activity []Activity    `json:"activity"`
	Settings config.Config `json:"settings"`
}

// Unit is one tenant's long-running part of `run`: its scheduler (with the employment refresh),
// its webhook trigger, and what /status shows of it.
type Unit struct {
	Stack     *Stack
	Scheduler *Scheduler
	// Webhooks is the webhook trigger; nil without WEBHOOK_ADDR.
	Webhooks *Webhooks
	events   *recentEvents
}

// Unit builds the tenant's scheduler, refresh and webhook trigger from the stack's config,
// their metrics on reg. afterRun, when set, is called after every sync the scheduler runs.
func (s *Stack) Unit(reg prometheus.Registerer, afterRun func()) (*Unit, error) {
	u := &Unit{Stack: s, events: &recentEvents{}}
	runner := recordingRunner{Runner: s.Runner, events: u.events, after: afterRun}
	opts := []SchedulerOption{WithRegisterer(reg)}
	reader := s.Employments
	if re, ok := reader.(RunnerEmployments); ok {
		re.Runner = runner // the refresh's events count in /status like the syncs'
		reader = re
	}
	r, err := NewRefresh(s.Config, reader, s.Kafka, reg)
	if err != nil {
		return nil, err
	}
	if r != nil {
		if j, ok := r.Journal.(*refresh.Journal); ok && s.Reader != nil {
			j.Reader = s.Reader
		}
		opts = append(opts, WithRefresh(*r))
	}
	u.Scheduler = NewScheduler(runner, Schedule{
		Full:        s.Config.Sync.FullInterval,
		Incremental: s.Config.Sync.IncrementalInterval,
	}, s.Logger.With("component", "scheduler"), opts...)
	if u.Webhooks, err = NewWebhooks(s.Config, s.Targets, s.Personio, reg, s.Logger); err != nil {
		return nil, err
	}
	return u, nil
}

// Activity returns the /status activity of the tenant.
func (u *Unit) Activity() Activity {
	return Activity{Tenant: u.Stack.Config.Personio.Tenant, EventsLast24h: u.events.counts(time.Now()),
		PersonioAPI: apiActivity(u.Stack.Personio, u.Stack.Config.Personio)}
}

// Lifecycle returns the long-running service for `run`: the schedule from the config, the
// admin server on ADMIN_ADDR serving reg, the readiness checks and /status.
func (s *Stack) Lifecycle(reg *prometheus.Registry, version string) (*Lifecycle, error) {
	started := time.Now().UTC()
	u, err := s.Unit(reg, nil)
	if err != nil {
		return nil, err
	}
	l := &Lifecycle{
		Scheduler:       u.Scheduler,
		Webhooks:        u.Webhooks,
		ShutdownTimeout: s.Config.Admin.ShutdownTimeout,
		Close:           s.Close,
		Logger:          s.Logger,
	}
	checks := append([]admin.Check{{Name: "shutdown", Func: l.Stopping}}, s.ReadyChecks()...)
	srv, err := admin.New(admin.Options{
		Addr:       s.Config.Admin.Addr,
		Gatherer:   reg,
		Registerer: reg,
		Ready:      checks,
		Status: func() any {
			st := Status{Service: "personio-cdc", Version: version, Started: started,
				Tenants: []syncrun.Status{s.Runner.Status()}, Schedule: u.Scheduler.Status(), Settings: s.Config,
				EmploymentRefresh: u.Scheduler.RefreshStatus(),
				Activity:          []Activity{u.Activity()}}
			raw, err := s.Redact.JSON(st)
			if err != nil {
				return map[string]string{"error": "status not available"}
			}
			return raw
		},
		Logger: s.Logger.With("component", "admin"),
	})
	if err != nil {
		return nil, err
	}
	l.Admin = srv
	return l, nil
}
