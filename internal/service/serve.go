package service

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/admin"
)

// Looper is what Serve runs until the stop signal: a *Scheduler, or a tenant.Manager running
// one scheduler per tenant (see Scheduler.Loop for the contract).
type Looper interface {
	Loop(stop <-chan struct{}, work context.Context) error
	// Busy reports whether a sync is running.
	Busy() bool
}

// Lifecycle is the long-running service: the sync schedule and the admin endpoints.
type Lifecycle struct {
	Scheduler Looper
	Admin     *admin.Server
	// ShutdownTimeout bounds how long a sync in flight may run on after the stop signal.
	ShutdownTimeout time.Duration
	// Webhooks is the webhook trigger (receiver, catch-up, targeted runs); nil without one.
	Webhooks *Webhooks
	// Close releases the clients (Kafka, registry, Personio) once nothing uses them.
	Close  func() error
	Logger *slog.Logger

	stopping atomic.Bool
}

// Stopping is a readiness check: it fails once shutdown has begun, so that a load balancer
// or Kubernetes stops counting on this instance.
func (l *Lifecycle) Stopping(context.Context) error {
	if l.stopping.Load() {
		return ErrShuttingDown
	}
	return nil
}

// Serve starts the admin server and the scheduler and blocks until ctx is cancelled (the
// first SIGINT/SIGTERM), the scheduler stops on a fatal error (see Scheduler.Loop), or the
// admin server cannot start. It returns nil after an orderly shutdown on a signal, and the
// *FatalError after an orderly shutdown the scheduler asked for.
//
// Shutdown order (each step waits for the one before):
//  1. ctx is cancelled: the scheduler starts no new sync, /readyz answers 503.
//  2. A sync in flight may finish for up to ShutdownTimeout; then its context is cancelled and
//     it is abandoned. It sends nothing new, but waits for the verdict on a produce request
//     already on its way (at most the Kafka write timeout, see kafka.Client.Publish). That is
//     safe: every event Kafka acknowledged is already the state, the rest are detected again
//     on the next start and re-sent with the same event_id.
//  3. The admin server stops, after the sync, so that metrics stay scrapable during the drain.
//  4. Close releases the Kafka, registry and Personio clients; nothing can use them any more.
//
// A second signal is handled by main: it exits the process at once.
func (l *Lifecycle) Serve(ctx context.Context) error {
	logger := l.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := l.Admin.Start(); err != nil {
		if l.Close != nil {
			_ = l.Close()
		}
		return err
	}
	logger.Info("personio-cdc started", "admin_addr", l.Admin.Addr())

	// work outlives ctx: it is cancelled only when the drain time is up (step 2).
	work, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	stop := make(chan struct{})
	loopDone := make(chan error, 1)
	go func() { loopDone <- l.Scheduler.Loop(stop, work) }()
	// The webhook trigger stops with the schedule: its receiver at step 1, its targeted run in
	// flight drains with the sync in step 2. Its Run ends early only when it cannot listen.
	var hooksDone chan error
	if l.Webhooks != nil {
		hooksDone = make(chan error, 1)
		go func() { hooksDone <- l.Webhooks.Run(stop, work) }()
	}

	var loopErr, hooksErr error
	select {
	case <-ctx.Done():
	case loopErr = <-loopDone: // a fatal error; work itself does not end before step 2
		loopDone <- loopErr
	case hooksErr = <-hooksDone: // never ready when nil
		hooksDone = nil
	}

	// Step 1.
	l.stopping.Store(true)
	close(stop)
	logger.Info("stopping: no new syncs", "sync_in_flight", l.Scheduler.Busy(), "shutdown_timeout", l.ShutdownTimeout)

	// Step 2.
	drain := time.NewTimer(l.ShutdownTimeout)
	defer drain.Stop()
	select {
	case loopErr = <-loopDone:
	case <-drain.C:
		logger.Warn("shutdown timeout reached: abandoning the sync in flight; unacknowledged events will be re-sent with the same event_id")
		abandon()
		loopErr = <-loopDone
	}
	if hooksDone != nil {
		select {
		case hooksErr = <-hooksDone:
		case <-drain.C:
			abandon()
			hooksErr = <-hooksDone
		}
	}
	if loopErr == nil {
		loopErr = hooksErr
	}
	if errors.Is(loopErr, context.Canceled) {
		loopErr = nil
	}

	// Step 3.
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Admin.Shutdown(actx); err != nil {
		logger.Warn("admin server shutdown", "err", err)
	}

	// Step 4.
	if l.Close != nil {
		if err := l.Close(); err != nil {
			logger.Warn("closing clients", "err", err)
		}
	}
	logger.Info("personio-cdc stopped")
	return loopErr
}
