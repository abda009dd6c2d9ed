package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Runner runs one sync. *sync.Runner is one.
type Runner interface {
	Run(ctx context.Context, kind syncrun.Kind, opts ...syncrun.RunOption) (syncrun.Result, error)
}

// Schedule decides when syncs run: a full sync at start and every Full, an incremental sync
// every Incremental in between (0 disables them). A failed or partial full sync is retried
// after a backoff that starts at Retry and doubles with every further failure, capped at Full,
// and is reset by a complete full sync: one bad item or a listing that keeps breaking must not
// spend the whole Personio budget on full syncs, nor starve the incremental syncs, which keep
// running every Incremental in between (an incremental sync due before the retry runs first).
type Schedule struct {
	Full        time.Duration
	Incremental time.Duration
	Retry       time.Duration
}

// Scheduler runs syncs one at a time on a Schedule. Syncs never overlap. With WithRefresh it
// runs the rolling refresh of employments in the time between them (never beside one).
type Scheduler struct {
	runner   Runner
	schedule Schedule
	logger   *slog.Logger
	metrics  *schedulerMetrics
	running  atomic.Bool
	refresh  *refreshState // nil without WithRefresh

	authFailures int // consecutive syncs that failed on a refused credential; Loop only

	mu     gosync.Mutex // guards status
	status ScheduleStatus
}

// ScheduleStatus is the /status view of the schedule: when the next syncs run, and why a full
// sync is being retried.
type ScheduleStatus struct {
	NextFull        time.Time `json:"next_full_sync,omitzero"`
	NextIncremental time.Time `json:"next_incremental_sync,omitzero"`
	// FullSyncRetry is set while full syncs fail or end partial.
	FullSyncRetry *FullSyncRetry `json:"full_sync_retry,omitempty"`
}

// FullSyncRetry says why the next full sync is a retry and when it runs.
type FullSyncRetry struct {
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Reason              string    `json:"reason"`  // error code of the last full sync (see README)
	Outcome             string    `json:"outcome"` // failed or partial
	BackoffSeconds      float64   `json:"backoff_seconds"`
	NextAttempt         time.Time `json:"next_attempt"`
}

// FatalAuthFailures is how many consecutive syncs must fail on a refused credential before
// the scheduler stops the service. One refusal may be a blip at Personio or a secret being
// rotated; two in a row, a Retry interval apart, need an operator.
const FatalAuthFailures = 2

// SchedulerOption adjusts a Scheduler.
type SchedulerOption func(*schedulerOptions)

type schedulerOptions struct {
	reg     prometheus.Registerer
	refresh *Refresh
}

// WithRegisterer registers the scheduler's metrics with reg (default: none registered).
func WithRegisterer(reg prometheus.Registerer) SchedulerOption {
	return func(o *schedulerOptions) { o.reg = reg }
}

