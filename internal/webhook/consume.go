package webhook

import (
	"context"
	"errors"
	"time"
)

// NextBatch waits for one queued person (as Next), then takes up to max-1 more that are
// queued already, without waiting for them: a burst of deliveries becomes few fetches.
func (q *Queue) NextBatch(ctx context.Context, max int) ([]Target, error) {
	first, err := q.Next(ctx)
	if err != nil {
		return nil, err
	}
	batch := []Target{first}
	for len(batch) < max {
		q.mu.Lock()
		empty := len(q.order) == 0
		q.mu.Unlock()
		if empty {
			break
		}
		t, err := q.Next(ctx)
		if err != nil {
			break
		}
		batch = append(batch, t)
	}
	return batch, nil
}

// Fetcher fetches and publishes a batch of targets (the targeted run). An error means none of
// them may count as published: they are queued again.
type Fetcher func(ctx context.Context, batch []Target) error

// Retry delays of Consume after a failed fetch.
const (
	minConsumeBackoff = time.Second
	maxConsumeBackoff = time.Minute
)

// Consume hands the queue to fetch in batches of at most max persons until ctx ends or the
// queue closes (then it returns nil). A failed batch is queued again and the next one waits,
// 1 s after the first failure, doubling up to a minute, so that an unreachable Personio is not
// hammered.
func (r *Receiver) Consume(ctx context.Context, max int, fetch Fetcher) error {
	if max < 1 {
		max = 1
	}
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		batch, err := r.queue.NextBatch(ctx, max)
		if errors.Is(err, ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		ferr := fetch(ctx, batch)
		for _, t := range batch {
			r.Finished(t, ferr)
		}
		switch {
		case ferr == nil:
			backoff = 0
		case backoff == 0:
			backoff = minConsumeBackoff
		default:
			backoff = min(2*backoff, maxConsumeBackoff)
		}
	}
}
