package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/webhook"
)

// TargetReader is the sync runner's targeted run, which the webhook trigger asks for.
type TargetReader interface {
	// FetchTargets reads the given persons, and the employments of employmentsOf, and
	// publishes what changed through the differ and publisher of the syncs: a "d" only where
	// Personio answered 404, the mass-delete guard applying, the incremental sync's
	// high-water mark untouched.
	FetchTargets(ctx context.Context, persons, employmentsOf []string) error
	// WebhookWatermark returns the latest point the topics show deliveries processed up to
	// (ok false when they show none): where the catch-up starts, less CatchUpMargin. It may
	// read the topics first (the state rebuild), waiting for a run in progress.
	WebhookWatermark(ctx context.Context) (t time.Time, ok bool, err error)
}

// Webhook trigger defaults.
const (
	// WebhookBatch is the most persons one targeted run reads.
	WebhookBatch = 50
	// CatchUpMargin is how far before the watermark the catch-up starts: deliveries accepted
	// before the watermark may still have been queued when the process stopped. Re-reading an
	// unchanged person publishes nothing, so the margin costs requests only.
	CatchUpMargin = 24 * time.Hour
)

// Webhooks is the webhook trigger of `run`: the receiver on WEBHOOK_ADDR, the catch-up from
// Personio's events endpoint at start, and the consumer that hands the queue to targeted runs.
type Webhooks struct {
	Receiver *webhook.Receiver
	Reader   TargetReader
	// Events lists Personio's webhooks and their events (the Personio client); nil skips the
	// catch-up.
	Events webhook.EventLister
	// URL is WEBHOOK_URL, by which the catch-up finds the subscription; empty skips it.
	URL    string
	Addr   string
	Logger *slog.Logger
	// Router, when set, is the process's listener of every tenant's deliveries (see
	// webhook.Router): Run registers the receiver there under Tenant instead of listening on
	// Addr, and unregisters it when it returns.
	Router *webhook.Router
	Tenant string

	mu   sync.Mutex
	addr net.Addr // where the receiver listens, once it does
}

// NewWebhooks builds the webhook trigger from cfg, or returns nil when WEBHOOK_ADDR is empty or
// reader is nil (the runner cannot yet run targeted fetches).
func NewWebhooks(cfg config.Config, reader TargetReader, events webhook.EventLister, reg prometheus.Registerer, logger *slog.Logger) (*Webhooks, error) {
	if cfg.Webhook.Addr == "" || reader == nil {
		return nil, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "webhook")
	rcv, err := webhook.New(webhook.Options{
		Addr: cfg.Webhook.Addr, Path: cfg.Webhook.Path, Token: cfg.Webhook.Token.Value(),
		TLSCertFile: cfg.Webhook.TLSCertFile, TLSKeyFile: cfg.Webhook.TLSKeyFile,
		QueueSize: cfg.Webhook.QueueSize, Registerer: reg, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	return &Webhooks{Receiver: rcv, Reader: reader, Events: events, URL: cfg.Webhook.TenantURL(cfg.Personio.Tenant),
		Addr: cfg.Webhook.Addr, Logger: logger, Tenant: cfg.Personio.Tenant}, nil
}

// ListenAddr returns the address the receiver listens on; nil before it does.
func (w *Webhooks) ListenAddr() net.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr
}

// Run serves deliveries and hands the queue to targeted runs until stop is closed; a targeted
// run in flight then finishes under work (which the lifecycle cancels when its drain time is
// up). A start-up catch-up reads what Personio kept since the watermark. It returns an error
// only when the receiver cannot listen. With a Router it listens on nothing: the router hands
// it the tenant's deliveries from start until stop.
func (w *Webhooks) Run(stop <-chan struct{}, work context.Context) error {
	var ln net.Listener
	if w.Router == nil {
		var err error
		if ln, err = net.Listen("tcp", w.Addr); err != nil {
			return fmt.Errorf("webhook: listen %s: %w", w.Addr, err)
		}
		w.mu.Lock()
		w.addr = ln.Addr()
		w.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(work))
	defer cancel()
	go func() {
		select {
		case <-stop:
		case <-work.Done():
		}
		cancel()
	}()
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	if w.Router != nil {
		// From stop on, the tenant's deliveries get 503 (Personio retries them), not a queue
		// nobody takes from any more.
		w.Router.Register(w.Tenant, w.Receiver)
		wg.Go(func() {
			<-ctx.Done()
			w.Router.Unregister(w.Tenant, w.Receiver)
		})
		serveErr <- nil
	} else {
		wg.Go(func() {
			err := w.Receiver.Serve(ctx, ln)
			if err != nil {
				cancel() // without a receiver there is nothing to catch up or consume
			}
			serveErr <- err
		})
	}
	wg.Go(func() { w.catchUp(ctx) })
	wg.Go(func() {
		// Batches stop being taken at stop; the one in flight runs under work.
		_ = w.Receiver.Consume(ctx, WebhookBatch, func(_ context.Context, batch []webhook.Target) error {
			persons, emps := make([]string, 0, len(batch)), []string{}
			for _, t := range batch {
				persons = append(persons, t.PersonID)
				if t.Employments {
					emps = append(emps, t.PersonID)
				}
			}
			return w.Reader.FetchTargets(personio.WithPriority(work), persons, emps)
		})
	})
	wg.Wait()
	if err := <-serveErr; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// catchUp queues what Personio kept since the watermark (less CatchUpMargin). Failures are
// logged: the periodic syncs cover what it would have found.
func (w *Webhooks) catchUp(ctx context.Context) {
	if w.Events == nil || w.URL == "" {
		return
	}
	since := time.Now().Add(-webhook.EventRetention)
	t, ok, err := w.Reader.WebhookWatermark(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.Logger.Warn("webhook catch-up skipped: the topics could not be read", "err", err)
		}
		return
	}
	if ok {
		since = t.Add(-CatchUpMargin)
	}
	id, err := webhook.FindWebhook(ctx, w.Events, w.URL)
	if err != nil {
		w.Logger.Warn("webhook catch-up skipped", "err", err)
		return
	}
	res, err := w.Receiver.CatchUp(ctx, w.Events, id, since)
	if err != nil {
		if ctx.Err() == nil {
			w.Logger.Warn("webhook catch-up failed; the periodic syncs cover what it missed", "err", err, "events", res.Events)
		}
		return
	}
	w.Logger.Info("webhook catch-up done", "events", res.Events, "persons", res.Persons, "truncated", res.Truncated)
}
