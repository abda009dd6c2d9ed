// Package tenant runs many Personio accounts (tenants) in one process: the tenant as one
// concept in one place. A Manager holds the configured tenants and runs those the process owns,
// each with its own Personio client and rate limiters, sync runner, scheduler, employment
// refresh, guards, status and metrics (labelled tenant), on the Kafka client and schema
// registry the process shares. The topics are shared, keyed "<tenant>:<id>"; their state is
// rebuilt once per process for the tenants started together (Replay).
package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"sort"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/internal/webhook"
)

// Options are the parts of the process every tenant shares.
type Options struct {
	Kafka    *kafka.Client   // required
	Registry *codec.Registry // required
	// Registerer receives the manager's own metrics (personio_cdc_tenant_stopped, the shared
	// reads). Each tenant's metrics live on a registry of its own, labelled tenant="<name>",
	// which Gather adds to the scrape while the tenant is started and drops when it stops.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Assigned: the tenants this process runs are those Own assigned (a consumer group shares
	// them out between instances). False (single-instance mode): it runs every configured
	// tenant, those Apply adds later too.
	Assigned bool
	// StopOnFatal makes a tenant's fatal error (a credential refused in
	// service.FatalAuthFailures syncs in a row, a schema the registry rejects) end Loop with
	// it, which stops the process, as before tenants. Set it for one tenant in single-instance
	// mode. Without it only that tenant stops: /status says why and
	// personio_cdc_tenant_stopped{tenant,reason} is 1; a change of its settings (Apply)
	// starts it again.
	StopOnFatal bool
	// Gather is how long a shared read waits for the other tenants started with it (default
	// DefaultGather; see Replay).
	Gather time.Duration
	// Reader reads the topics for the tenants' state (default Kafka).
	Reader TopicReader
	// Group is the consumer group's id (GROUP_ID) when instances share the tenants out. Each
	// tenant then publishes through a transactional producer of its own, transactional id
	// "<Group>.<tenant>", built on Fence's connection settings. Before its first sync reads
	// the state, a started tenant takes that id over, which fences the instance that owned the
	// tenant before: whatever that instance still writes is aborted and never seen by a
	// read_committed reader, and its next write fails (the tenant stops there with reason
	// "fenced"). Empty: the tenants publish through Kafka, unfenced (one instance).
	Group string
	Fence kafka.Config
}

// Tenant states in /status.
const (
	StateRunning = "running"
	// StateStopped: the tenant stopped on an error no retry fixes; Reason and Error say which.
	StateStopped = "stopped"
	// StateNotOwned: configured, but another instance of the group runs it.
	StateNotOwned = "not_owned"
	// StateStarting: owned, not started yet (Loop starts it).
	StateStarting = "starting"
)

// Reasons a tenant stopped (personio_cdc_tenant_stopped's reason label, State.Reason).
const (
	ReasonCredentialRefused  = "credential_refused"
	ReasonSchemaIncompatible = "schema_incompatible"
	ReasonWebhookListen      = "webhook_listen"
	ReasonBuild              = "invalid_settings"
	ReasonFatal              = "fatal"
	// ReasonFenced: another instance of the group took the tenant over (see Options.Group).
	ReasonFenced = "fenced"
)

// ErrConfig marks a set of tenant configurations Apply or New refuses as a whole.
var ErrConfig = errors.New("tenant: bad tenant configuration")

// Manager runs the tenants a process owns. It implements group.Owner (Own, Release) and the
// service.Looper of service.Lifecycle (Loop, Busy); Apply reconciles the configured set.
type Manager struct {
	opts    Options
	replay  *Replay
	logger  *slog.Logger
	stopped *prometheus.GaugeVec // tenant, reason

	change gosync.Mutex // serialises Apply, Own, Release and Loop's start and end

	mu      gosync.Mutex // guards what follows
	configs []config.Config
	owned   map[string]bool
	units   map[string]*unit
	loop    *loopState // nil outside Loop
	fatal   chan error // StopOnFatal: the first fatal error of a tenant

	groupStatus func() group.Status // ReportGroup; nil outside a consumer group

	hooks    *webhook.Router // the process's webhook listener; nil without WEBHOOK_ADDR
	hookAddr net.Addr        // where it listens while Loop runs
}

