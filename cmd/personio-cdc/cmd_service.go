package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/metrics"
	"github.com/personio-cdc/personio-cdc/internal/progress"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/internal/tenant"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

const runExamples = `  PERSONIO_TENANT=acme PERSONIO_CLIENT_ID=… PERSONIO_CLIENT_SECRET_FILE=/run/secrets/personio \
    personio-cdc run --kafka-brokers kafka:9092 --schema-registry-url http://sr:8081
  personio-cdc run --admin-addr :9464 --full-sync-interval 30m --incremental-sync-interval 2m
`

// cmdRun is the service: syncs on a schedule, admin endpoints, orderly shutdown on SIGTERM.
// It serves every tenant of TENANTS_FILE (or the one of the PERSONIO_* settings) and applies
// the file's changes without a restart.
func cmdRun(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "run", "run [flags]", runExamples, config.GroupAll)
	f.many = true
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	tenants := f.tenants
	a, logger := redacted(a, cfg)
	logger.Debug("configuration", "config", cfg) // secrets redact themselves
	bi := metrics.ReadBuildInfo(version)
	reg := metrics.NewRegistry(bi)
	shared, err := service.NewShared(cfg, reg, logger)
	if err != nil {
		return fail(a, "run", err)
	}
	// A refused credential or certificate stops the service now; a server that is not up yet
	// does not (the schedule retries it).
	if err := service.CheckAccess(ctx, cfg, shared.Kafka, shared.Registry); err != nil {
		_ = shared.Kafka.Close()
		return fail(a, "run", err)
	}
	// One tenant alone keeps the old behaviour: its fatal error stops the process. In a
	// consumer group the tenants are shared out between instances and each publishes through
	// its own fenced producer.
	grouped := cfg.Membership.Grouped()
	opts := tenant.Options{Kafka: shared.Kafka, Registry: shared.Registry, Registerer: reg, Logger: logger,
		StopOnFatal: len(tenants) == 1 && !grouped, Assigned: grouped}
	if grouped {
		opts.Group, opts.Fence = cfg.Membership.GroupID, service.KafkaConfig(cfg)
	}
	mgr, err := tenant.New(opts, tenants)
	var g *group.Group
	if err == nil && grouped {
		g, err = group.New(service.GroupOptions(cfg, tenantNames(tenants), mgr, shared.Kafka, reg,
			logger.With("component", "group")))
		if err == nil {
			mgr.ReportGroup(g.Status)
		}
	}
	if err == nil {
		var life *service.Lifecycle
		if life, err = mgr.Lifecycle(reg, bi.Version, cfg); err == nil {
			if cfg.Tenants.File != "" {
				go watchTenants(ctx, mgr, g, cfg, logger)
			}
			return serve(ctx, life, g, logger, bi.Version, cfg, tenants)
		}
	}
	_ = shared.Kafka.Close()
	if errors.Is(err, tenant.ErrConfig) || errors.Is(err, group.ErrInvalidOptions) {
		fmt.Fprintf(a.stderr, "personio-cdc run: %v\n", err)
		return exitConfig
	}
	return fail(a, "run", err)
}

// tenantNames returns the tenants' names in configuration order.
func tenantNames(cfgs []config.Config) []string {
	names := make([]string, len(cfgs))
	for i, c := range cfgs {
		names[i] = c.Personio.Tenant
	}
	return names
}

// watchTenants applies every change of TENANTS_FILE to the running tenants (and, in a
// consumer group, to the tenants the group shares out) until ctx ends; a file that does not
// load, or a set the manager refuses, changes nothing.
func watchTenants(ctx context.Context, mgr *tenant.Manager, g *group.Group, base config.Config, logger *slog.Logger) {
	config.WatchTenants(ctx, base.Tenants.File, base, base.Tenants.PollInterval, func(cfgs []config.Config, err error) {
		if err == nil {
			err = mgr.Apply(ctx, cfgs)
		}
		if err == nil && g != nil {
			err = g.SetTenants(tenantNames(cfgs))
		}
		if err != nil {
			logger.Error("tenants file not applied; the tenants of the last good file go on", "err", err)
			return
		}
		logger.Debug("tenants file applied", "tenants", len(cfgs))
	})
}