// NewScheduler returns a Scheduler; Retry defaults to Incremental (or Full/4 without
// incremental syncs).
func NewScheduler(r Runner, s Schedule, logger *slog.Logger, opts ...SchedulerOption) *Scheduler {
	var o schedulerOptions
	for _, opt := range opts {
		opt(&o)
	}
	if s.Retry <= 0 {
		s.Retry = s.Incremental
		if s.Retry <= 0 {
			s.Retry = s.Full / 4
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sc := &Scheduler{runner: r, schedule: s, logger: logger, metrics: newSchedulerMetrics(o.reg)}
	if o.refresh != nil {
		sc.refresh = &refreshState{Refresh: *o.refresh, logger: logger.With("component", "employment-refresh")}
	}
	return sc
}

// Status returns the /status view of the schedule.
func (s *Scheduler) Status() ScheduleStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.FullSyncRetry != nil {
		r := *st.FullSyncRetry
		st.FullSyncRetry = &r
	}
	return st
}

// retryBackoff is the wait before the next full sync after n consecutive failed or partial
// ones: Retry, 2×Retry, 4×Retry, …, capped at Full.
func (s *Scheduler) retryBackoff(n int) time.Duration {
	d := s.schedule.Retry
	for i := 1; i < n && d < s.schedule.Full; i++ {
		d *= 2
	}
	if s.schedule.Full > 0 {
		d = min(d, s.schedule.Full)
	}
	return d
}

// Busy reports whether a sync is running.
func (s *Scheduler) Busy() bool { return s.running.Load() }

// Loop runs syncs until stop is closed; it then returns without starting another. A sync in
// flight runs under work, which the caller cancels to abandon it (see Serve for the shutdown
// order). Loop returns nil after stop, or work's error when work ends first, or a
// *FatalError when a sync failed in a way no retry can fix: Personio refused the credential
// in FatalAuthFailures consecutive syncs, or the schema registry rejected a schema as
// incompatible. Every other failure is retried on the schedule.
func (s *Scheduler) Loop(stop <-chan struct{}, work context.Context) error {
	now := time.Now()
	nextFull, nextIncr := now, time.Time{}
	failures := 0 // consecutive full syncs that failed or ended partial
	s.plan(nextFull, nextIncr, failures, runReport{}, 0)
	for {
		kind, due := syncrun.Full, nextFull
		if s.schedule.Incremental > 0 && !nextIncr.IsZero() && nextIncr.Before(nextFull) {
			kind, due = syncrun.Incremental, nextIncr
		}
		if s.refresh != nil && !s.refreshUntil(stop, work, due) {
			if work.Err() != nil {
				return work.Err()
			}
			return nil
		}
		timer := time.NewTimer(time.Until(due))
		select {
		case <-stop:
			timer.Stop()
			return nil
		case <-work.Done():
			timer.Stop()
			return work.Err()
		case <-timer.C:
		}
		select {
		case <-stop: // a stop that raced with the timer wins: no new work
			return nil
		default:
		}
		rep, fatal := s.runOnce(work, kind)
		if work.Err() != nil {
			return work.Err()
		}
		if fatal != nil {
			return fatal
		}
		if s.refresh != nil {
			s.refresh.observe(work)
		}
		now = time.Now()
		var backoff time.Duration
		switch {
		case kind == syncrun.Full && rep.ok:
			failures = 0
			nextFull = now.Add(s.schedule.Full)
		case kind == syncrun.Full:
			failures++
			backoff = s.retryBackoff(failures)
			nextFull = now.Add(backoff)
			s.logger.Warn("full sync will be retried", "consecutive_failures", failures, "reason", rep.reason,
				"backoff", backoff, "next_attempt", nextFull)
		}
		if s.schedule.Incremental > 0 {
			nextIncr = now.Add(s.schedule.Incremental)
		}
		if kind == syncrun.Full {
			s.plan(nextFull, nextIncr, failures, rep, backoff)
		} else {
			s.plan(nextFull, nextIncr, -1, rep, 0)
		}
	}
}

// runReport is what the schedule needs to know of a finished sync.
type runReport struct {
	ok      bool
	reason  string // error code of a failed or partial sync
	outcome syncrun.Outcome
}

// plan records the next due times for /status and the metrics; failures < 0 keeps the retry
// state of the full syncs as it is (an incremental sync ran).
func (s *Scheduler) plan(nextFull, nextIncr time.Time, failures int, rep runReport, backoff time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.NextFull, s.status.NextIncremental = nextFull, nextIncr
	s.metrics.next.WithLabelValues(string(syncrun.Full)).Set(unixSeconds(nextFull))
	if !nextIncr.IsZero() {
		s.metrics.next.WithLabelValues(string(syncrun.Incremental)).Set(unixSeconds(nextIncr))
	}
	switch {
	case failures < 0:
	case failures == 0:
		s.status.FullSyncRetry = nil
		s.metrics.failures.Set(0)
		s.metrics.backoff.Set(0)
		s.metrics.reason.Reset()
	default:
		s.status.FullSyncRetry = &FullSyncRetry{ConsecutiveFailures: failures, Reason: rep.reason,
			Outcome: string(rep.outcome), BackoffSeconds: backoff.Seconds(), NextAttempt: nextFull}
		s.metrics.failures.Set(float64(failures))
		s.metrics.backoff.Set(backoff.Seconds())
		s.metrics.reason.Reset()
		s.metrics.reason.WithLabelValues(rep.reason).Set(1)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// reasonOf returns the error code of a failed or partial sync: the first error the run
// reported (see syncrun.Describe).
func reasonOf(res syncrun.Result, err error) string {
	var re *syncrun.RunError
	switch {
	case errors.As(err, &re) && len(re.Details) > 0:
		return re.Details[0].Code
	case err != nil:
		return syncrun.Describe(err).Code
	case len(res.ErrorDetails) > 0:
		return res.ErrorDetails[0].Code
	}
	return syncrun.CodeUnclassified
}

// runOnce runs one sync and reports whether it completed (and why not), and the *FatalError
// that must stop the service, if any.
func (s *Scheduler) runOnce(ctx context.Context, kind syncrun.Kind) (rep runReport, fatal error) {
	s.running.Store(true)
	defer s.running.Store(false)
	var opts []syncrun.RunOption
	if s.refresh != nil {
		opts = s.refresh.SyncOptions
	}
	res, err := s.runner.Run(ctx, kind, opts...)
	rep = runReport{ok: err == nil && res.Outcome == syncrun.Complete, outcome: res.Outcome}
	if err != nil {
		rep.outcome = syncrun.Failed
	}
	if !rep.ok {
		rep.reason = reasonOf(res, err)
	}
	if err == nil || !errors.Is(err, personio.ErrAuth) {
		s.authFailures = 0
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		s.logger.Warn("sync abandoned at shutdown", "kind", kind, "sync_id", res.SyncID)
		return rep, nil
	case err != nil && errors.Is(err, codec.ErrSchemaIDMismatch):
		// The registry lost the schemas (or gave their ids away) and does not take them again;
		// nothing was published. Not fatal, though its cause may be a 409: restoring the
		// registry heals a running service at the next sync, while a restart would only
		// register again and meet the same refusal. /readyz and the error code say it meanwhile.
		s.logger.Error("sync refused: a schema id no longer names the service's schema and the registry does not register it again",
			"kind", kind, "sync_id", res.SyncID, "err", err)
		return rep, nil
	case err != nil && errors.Is(err, kafka.ErrFenced):
		// Another instance of the consumer group took the tenant over and fenced this one:
		// nothing this sync wrote is visible to read_committed readers, and no retry may write.
		return rep, Fatal(fmt.Errorf("another instance took this tenant over (its transactional id was fenced); "+
			"this instance publishes nothing more for it: %w", err))
	case err != nil && errors.Is(err, codec.ErrIncompatible):
		return rep, Fatal(fmt.Errorf("the schema registry rejects a schema as incompatible with its subject; "+
			"restore the compatibility or register a compatible schema, then restart: %w", err))
	case err != nil && errors.Is(err, personio.ErrAuth):
		s.authFailures++
		if s.authFailures >= FatalAuthFailures {
			return rep, Fatal(fmt.Errorf("the Personio credential was refused in %d consecutive syncs; "+
				"fix PERSONIO_CLIENT_ID / PERSONIO_CLIENT_SECRET and restart, or, for a tenant of TENANTS_FILE, "+
				"its client_id / client_secret_file (the changed file starts it again): %w", s.authFailures, err))
		}
		s.logger.Error("sync failed: Personio refused the credential; the next sync tries once more, then the tenant's syncs stop",
			"kind", kind, "sync_id", res.SyncID, "err", err)
		return rep, nil
	case err != nil:
		s.logger.Error("sync failed", "kind", kind, "sync_id", res.SyncID, "err", err)
		return rep, nil
	case res.Outcome != syncrun.Complete:
		s.logger.Warn("sync finished incomplete", "kind", kind, "sync_id", res.SyncID, "outcome", res.Outcome,
			"published", res.Published(), "errors", res.Errors)
		return rep, nil
	default:
		s.logger.Info("sync complete", "kind", kind, "sync_id", res.SyncID, "published", res.Published(),
			"duration", res.Duration.Round(time.Millisecond))
		return rep, nil
	}
}