// loopState is the lifetime of Loop: tenants started while it runs drain under work.
type loopState struct {
	work    context.Context
	closing bool
}

// New returns a Manager of the configured tenants (one config.Config per tenant,
// Config.Personio.Tenant its name). Nothing runs before Loop.
func New(opts Options, cfgs []config.Config) (*Manager, error) {
	if opts.Kafka == nil || opts.Registry == nil {
		return nil, fmt.Errorf("%w: the shared Kafka and schema registry clients are required", ErrConfig)
	}
	if err := Validate(cfgs); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	reader := opts.Reader
	if reader == nil {
		reader = opts.Kafka
	}
	m := &Manager{
		opts:    opts,
		replay:  NewReplay(reader, opts.Gather, opts.Registerer),
		logger:  opts.Logger,
		configs: slices.Clone(cfgs),
		owned:   map[string]bool{},
		units:   map[string]*unit{},
		fatal:   make(chan error, 1),
		stopped: promauto.With(opts.Registerer).NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_tenant_stopped",
			Help: "1 while the tenant is stopped on an error no retry fixes (reason: credential_refused, schema_incompatible, webhook_listen, invalid_settings, fatal); the other tenants keep syncing.",
		}, []string{"tenant", "reason"}),
	}
	if len(cfgs) > 0 && cfgs[0].Webhook.Addr != "" {
		w := cfgs[0].Webhook
		r, err := webhook.NewRouter(webhook.RouterOptions{Addr: w.Addr, Path: w.Path, TLSCertFile: w.TLSCertFile,
			TLSKeyFile: w.TLSKeyFile, Registerer: opts.Registerer, Logger: opts.Logger.With("component", "webhook")})
		if err != nil {
			return nil, fmt.Errorf("%w: webhook receiver: %w", ErrConfig, err)
		}
		r.Configure(routes(cfgs))
		m.hooks = r
	}
	return m, nil
}

// routes are the tenants' paths and tokens on the webhook listener.
func routes(cfgs []config.Config) []webhook.Route {
	out := make([]webhook.Route, 0, len(cfgs))
	for _, c := range cfgs {
		out = append(out, webhook.Route{Tenant: c.Personio.Tenant, Token: c.Webhook.Token.Value()})
	}
	return out
}

// WebhookAddr returns where the process's webhook listener listens while Loop runs; nil
// before, after, or without WEBHOOK_ADDR.
func (m *Manager) WebhookAddr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hookAddr
}

// Validate checks a set of tenant configurations as a whole: every tenant named, no name
// twice, and with WEBHOOK_ADDR one listener for all (the process's settings) and a webhook
// token of its own for each tenant (a token must not open another tenant's path).
func Validate(cfgs []config.Config) error {
	var errs []error
	seen := map[string]bool{}
	tokens := map[string]string{} // token → tenant
	for i, c := range cfgs {
		w := c.Webhook
		if i > 0 && (w.Addr != cfgs[0].Webhook.Addr || w.Path != cfgs[0].Webhook.Path ||
			w.TLSCertFile != cfgs[0].Webhook.TLSCertFile || w.TLSKeyFile != cfgs[0].Webhook.TLSKeyFile) {
			errs = append(errs, fmt.Errorf("%w: tenant %q has webhook listener settings (WEBHOOK_ADDR, WEBHOOK_PATH, WEBHOOK_TLS_*) "+
				"other than tenant %q: the process has one listener", ErrConfig, c.Personio.Tenant, cfgs[0].Personio.Tenant))
		}
		if w.Addr == "" || len(cfgs) < 2 {
			continue
		}
		if other, ok := tokens[w.Token.Value()]; ok {
			errs = append(errs, fmt.Errorf("%w: tenants %q and %q have the same webhook token: give each its own "+
				"(webhook_token_file in the tenants file)", ErrConfig, other, c.Personio.Tenant))
		} else {
			tokens[w.Token.Value()] = c.Personio.Tenant
		}
	}
	for i, c := range cfgs {
		name := c.Personio.Tenant
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("%w: tenant %d has no name (PERSONIO_TENANT)", ErrConfig, i+1))
		case seen[name]:
			errs = append(errs, fmt.Errorf("%w: tenant %q is configured twice", ErrConfig, name))
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}

