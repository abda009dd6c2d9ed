package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/refresh"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// EmploymentReader reads employments for the rolling refresh.
type EmploymentReader interface {
	// RefreshEmployments lists the employments of the given persons, publishes what changed
	// (each person's listing its own completeness scope) and returns the ids whose listing
	// completed. It returns when ctx ends, with what completed by then.
	RefreshEmployments(ctx context.Context, personIDs []string) (verified []string, err error)
	// Persons returns every person of the state (id and updated_at); ok is false while the
	// state is not known (before the first sync rebuilt it).
	Persons() (persons []refresh.Person, ok bool)
}

// VerificationJournal keeps the rotation's verification records; *refresh.Journal is one.
type VerificationJournal interface {
	Read(ctx context.Context) ([]refresh.Record, error)
	Write(ctx context.Context, recs []refresh.Record) error
	Forget(ctx context.Context, ids []string) error
}

// Refresh is the rolling refresh of employments that a Scheduler runs between its syncs.
type Refresh struct {
	Planner *refresh.Planner
	Reader  EmploymentReader
	Journal VerificationJournal
	// SyncOptions are the options of the scheduled syncs while the refresh runs: they read no
	// employments (the refresh does, instead of every full sync listing every person's) and
	// delete only those of persons gone from a complete persons listing
	// (syncrun.WithGoneEmploymentsOnly).
	SyncOptions []syncrun.RunOption
}

// WithRefresh makes the scheduler run the rolling refresh of employments between its syncs
// (see refreshUntil).
func WithRefresh(r Refresh) SchedulerOption {
	return func(o *schedulerOptions) { o.refresh = &r }
}

// RefreshStatus returns the /status view of the employment refresh; nil without one.
func (s *Scheduler) RefreshStatus() *refresh.Status {
	if s.refresh == nil {
		return nil
	}
	st := s.refresh.Planner.Status()
	return &st
}

// NewRefresh builds the rolling refresh of employments from cfg: the planner (its metrics on
// reg), the journal on the Kafka client kc, and the options of the scheduled syncs while it
// runs. It returns nil when EMPLOYMENT_REFRESH_PERIOD is 0, when the runner does not sync
// employments (SYNC_EMPLOYMENT_DETAILS=false, SYNC_ENTITIES or the tenant's entities without
// them), or when reader is nil.
func NewRefresh(cfg config.Config, reader EmploymentReader, kc *kafka.Client, reg prometheus.Registerer) (*Refresh, error) {
	if cfg.Sync.EmploymentRefreshPeriod == 0 || !cfg.Sync.Syncs(change.Employments) || reader == nil {
		return nil, nil
	}
	pc := refresh.DefaultConfig()
	pc.Period = cfg.Sync.EmploymentRefreshPeriod
	pc.Share = cfg.Sync.EmploymentRefreshBudgetShare
	pc.Budget = cfg.Personio.RateLimitPerMinute / 60
	pc.Registerer = reg
	p, err := refresh.New(pc)
	if err != nil {
		return nil, fmt.Errorf("employment refresh: %w", err)
	}
	return &Refresh{Planner: p, Reader: reader,
		Journal: &refresh.Journal{Tenant: cfg.Personio.Tenant, Prefix: cfg.Kafka.TopicPrefix, Spec: TopicTemplate(cfg),
			Producer: kc, Reader: kc, Admin: kc},
		SyncOptions: []syncrun.RunOption{syncrun.WithGoneEmploymentsOnly()}}, nil
}

// refreshState is the scheduler's side of the refresh; Loop's goroutine only.
type refreshState struct {
	Refresh
	restored bool
	failing  bool // the last batch failed (its warning was logged)
	logger   *slog.Logger
}

// restore reads the verification records once, before the first batch: without them every
// person would be read again. A failed read is tried again before the next batch.
func (r *refreshState) restore(ctx context.Context) bool {
	if r.restored {
		return true
	}
	recs, err := r.Journal.Read(ctx)
	if err != nil {
		r.logger.Warn("employment refresh waits: the verification records could not be read", "err", err)
		return false
	}
	r.Planner.Restore(recs)
	r.restored = true
	r.logger.Info("employment refresh resumed from the verification records", "records", len(recs))
	return true
}

// observe hands the persons of the state to the planner after a sync; persons gone from it
// leave the rotation and their records are tombstoned.
func (r *refreshState) observe(ctx context.Context) {
	persons, ok := r.Reader.Persons()
	if !ok {
		return
	}
	removed := r.Planner.Observe(time.Now(), persons, true)
	if len(removed) > 0 && r.restored {
		if err := r.Journal.Forget(ctx, removed); err != nil {
			r.logger.Warn("employment refresh: the records of removed persons could not be tombstoned", "err", err)
		}
	}
}

// refreshUntil runs refresh batches until the sync due at due, or until stop or work ends
// (then it returns false). It never delays that sync: a batch starts only when the planner
// finds room for it before due (see refresh.Planner.Next), and it runs under a context that
// ends at the plan's Deadline, early enough before due for the shared limiter to refill, so a
// batch slower than planned is cut off there; what it completed counts, the rest of its
// persons wait for a later batch. Between batches it waits as the pace says.
func (s *Scheduler) refreshUntil(stop <-chan struct{}, work context.Context, due time.Time) bool {
	r := s.refresh
	for {
		now := time.Now()
		if !now.Before(due) {
			return true
		}
		if !r.restore(work) {
			return true
		}
		plan := r.Planner.Next(now, due.Sub(now))
		if len(plan.Persons) == 0 {
			if plan.Wait <= 0 || !now.Add(plan.Wait).Before(due) {
				return true // the sync comes first
			}
			if !sleep(stop, work, plan.Wait) {
				return false
			}
			continue
		}
		s.running.Store(true)
		ctx, cancel := context.WithDeadline(work, plan.Deadline)
		verified, err := r.Reader.RefreshEmployments(ctx, plan.Persons)
		cancel()
		recs := r.Planner.Done(time.Now(), plan, verified)
		s.running.Store(false)
		switch {
		case err != nil && !r.failing:
			// Once per stretch of failures; personio_cdc_employment_refresh_batches_total
			// counts every one.
			r.logger.Warn("employment refresh batch incomplete; its persons are read again later",
				"persons", len(plan.Persons), "verified", len(verified), "err", err)
			r.failing = true
		case err != nil:
			r.logger.Debug("employment refresh batch incomplete", "persons", len(plan.Persons), "err", err)
		case r.failing:
			r.logger.Info("employment refresh batches complete again")
			r.failing = false
		}
		if err := r.Journal.Write(work, recs); err != nil {
			// The persons were verified; only a restart before their next verification reads
			// them again.
			r.logger.Warn("employment refresh: verification records not written", "records", len(recs), "err", err)
		}
		select {
		case <-stop:
			return false
		default:
		}
		if work.Err() != nil {
			return false
		}
	}
}

// sleep waits d, or until stop or work ends (false).
func sleep(stop <-chan struct{}, work context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-work.Done():
		return false
	case <-t.C:
		return true
	}
}