// serve runs the lifecycle (and the consumer group's membership, g, when not nil) until a
// signal or a fatal error and maps the end to an exit code. Shutdown order in a group: the
// signal makes the member release its tenants (their syncs cancelled, each stopped before it
// returns) and leave the group, so that the other instances take them at once, while the
// lifecycle stops the schedules and the admin server; the Kafka client closes last.
func serve(ctx context.Context, life *service.Lifecycle, g *group.Group, logger *slog.Logger, version string, cfg config.Config, tenants []config.Config) int {
	logger.Info("personio-cdc starting", "version", version, "tenants", strings.Join(tenantNames(tenants), ","),
		"topics", strings.Join(service.Topics(cfg), ","), "full_sync_interval", cfg.Sync.FullInterval,
		"incremental_sync_interval", cfg.Sync.IncrementalInterval, "group", cfg.Membership.GroupID)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groupDone := make(chan error, 1)
	if g != nil {
		go func() {
			err := g.Run(sctx)
			if ctx.Err() == nil && err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("personio-cdc stopping: the consumer group cannot be joined", "err", err)
				cancel()
			}
			groupDone <- err
		}()
	} else {
		groupDone <- nil
	}
	err := life.Serve(sctx)
	cancel()
	gerr := <-groupDone
	switch {
	case err != nil && service.IsFatal(err):
		logger.Error("personio-cdc stopped: a sync failed in a way no retry can fix", "err", err)
	case err != nil:
		logger.Error("personio-cdc stopped with an error", "err", err)
	case ctx.Err() == nil && gerr != nil && !errors.Is(gerr, context.Canceled):
		err = gerr
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

const syncExamples = `  personio-cdc sync                       # a full sync
  personio-cdc sync --incremental         # persons changed since the last sync
  personio-cdc sync --output json | jq .outcome
  personio-cdc sync --delete-guard-override   # publish the deletes the guard withheld
`

// cmdSync runs one sync and exits 0 when it completed, 1 when it failed, was partial or was
// interrupted.
func cmdSync(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "sync", "sync [--full|--incremental] [--output text|json] [flags]", syncExamples,
		config.GroupAll&^config.GroupAdmin)
	full := f.Bool("full", false, "full sync: every person and compensation window, with deletes (the default)")
	incr := f.Bool("incremental", false, "incremental sync: persons updated since the last sync, no person deletes")
	output := f.String("output", "text", "result as text or json on stdout")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	if *full && *incr {
		fmt.Fprintln(a.stderr, "personio-cdc sync: --full and --incremental exclude each other")
		return exitConfig
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(a.stderr, "personio-cdc sync: --output %q must be text or json\n", *output)
		return exitConfig
	}
	kind := syncrun.Full
	if *incr {
		kind = syncrun.Incremental
	}
	return runOnce(ctx, a, "sync", cfg, kind, *output)
}

const resnapshotExamples = `  personio-cdc resnapshot                 # "r" events for every person and compensation
  personio-cdc resnapshot --entity compensations   # only the compensations topic
  personio-cdc resnapshot --output json | jq '.entities[] | {entity, changes}'
`

// entityList is the repeatable --entity flag; each value may also be a comma-separated list.
type entityList []change.Entity

func (l *entityList) String() string {
	names := make([]string, len(*l))
	for i, e := range *l {
		names[i] = string(e)
	}
	return strings.Join(names, ",")
}

func (l *entityList) Set(v string) error {
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(service.Entities, name) {
			return fmt.Errorf("unknown entity %q (want %s)", name, strings.Join(service.Entities, " or "))
		}
		if e := change.Entity(name); !slices.Contains(*l, e) {
			*l = append(*l, e)
		}
	}
	return nil
}

// cmdResnapshot runs a full sync and then publishes an "r" event for every current entity (or
// those --entity names), so that a new consumer can bootstrap from the tail of the topics.
func cmdResnapshot(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "resnapshot", "resnapshot [--entity persons|compensations] [flags]", resnapshotExamples,
		config.GroupAll&^config.GroupAdmin)
	var only entityList
	f.Var(&only, "entity", "re-snapshot only this entity: "+strings.Join(service.Entities, " or ")+
		" (repeat the flag or separate with commas; default every entity)")
	output := f.String("output", "text", "result as text or json on stdout")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(a.stderr, "personio-cdc resnapshot: --output %q must be text or json\n", *output)
		return exitConfig
	}
	var opts []syncrun.RunOption
	if len(only) > 0 {
		opts = append(opts, syncrun.WithEntities(only...))
	}
	return runOnce(ctx, a, "resnapshot", cfg, syncrun.Resnapshot, *output, opts...)
}

