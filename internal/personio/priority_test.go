package personio

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Requests made under WithPriority (the webhook trigger's targeted fetches) are served ahead
// of ordinary ones already waiting on the same budget; at most the one ordinary request that
// already holds its turn goes first.
func TestLimiterPriorityGoesAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Rate{PerMinute: 60, Burst: 2}, nil) // 1/s, local bucket 1
		if _, err := l.Wait(t.Context()); err != nil {              // the bucket is empty now
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		wait := func(name string, prio bool) {
			ctx := t.Context()
			if prio {
				ctx = WithPriority(ctx)
			}
			if _, err := l.Wait(ctx); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
		for _, name := range []string{"sync-1", "sync-2", "sync-3", "sync-4"} {
			wg.Go(func() { wait(name, false) })
			synctest.Wait() // queued in this order
		}
		wg.Go(func() { wait("webhook-1", true) })
		wg.Go(func() { wait("webhook-2", true) })
		synctest.Wait()
		start := time.Now()
		wg.Wait()
		want := []string{"sync-1", "webhook-1", "webhook-2", "sync-2", "sync-3", "sync-4"}
		if len(order) != len(want) {
			t.Fatalf("order %v", order)
		}
		// webhook-1 and webhook-2 may come in either order; both before sync-2.
		if order[0] != "sync-1" || order[3] != "sync-2" || order[4] != "sync-3" || order[5] != "sync-4" {
			t.Errorf("served in order %v, want %v (the webhooks in any order)", order, want)
		}
		// The budget is shared, not widened: 6 requests at 1/s.
		if d := time.Since(start); d < 5*time.Second {
			t.Errorf("6 requests took %v at 1/s", d)
		}
	})
}

// A waiter whose context ends while it is queued leaves the queue; the others are served.
func TestLimiterQueuedWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Rate{PerMinute: 60, Burst: 2}, nil)
		if _, err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = l.Wait(t.Context()) }) // holds the turn, waits 1 s for its token
		synctest.Wait()
		ctx, cancel := context.WithCancel(WithPriority(t.Context()))
		errc := make(chan error, 1)
		go func() { _, err := l.Wait(ctx); errc <- err }()
		synctest.Wait()
		wg.Go(func() { _, _ = l.Wait(t.Context()) })
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v", err)
		}
		wg.Wait() // the ordinary waiters behind it are served
		if l.turnHeld || len(l.waiters) != 0 {
			t.Errorf("turn held %v, %d waiters left", l.turnHeld, len(l.waiters))
		}
	})
}