// desired reports whether the tenant should run; m.mu is held.
func (m *Manager) desired(name string) bool {
	return !m.opts.Assigned || m.owned[name]
}

// configOf returns the configuration of a configured tenant; m.mu is held.
func (m *Manager) configOf(name string) (config.Config, bool) {
	for _, c := range m.configs {
		if c.Personio.Tenant == name {
			return c, true
		}
	}
	return config.Config{}, false
}

// Apply reconciles the configured tenants with cfgs (a reloaded tenants file): an added
// tenant starts (if the process owns it), a removed one stops (its events stay on the
// topics), one whose settings changed restarts, the others run on untouched. A set that fails
// Validate changes nothing.
func (m *Manager) Apply(ctx context.Context, cfgs []config.Config) error {
	if err := Validate(cfgs); err != nil {
		return err
	}
	m.change.Lock()
	defer m.change.Unlock()
	m.mu.Lock()
	m.configs = slices.Clone(cfgs)
	m.mu.Unlock()
	if m.hooks != nil {
		m.hooks.Configure(routes(cfgs))
	}
	m.reconcile(ctx)
	return nil
}

// Own makes the process run the named tenants among the configured ones (a consumer group
// assigned them); names not configured are remembered in case Apply adds them. It returns when
// they are started: their first sync rebuilds their state from the topics, one read shared by
// the tenants owned together.
func (m *Manager) Own(ctx context.Context, names []string) error {
	m.change.Lock()
	defer m.change.Unlock()
	m.mu.Lock()
	for _, n := range names {
		m.owned[n] = true
	}
	m.mu.Unlock()
	m.reconcile(ctx)
	return ctx.Err()
}

// Release stops the named tenants and returns once their syncs stopped: a sync in flight is
// cancelled (what Kafka acknowledged is the state; the rest is found again by the next owner,
// with the same event ids). Their metrics leave the scrape.
func (m *Manager) Release(names []string) {
	m.change.Lock()
	defer m.change.Unlock()
	m.mu.Lock()
	for _, n := range names {
		delete(m.owned, n)
	}
	m.mu.Unlock()
	m.reconcile(context.Background())
}

// reconcile stops the units that should not run (or run old settings) and starts those that
// should; m.change is held.
func (m *Manager) reconcile(ctx context.Context) {
	m.mu.Lock()
	var stop []*unit
	for name, u := range m.units {
		c, ok := m.configOf(name)
		if !ok || !m.desired(name) || !reflect.DeepEqual(c, u.cfg) {
			stop = append(stop, u)
			delete(m.units, name)
		}
	}
	m.mu.Unlock()
	m.stopUnits(stop, true)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loop == nil || m.loop.closing || ctx.Err() != nil {
		return // Loop starts them
	}
	m.startLocked()
}

// startLocked starts every desired tenant without a unit; m.mu is held and Loop runs. Every
// new tenant is expected by the shared reads before the first of them runs, so that their
// state rebuilds share one read of each topic.
func (m *Manager) startLocked() {
	var started []*unit
	for _, c := range m.configs {
		name := c.Personio.Tenant
		if _, ok := m.units[name]; ok || !m.desired(name) {
			continue
		}
		u := m.build(c, m.loop.work)
		m.units[name] = u
		if u.svc != nil {
			started = append(started, u)
		}
	}
	for _, u := range started {
		go m.run(u)
	}
}

// stopUnits stops units and waits for them; cancel abandons their syncs in flight at once
// (otherwise they drain under the work context of Loop). Their metrics leave the scrape.
func (m *Manager) stopUnits(units []*unit, cancel bool) {
	for _, u := range units {
		u.halt()
		if cancel {
			u.cancel()
		}
	}
	for _, u := range units {
		<-u.done
		u.cancel()
		m.replay.Forget(u.name)
		m.stopped.DeletePartialMatch(prometheus.Labels{"tenant": u.name})
		u.logger.Info("tenant stopped")
	}
}

// Busy reports whether a sync of any tenant is running.
func (m *Manager) Busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.units {
		if u.svc != nil && u.svc.Scheduler.Busy() {
			return true
		}
	}
	return false
}

