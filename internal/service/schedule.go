package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Runner runs one sync. *sync.Runner is one.
type Runner interface {
	Run(ctx context.Context, kind syncrun.Kind, opts ...syncrun.RunOption) (syncrun.Result, error)
}

// Schedule decides when syncs run: a full sync at start and every Full, an incremental sync
// every Incremental in between (0 disables them). A failed or partial full sync is retried
// after Retry instead of waiting a whole Full interval.
type Schedule struct {
	Full        time.Duration
	Incremental time.Duration
	Retry       time.Duration
}

// Scheduler runs syncs one at a time on a Schedule. Syncs never overlap.
type Scheduler struct {
	runner   Runner
	schedule Schedule
	logger   *slog.Logger
	running  atomic.Bool

	authFailures int // consecutive syncs that failed on a refused credential; Loop only
}

// FatalAuthFailures is how many consecutive syncs must fail on a refused credential before
// the scheduler stops the service. One refusal may be a blip at Personio or a secret being
// rotated; two in a row, a Retry interval apart, need an operator.
const FatalAuthFailures = 2

// NewScheduler returns a Scheduler; Retry defaults to Incremental (or Full/4 without
// incremental syncs).
func NewScheduler(r Runner, s Schedule, logger *slog.Logger) *Scheduler {
	if s.Retry <= 0 {
		s.Retry = s.Incremental
		if s.Retry <= 0 {
			s.Retry = s.Full / 4
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{runner: r, schedule: s, logger: logger}
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
	for {
		kind, due := syncrun.Full, nextFull
		if s.schedule.Incremental > 0 && !nextIncr.IsZero() && nextIncr.Before(nextFull) {
			kind, due = syncrun.Incremental, nextIncr
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
		ok, fatal := s.runOnce(work, kind)
		if work.Err() != nil {
			return work.Err()
		}
		if fatal != nil {
			return fatal
		}
		now = time.Now()
		switch {
		case kind == syncrun.Full && ok:
			nextFull = now.Add(s.schedule.Full)
		case kind == syncrun.Full:
			nextFull = now.Add(min(s.schedule.Retry, s.schedule.Full))
		}
		if s.schedule.Incremental > 0 {
			nextIncr = now.Add(s.schedule.Incremental)
		}
	}
}

// runOnce runs one sync and reports whether it completed, and the *FatalError that must stop
// the service, if any.
func (s *Scheduler) runOnce(ctx context.Context, kind syncrun.Kind) (ok bool, fatal error) {
	s.running.Store(true)
	defer s.running.Store(false)
	res, err := s.runner.Run(ctx, kind)
	if err == nil || !errors.Is(err, personio.ErrAuth) {
		s.authFailures = 0
	}
	switch {
	case err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		s.logger.Warn("sync abandoned at shutdown", "kind", kind, "sync_id", res.SyncID)
		return false, nil
	case err != nil && errors.Is(err, codec.ErrIncompatible):
		return false, Fatal(fmt.Errorf("the schema registry rejects a schema as incompatible with its subject; "+
			"restore the compatibility or register a compatible schema, then restart: %w", err))
	case err != nil && errors.Is(err, personio.ErrAuth):
		s.authFailures++
		if s.authFailures >= FatalAuthFailures {
			return false, Fatal(fmt.Errorf("the Personio credential was refused in %d consecutive syncs; "+
				"fix PERSONIO_CLIENT_ID / PERSONIO_CLIENT_SECRET, then restart: %w", s.authFailures, err))
		}
		s.logger.Error("sync failed: Personio refused the credential; the next sync tries once more, then the service stops",
			"kind", kind, "sync_id", res.SyncID, "err", err)
		return false, nil
	case err != nil:
		s.logger.Error("sync failed", "kind", kind, "sync_id", res.SyncID, "err", err)
		return false, nil
	case res.Outcome != syncrun.Complete:
		s.logger.Warn("sync finished incomplete", "kind", kind, "sync_id", res.SyncID, "outcome", res.Outcome,
			"published", res.Published(), "errors", res.Errors)
		return false, nil
	default:
		s.logger.Info("sync complete", "kind", kind, "sync_id", res.SyncID, "published", res.Published(),
			"duration", res.Duration.Round(time.Millisecond))
		return true, nil
	}
}
