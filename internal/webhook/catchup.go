package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// EventLister is what the catch-up needs of the Personio client.
type EventLister interface {
	ListWebhooks(ctx context.Context) ([]personio.Webhook, error)
	ListWebhookEvents(ctx context.Context, webhookID string, f personio.WebhookEventFilter, fn func([]personio.WebhookEvent) error) error
}

// EventRetention is how far back Personio's events endpoint reaches.
const EventRetention = 30 * 24 * time.Hour

// FindWebhook returns the id of the company's webhook that delivers to url
// (ErrNoWebhook when there is none).
func FindWebhook(ctx context.Context, l EventLister, url string) (string, error) {
	ws, err := l.ListWebhooks(ctx)
	if err != nil {
		return "", fmt.Errorf("find webhook: %w", err)
	}
	for _, w := range ws {
		if w.URL == url {
			return w.ID, nil
		}
	}
	return "", ErrNoWebhook
}

// CatchUpResult says what a catch-up read.
type CatchUpResult struct {
	Events  int       // person and employment events listed
	Persons int       // of them, offers that made a new queue entry
	Latest  time.Time // the latest occurred_at listed (zero when none)
	// Truncated is set when since lies beyond the endpoint's 30 days: what happened before
	// its reach is for a full sync to find.
	Truncated bool
}

// CatchUp queues the persons of every person and employment event Personio kept for
// webhookID that occurred after since, as if they had just been delivered: the deliveries
// an earlier process accepted but did not process before it stopped. It waits for room when
// the queue is full, and returns when the listing ends or ctx does.
func (r *Receiver) CatchUp(ctx context.Context, l EventLister, webhookID string, since time.Time) (CatchUpResult, error) {
	var res CatchUpResult
	if floor := r.opts.Now().Add(-EventRetention); since.Before(floor) {
		since, res.Truncated = floor, true
	}
	err := l.ListWebhookEvents(ctx, webhookID, personio.WebhookEventFilter{OccurredAfter: since, EventNames: personio.PersonEvents},
		func(evs []personio.WebhookEvent) error {
			for _, ev := range evs {
				occurred, err := ev.Occurred()
				pid := ev.PersonID()
				if err != nil || !validID(pid) {
					continue // as the receiver would refuse it
				}
				res.Events++
				if occurred.After(res.Latest) {
					res.Latest = occurred
				}
				outcome, err := r.queue.OfferWait(ctx, targetOf(ev.EventName, pid, r.opts.Now(), occurred))
				if err != nil {
					return err
				}
				r.m.catchUp.Inc()
				if outcome == Queued {
					res.Persons++
				}
			}
			return nil
		})
	if err != nil {
		return res, fmt.Errorf("webhook catch-up: %w", err)
	}
	return res, nil
}

// ErrNoWebhook is returned by FindWebhook when no webhook delivers to the URL.
var ErrNoWebhook = errors.New("webhook: no webhook of the company delivers to this URL")