// runOnce builds the stack, runs one sync with progress, prints the result and maps it to an
// exit code: 0 only for a complete sync; 1 for a failed, partial or interrupted one (a signal
// included, unlike `run`, which exits 0 when a signal stops it).
func runOnce(ctx context.Context, a *app, cmd string, cfg config.Config, kind syncrun.Kind, output string, opts ...syncrun.RunOption) int {
	a, logger := redacted(a, cfg)
	logger.Debug("configuration", "config", cfg) // secrets redact themselves
	reg := metrics.NewRegistry(metrics.ReadBuildInfo(version))
	stack, err := service.Build(cfg, reg, logger)
	if err != nil {
		return fail(a, cmd, err)
	}
	defer stack.Close()
	if err := service.CheckAccess(ctx, cfg, stack.Kafka, stack.Registry); err != nil {
		return fail(a, cmd, err)
	}

	logger.Info(cmd+" starting", "kind", kind, "tenant", cfg.Personio.Tenant)
	stop := progress.Watch(progress.Options{Title: cmd, Terminal: a.stderrTTY, Writer: a.stderr, Logger: logger},
		func() progress.Snapshot { return syncProgress(stack) })
	res, err := stack.Runner.Run(ctx, kind, opts...)
	stop()

	if output == "json" {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(a.stdout, string(b))
	} else {
		printResult(a, res)
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// Not a success: a CronJob or script must see that this run did not complete.
		logger.Warn(cmd+" interrupted: events Kafka acknowledged are published; the rest are sent again by the next sync",
			"sync_id", res.SyncID, "outcome", res.Outcome)
		return exitError
	case err != nil:
		logger.Error(cmd+" failed", "sync_id", res.SyncID, "err", err)
		return exitError
	case res.Outcome != syncrun.Complete:
		logger.Warn(cmd+" incomplete", "sync_id", res.SyncID, "outcome", res.Outcome)
		return exitError
	}
	logger.Info(cmd+" complete", "sync_id", res.SyncID, "published", res.Published(), "duration", res.Duration.Round(time.Millisecond))
	return exitOK
}

// syncProgress reports pages fetched, entities extracted, 429s and time spent waiting on the
// rate limiter.
func syncProgress(s *service.Stack) progress.Snapshot {
	st := s.Personio.Stats()
	status := s.Runner.Status()
	var ents []string
	attrs := []slog.Attr{slog.Int64("pages", st.Pages), slog.Int64("requests", st.Requests),
		slog.Int64("rate_limited", st.RateLimited), slog.Duration("limiter_wait", st.LimiterWait)}
	for _, e := range status.Entities {
		ents = append(ents, fmt.Sprintf("%s %d", e.Entity, e.Extracted))
		attrs = append(attrs, slog.Int(e.Entity+"_extracted", e.Extracted))
	}
	detail := fmt.Sprintf("pages · %s · limiter wait %s · 429s %d", strings.Join(ents, " · "),
		st.LimiterWait.Round(100*time.Millisecond), st.RateLimited)
	return progress.Snapshot{Count: st.Pages, Detail: detail, Attrs: attrs}
}

func printResult(a *app, r syncrun.Result) {
	fmt.Fprintf(a.stdout, "%s sync %s: %s in %s\n", r.Kind, r.SyncID, r.Outcome, r.Duration.Round(time.Millisecond))
	shown := map[string]bool{}
	for _, e := range r.Entities {
		var ops []string
		for _, op := range []string{"c", "u", "d", "r"} {
			if n := e.Changes[op]; n > 0 {
				ops = append(ops, fmt.Sprintf("%s=%d", op, n))
			}
		}
		if len(ops) == 0 {
			ops = []string{"no changes"}
		}
		line := fmt.Sprintf("  %-14s %-9s extracted %-6d published %s", e.Entity, e.Outcome, e.Extracted, strings.Join(ops, " "))
		switch {
		case e.Guard == syncrun.GuardFieldLoss:
			line += "  FIELD-LOSS GUARD TRIPPED: nothing published (see --delete-guard-override)"
		case e.GuardTripped:
			line += "  DELETE GUARD TRIPPED: nothing published (see --delete-guard-override)"
		}
		fmt.Fprintln(a.stdout, line)
		for _, s := range e.IncompleteScopes {
			fmt.Fprintf(a.stdout, "    incomplete: %s (its deletes were withheld)\n", s)
		}
		for _, msg := range e.Errors {
			shown[msg] = true
			fmt.Fprintf(a.stdout, "    error: %s\n", firstLine(msg))
		}
	}
	for _, msg := range r.Errors {
		if !shown[msg] && !containsAny(msg, shown) {
			fmt.Fprintf(a.stdout, "  error: %s\n", firstLine(msg))
		}
	}
}

// firstLine shortens a multi-line error (one line per failed listing) to its first line and a
// count; --output json has the full text.
func firstLine(msg string) string {
	first, rest, ok := strings.Cut(msg, "\n")
	if !ok {
		return msg
	}
	return fmt.Sprintf("%s (and %d more lines; --output json shows all)", first, strings.Count(rest, "\n")+1)
}

// containsAny reports whether msg repeats one of the texts already shown.
func containsAny(msg string, shown map[string]bool) bool {
	for s := range shown {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