// Loop runs the owned tenants until stop is closed, then stops every tenant's schedule and
// returns once their syncs ended; a sync in flight runs on under work (which the lifecycle
// cancels when its drain time is up). With StopOnFatal, a tenant's fatal error ends Loop the
// same way and is returned. It implements service.Looper.
func (m *Manager) Loop(stop <-chan struct{}, work context.Context) error {
	m.change.Lock()
	m.mu.Lock()
	if m.loop != nil {
		m.mu.Unlock()
		m.change.Unlock()
		return errors.New("tenant: Loop is already running")
	}
	hookErr := make(chan error, 1)
	hookCtx, hookStop := context.WithCancel(context.WithoutCancel(work))
	defer hookStop()
	if m.hooks != nil {
		ln, err := net.Listen("tcp", m.configs[0].Webhook.Addr)
		if err != nil {
			m.mu.Unlock()
			m.change.Unlock()
			return fmt.Errorf("webhook: listen %s: %w", m.configs[0].Webhook.Addr, err)
		}
		m.hookAddr = ln.Addr()
		go func() { hookErr <- m.hooks.Serve(hookCtx, ln) }()
	}
	m.loop = &loopState{work: work}
	m.startLocked()
	m.mu.Unlock()
	m.change.Unlock()

	var err error
	select {
	case <-stop:
	case <-work.Done():
		err = work.Err()
	case err = <-m.fatal:
	case err = <-hookErr:
		hookErr <- nil // served: nothing more to wait for
	}

	m.change.Lock()
	defer m.change.Unlock()
	m.mu.Lock()
	m.loop.closing = true
	units := make([]*unit, 0, len(m.units))
	for _, u := range m.units {
		units = append(units, u)
	}
	m.mu.Unlock()
	m.stopUnits(units, false)
	m.mu.Lock()
	m.units = map[string]*unit{}
	m.loop = nil
	m.hookAddr = nil
	m.mu.Unlock()
	if m.hooks != nil {
		// The tenants unregistered when they stopped: deliveries got 503 since, which
		// Personio retries.
		hookStop()
		if herr := <-hookErr; err == nil && herr != nil {
			err = herr
		}
	}
	return err
}

// unit is one started tenant.
type unit struct {
	name   string
	cfg    config.Config
	reg    *prometheus.Registry // the tenant's metrics, labelled tenant
	logger *slog.Logger         // names the tenant, redacts its secrets
	stack  *service.Stack
	svc    *service.Unit
	fence  *kafka.TxnProducer // nil outside a consumer group
	halt   func()             // stops its schedule and webhook trigger
	stop   <-chan struct{}
	work   context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when its schedule and trigger returned

	first atomic.Bool // its first sync returned

	mu     gosync.Mutex // guards state
	state  string
	reason string
	err    string
	since  time.Time
}

// build builds a tenant's unit to run under work (run starts it) and makes the shared reads
// expect it; a tenant that cannot be built is a unit stopped with ReasonBuild. m.mu is held.
func (m *Manager) build(c config.Config, work context.Context) *unit {
	name := c.Personio.Tenant
	ctx, cancel := context.WithCancel(work)
	stopCh := make(chan struct{})
	var once gosync.Once
	u := &unit{name: name, cfg: c, reg: prometheus.NewRegistry(), stop: stopCh, work: ctx, cancel: cancel,
		done: make(chan struct{}), halt: func() { once.Do(func() { close(stopCh) }) }, state: StateRunning,
		since: time.Now().UTC()}
	logger := service.Redactor(c).Logger(m.logger.With("tenant", name))
	u.logger = logger
	wreg := prometheus.WrapRegistererWith(prometheus.Labels{"tenant": name}, u.reg)
	sh := service.Shared{Kafka: m.opts.Kafka, Registry: m.opts.Registry, Reader: m.replay.Reader(name)}
	var err error
	if m.opts.Group != "" {
		// Lazy: nothing connects here (m.mu is held); run takes the id over before the first sync.
		fc := m.opts.Fence
		fc.Registerer, fc.Logger = wreg, logger.With("component", "kafka-txn")
		u.fence, err = kafka.NewTxnProducer(ctx, fc, kafka.TxnID(m.opts.Group, name),
			kafka.TxnLazy(), kafka.TxnSizeLimits(m.opts.Kafka))
		sh.Producer = u.fence
	}
	if err == nil {
		u.stack, err = service.BuildTenant(c, sh, wreg, logger)
	}
	if err == nil {
		u.svc, err = u.stack.Unit(wreg, func() {
			if !u.first.Swap(true) {
				m.replay.Forget(name) // its first sync read what it was going to read
			}
		})
	}
	if err == nil && u.svc.Webhooks != nil && m.hooks != nil {
		u.svc.Webhooks.Router = m.hooks // the process listens; the tenant registers its path
	}
	if err != nil {
		u.svc = nil
		if u.fence != nil {
			_ = u.fence.Close()
		}
		close(u.done)
		m.markStopped(u, ReasonBuild, err)
		return u
	}
	m.replay.Expect(name, u.stack.Runner.StateTopics())
	logger.Info("tenant started", "full_sync_interval", c.Sync.FullInterval,
		"incremental_sync_interval", c.Sync.IncrementalInterval)
	return u
}

