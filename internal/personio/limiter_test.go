package personio

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// waitTook returns how long one Wait blocked, in virtual time.
func waitTook(t *testing.T, l *adaptiveLimiter) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := l.Wait(t.Context()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return time.Since(start)
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

func TestLimiterBurstThenRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gauge float64
		l := newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, func(v float64) { gauge = v })
		if gauge != 5 {
			t.Errorf("gauge = %v, want 5", gauge)
		}
		// The local bucket holds 14: one token of the server's 15 stays in hand.
		start := time.Now()
		for range 14 {
			waitTook(t, l)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("burst of 14 took %v, want 0", d)
		}
		if d := waitTook(t, l); !near(d, 200*time.Millisecond) {
			t.Errorf("15th request waited %v, want 200ms", d)
		}
		for _, tt := range []struct{ burst, want int }{{1, 1}, {2, 1}, {5, 4}} {
			if got := newAdaptiveLimiter(Rate{PerMinute: 60, Burst: tt.burst}, nil).Burst(); got != tt.want {
				t.Errorf("burst %d: local bucket %d, want %d", tt.burst, got, tt.want)
			}
		}
	})
}

func TestLimiterMultiplicativeDecreaseAndAdditiveIncrease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gauge float64
		l := newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, func(v float64) { gauge = v })

		l.Throttled(nil)
		if l.Limit() != 2.5 || gauge != 2.5 {
			t.Fatalf("after one 429: limit %v, gauge %v, want 2.5", l.Limit(), gauge)
		}
		// The server has no token left, so neither has the client: the next request waits
		// one token at the lowered rate.
		if d := waitTook(t, l); !near(d, 400*time.Millisecond) {
			t.Errorf("request after a 429 waited %v, want 400ms", d)
		}

		for range 20 {
			l.Throttled(nil)
		}
		if want := 5.0 / 16; l.Limit() != want {
			t.Errorf("after many 429s: limit %v, want the floor %v", l.Limit(), want)
		}

		// Recovery is additive: 5/50 = 0.1 per success, never above the configured rate.
		l2 := newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, nil)
		l2.Throttled(nil)
		for range 10 {
			l2.Success(nil)
		}
		if got := l2.Limit(); got < 3.49 || got > 3.51 {
			t.Errorf("after 10 successes: limit %v, want 3.5", got)
		}
		for range 100 {
			l2.Success(nil)
		}
		if l2.Limit() != 5 {
			t.Errorf("after 110 successes: limit %v, want the configured 5", l2.Limit())
		}
	})
}

func TestLimiterFollowsServerHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tests := []struct {
			name      string
			h         http.Header
			wantLimit rate.Limit
			wantBurst int
		}{
			{"no headers", nil, 5, 14},
			{"lower replenish rate and burst", hdr(headerReplenishRate, "2", headerBurstCapacity, "3"), 2, 2},
			{"higher server rate is not followed", hdr(headerReplenishRate, "50", headerBurstCapacity, "100"), 5, 14},
			{"garbage ignored", hdr(headerReplenishRate, "fast", headerBurstCapacity, "-1", headerRemaining, "NaN"), 5, 14},
		}
		for _, tt := range tests {
			l := newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, nil)
			l.Success(tt.h)
			if rate.Limit(l.Limit()) != tt.wantLimit || l.Burst() != tt.wantBurst {
				t.Errorf("%s: limit %v burst %d, want %v %d", tt.name, l.Limit(), l.Burst(), tt.wantLimit, tt.wantBurst)
			}
		}

		// Remaining 0: the next request waits until the server should have a token again.
		l := newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, nil)
		l.Success(hdr(headerRemaining, "0", headerReplenishRate, "5"))
		if d := waitTook(t, l); !near(d, 200*time.Millisecond) {
			t.Errorf("after remaining=0: waited %v, want 200ms", d)
		}

		// Remaining 4: the client keeps at most 4 of its 14 tokens.
		l = newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 15}, nil)
		l.Success(hdr(headerRemaining, "4"))
		start := time.Now()
		for range 4 {
			waitTook(t, l)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("4 remaining tokens took %v, want 0", d)
		}
		if d := waitTook(t, l); !near(d, 200*time.Millisecond) {
			t.Errorf("5th request waited %v, want 200ms", d)
		}

		// A remaining count above the local bucket never adds tokens.
		l = newAdaptiveLimiter(Rate{PerMinute: 300, Burst: 2}, nil)
		waitTook(t, l)
		waitTook(t, l)
		l.Success(hdr(headerRemaining, "10"))
		if d := waitTook(t, l); !near(d, 200*time.Millisecond) {
			t.Errorf("after remaining=10 with an empty bucket: waited %v, want 200ms", d)
		}
	})
}

func TestLimiterSharedByConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Rate{PerMinute: 600, Burst: 6}, nil)
		var n atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(10 * time.Second)
		for range 8 {
			wg.Go(func() {
				for {
					if _, err := l.Wait(t.Context()); err != nil {
						t.Error(err)
						return
					}
					if time.Now().After(deadline) {
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		// 5 at once, then 10 per second for 10 s (the request at exactly 10 s counts too).
		if got := n.Load(); got < 104 || got > 106 {
			t.Errorf("8 callers got %d requests in 10 s, want 105 (burst 5 + 10/s)", got)
		}
	})
}

// TestLimiterWaitersReplanAfterThrottle checks that waiters queued at one rate do not fire
// together when the rate drops: every request after the 429 keeps the new spacing.
func TestLimiterWaitersReplanAfterThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Rate{PerMinute: 600, Burst: 2}, nil) // 10/s, local bucket 1
		start := time.Now()
		var mu sync.Mutex
		var times []time.Duration
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for range 3 {
					if _, err := l.Wait(t.Context()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					times = append(times, time.Since(start))
					mu.Unlock()
				}
			})
		}
		time.Sleep(250 * time.Millisecond)
		l.Throttled(nil) // now 5/s, bucket emptied
		wg.Wait()
		if len(times) != 18 {
			t.Fatalf("%d requests, want 18", len(times))
		}
		// 10/s before the 429 at 250 ms; from the first request after it on, 5/s. (The first
		// request after it still has the half token earned before it.)
		for i := 1; i < len(times); i++ {
			gap := times[i] - times[i-1]
			want := 100 * time.Millisecond
			if times[i-1] > 250*time.Millisecond {
				want = 200 * time.Millisecond
			}
			if gap < want-time.Millisecond {
				t.Errorf("request %d at %v, %v after the previous one; want at least %v", i, times[i], gap, want)
			}
		}
	})
}

func TestLimiterWaitHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Rate{PerMinute: 60, Burst: 2}, nil) // 1/s, bucket 1
		waitTook(t, l)
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		if _, err := l.Wait(ctx); !errors.Is(err, errLimiterDeadline) {
			t.Errorf("Wait with a deadline before the next token: %v, want errLimiterDeadline", err)
		}
		ctx, cancel2 := context.WithCancel(t.Context())
		go func() { time.Sleep(100 * time.Millisecond); cancel2() }()
		if _, err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait cancelled: %v, want context.Canceled", err)
		}
		// The cancelled reservations were returned: the next token is due 1 s after the first.
		start := time.Now()
		waitTook(t, l)
		if d := time.Since(start); !near(d, 900*time.Millisecond) {
			t.Errorf("after cancelled waits: waited %v, want 900ms", d)
		}
	})
}