// run runs a unit's schedule and webhook trigger until it is stopped, or until one of them
// fails for good: then the tenant stops alone (or, with StopOnFatal, the process).
func (m *Manager) run(u *unit) {
	defer close(u.done)
	stop, work := u.stop, u.work
	if u.fence != nil {
		defer u.fence.Close()
		if err := m.acquire(u); err != nil {
			if !errors.Is(err, context.Canceled) {
				m.mu.Lock()
				m.markStopped(u, ReasonFenced, err)
				m.mu.Unlock()
			}
			return
		}
	}
	var wg gosync.WaitGroup
	var hooksErr error
	if u.svc.Webhooks != nil {
		wg.Go(func() {
			if hooksErr = u.svc.Webhooks.Run(stop, work); hooksErr != nil {
				u.halt()
			}
		})
	}
	err := u.svc.Scheduler.Loop(stop, work)
	u.halt()
	wg.Wait()
	if err == nil || errors.Is(err, context.Canceled) {
		err = hooksErr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	reason := ReasonFatal
	switch {
	case errors.Is(err, kafka.ErrFenced):
		reason = ReasonFenced
	case errors.Is(err, personio.ErrAuth):
		reason = ReasonCredentialRefused
	case errors.Is(err, codec.ErrIncompatible):
		reason = ReasonSchemaIncompatible
	case err == hooksErr:
		reason = ReasonWebhookListen
	}
	m.mu.Lock()
	m.markStopped(u, reason, err)
	m.mu.Unlock()
	if m.opts.StopOnFatal {
		select {
		case m.fatal <- err:
		default:
		}
	}
}

// acquire takes the tenant's transactional id over before its first sync (Options.Group),
// retrying while Kafka is out of reach until the tenant is stopped. It returns nil once the
// id is this instance's, context.Canceled when the tenant was stopped first, or the error
// that no retry fixes (another producer took the id in between: kafka.ErrFenced).
func (m *Manager) acquire(u *unit) error {
	backoff := time.Second
	for {
		err := u.fence.Acquire(u.work)
		if err == nil {
			u.logger.Info("tenant's transactional id taken over: an earlier owner is fenced")
			return nil
		}
		if errors.Is(err, kafka.ErrFenced) {
			return err
		}
		u.logger.Warn("taking the tenant's transactional id over failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-u.stop:
			return context.Canceled
		case <-u.work.Done():
			return context.Canceled
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// markStopped records why a tenant stopped: /status, the metric, the log. m.mu is held.
func (m *Manager) markStopped(u *unit, reason string, err error) {
	u.mu.Lock()
	u.state, u.reason, u.err, u.since = StateStopped, reason, err.Error(), time.Now().UTC()
	u.mu.Unlock()
	m.stopped.WithLabelValues(u.name, reason).Set(1)
	u.logger.Error("tenant stopped; the other tenants keep syncing; it starts again when its settings change",
		"reason", reason, "err", err)
}

// Gather implements prometheus.Gatherer: the metrics of every started tenant, each labelled
// with its tenant. Serve it beside the process registry (prometheus.Gatherers).
func (m *Manager) Gather() ([]*dto.MetricFamily, error) {
	m.mu.Lock()
	gs := make(prometheus.Gatherers, 0, len(m.units))
	names := make([]string, 0, len(m.units))
	for n := range m.units {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		gs = append(gs, m.units[n].reg)
	}
	m.mu.Unlock()
	return gs.Gather()
}
