package personio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a request budget: PerMinute requests per minute with bursts of up to Burst requests.
// The zero value means "use the default".
type Rate struct {
	PerMinute float64
	Burst     int
}

func (r Rate) perSecond() rate.Limit { return rate.Limit(r.PerMinute / 60) }

// Response headers Personio sends with its rate-limit state. Replenish rate is in requests per
// second (the gateway's token-bucket refill rate), burst capacity is the bucket size and
// remaining is the number of tokens left after this request.
const (
	headerRemaining     = "X-Ratelimit-Remaining"
	headerReplenishRate = "X-Ratelimit-Replenish-Rate"
	headerBurstCapacity = "X-Ratelimit-Burst-Capacity"
)

// Tuning of the adaptive limiter: a 429 halves the rate (never below floorFraction of the
// configured rate); each success adds stepFraction of the configured rate back, up to the
// configured rate.
const (
	decreaseFactor = 0.5
	floorFraction  = 1.0 / 16
	stepFraction   = 1.0 / 50
)

// adaptiveLimiter is one request budget shared by every caller of a credential. It wraps a
// token bucket (*rate.Limiter) whose rate follows additive-increase/multiplicative-decrease on
// 429s and never exceeds what the server announces in its x-ratelimit-* headers.
//
// The local bucket holds one token less than the budget's burst (when the burst is at least
// 2). Running at the server's rate, the server's bucket then keeps one token in hand, which
// absorbs network jitter: requests that reach the server closer together than they were sent
// do not draw a 429.
type adaptiveLimiter struct {
	lim *rate.Limiter
	// The turn admits one waiter at a time, so that only one reservation is ever outstanding
	// and each is made at the current rate: a queue of reservations made at an old rate would
	// fire together once the rate changes. Waiters queue for it in arrival order, those of a
	// ctx marked WithPriority ahead of the ordinary ones.
	turnMu   sync.Mutex
	turnHeld bool
	waiters  []*turnWaiter

	mu          sync.Mutex
	configured  rate.Limit // the rate the operator configured
	burst       int        // the burst the operator configured
	aimd        rate.Limit // current rate chosen by AIMD, in [floor, configured]
	floor       rate.Limit
	step        rate.Limit
	serverRate  rate.Limit // last x-ratelimit-replenish-rate, 0 when never seen
	serverBurst int        // last x-ratelimit-burst-capacity, 0 when never seen
	onChange    func(perSecond float64)
	changed     chan struct{} // closed (and replaced) when rate, burst or tokens change
}

// turnWaiter is one waiter queued for the turn; ready is closed when the turn is handed to it.
type turnWaiter struct {
	ready    chan struct{}
	priority bool
}

// newAdaptiveLimiter returns a limiter for r (which must be valid). onChange, if not nil, is
// called with the effective rate whenever it changes (and once now).
func newAdaptiveLimiter(r Rate, onChange func(float64)) *adaptiveLimiter {
	lim := r.perSecond()
	l := &adaptiveLimiter{
		lim:        rate.NewLimiter(lim, withHeadroom(r.Burst)),
		changed:    make(chan struct{}),
		configured: lim,
		burst:      r.Burst,
		aimd:       lim,
		floor:      lim * floorFraction,
		step:       lim * stepFraction,
		onChange:   onChange,
	}
	if onChange != nil {
		onChange(float64(lim))
	}
	return l
}

// errLimiterDeadline means the context's deadline comes before the budget allows a request.
var errLimiterDeadline = errors.New("rate limiter: next request would exceed the context deadline")

// waitError turns an error of adaptiveLimiter.Wait for a request to endpoint into the error
// the caller returns: the context's own error when it ended, a deadline that the budget would
// overrun as the context.DeadlineExceeded it will be, anything else wrapped with endpoint.
func waitError(ctx context.Context, endpoint string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, errLimiterDeadline) {
		return fmt.Errorf("%s: %w: %w", endpoint, err, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", endpoint, err)
}

// Wait blocks until the budget allows one request and returns how long it waited. Waiters are
// served one at a time, in arrival order as far as the runtime allows, those of a ctx marked
// WithPriority ahead of the others (an ordinary waiter that already holds its turn keeps it).
// A waiter whose token is due re-plans when the limiter changes (after a 429 or new server
// headers).
func (l *adaptiveLimiter) Wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if err := l.takeTurn(ctx); err != nil {
		return time.Since(start), err
	}
	defer l.releaseTurn()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		now := time.Now()
		r := l.lim.ReserveN(now, 1)
		if !r.OK() {
			return time.Since(start), errors.New("rate limiter: burst is zero")
		}
		d := r.DelayFrom(now)
		if d == 0 {
			return time.Since(start), nil
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(d)) {
			r.CancelAt(now)
			return time.Since(start), errLimiterDeadline
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return time.Since(start), nil
		case <-changed:
			t.Stop()
			r.Cancel()
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return time.Since(start), ctx.Err()
		}
	}
}

// takeTurn waits for the turn: at once when it is free and nobody waits, else behind the
// waiters queued before (a priority waiter only behind other priority waiters).
func (l *adaptiveLimiter) takeTurn(ctx context.Context) error {
	l.turnMu.Lock()
	if !l.turnHeld && len(l.waiters) == 0 {
		l.turnHeld = true
		l.turnMu.Unlock()
		return nil
	}
	w := &turnWaiter{ready: make(chan struct{}), priority: isPriority(ctx)}
	at := len(l.waiters)
	if w.priority {
		at = slices.IndexFunc(l.waiters, func(o *turnWaiter) bool { return !o.priority })
		if at < 0 {
			at = len(l.waiters)
		}
	}
	l.waiters = slices.Insert(l.waiters, at, w)
	l.turnMu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		l.turnMu.Lock()
		if i := slices.Index(l.waiters, w); i >= 0 {
			l.waiters = slices.Delete(l.waiters, i, i+1)
			l.turnMu.Unlock()
			return ctx.Err()
		}
		l.turnMu.Unlock()
		// The turn was handed over as ctx ended: pass it on.
		l.releaseTurn()
		return ctx.Err()
	}
}

// releaseTurn hands the turn to the first waiter, or frees it.
func (l *adaptiveLimiter) releaseTurn() {
	l.turnMu.Lock()
	defer l.turnMu.Unlock()
	if len(l.waiters) == 0 {
		l.turnHeld = false
		return
	}
	w := l.waiters[0]
	l.waiters = slices.Delete(l.waiters, 0, 1)
	close(w.ready)
}

// Limit returns the effective rate in requests per second.
func (l *adaptiveLimiter) Limit() float64 { return float64(l.lim.Limit()) }

// Burst returns the effective burst of the local bucket (the budget's burst less headroom).
func (l *adaptiveLimiter) Burst() int { return l.lim.Burst() }

// Success records a response that was not a 429: the rate grows by one step toward the
// configured rate, and the server's rate-limit headers are applied.
func (l *adaptiveLimiter) Success(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.aimd < l.configured {
		l.aimd = min(l.aimd+l.step, l.configured)
	}
	l.observeLocked(h)
	l.applyLocked()
}

// Throttled records a 429: the rate is cut (multiplicative decrease, floored), the local bucket
// is emptied since the server has none left, and the headers are applied.
func (l *adaptiveLimiter) Throttled(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Cut the rate actually in force, which may be the server's announced rate.
	l.aimd = max(min(l.aimd, l.serverRateOr(l.aimd))*decreaseFactor, l.floor)
	l.observeLocked(h)
	l.applyLocked()
	l.drainLocked(0)
}

// observeLocked reads the x-ratelimit-* headers, ignoring absent or unparsable values.
func (l *adaptiveLimiter) observeLocked(h http.Header) {
	if h == nil {
		return
	}
	if v, ok := headerFloat(h, headerReplenishRate); ok && v > 0 {
		l.serverRate = rate.Limit(v)
	}
	if v, ok := headerFloat(h, headerBurstCapacity); ok && v >= 1 {
		l.serverBurst = int(v)
	}
	if v, ok := headerFloat(h, headerRemaining); ok && v >= 0 {
		// Never be more optimistic than the server: if it has fewer tokens left than the local
		// bucket, spend the difference locally. With remaining 0 the next request waits until a
		// token should be back.
		l.drainLocked(v)
	}
}

// serverRateOr returns the server's announced rate, or def when none was announced.
func (l *adaptiveLimiter) serverRateOr(def rate.Limit) rate.Limit {
	if l.serverRate > 0 {
		return l.serverRate
	}
	return def
}

// applyLocked sets the bucket's rate and burst to the lowest of configuration, AIMD and server.
func (l *adaptiveLimiter) applyLocked() {
	limit := l.aimd
	if l.serverRate > 0 && l.serverRate < limit {
		limit = l.serverRate
	}
	burst := l.burst
	if l.serverBurst > 0 && l.serverBurst < burst {
		burst = l.serverBurst
	}
	burst = withHeadroom(burst)
	now := time.Now()
	if l.lim.Burst() != burst {
		l.lim.SetBurstAt(now, burst)
		l.notifyLocked()
	}
	if l.lim.Limit() != limit {
		l.lim.SetLimitAt(now, limit)
		l.notifyLocked()
		if l.onChange != nil {
			l.onChange(float64(limit))
		}
	}
}

// notifyLocked wakes a waiter so that it plans again under the new settings.
func (l *adaptiveLimiter) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// drainLocked removes tokens from the local bucket until at most remaining are left.
func (l *adaptiveLimiter) drainLocked(remaining float64) {
	now := time.Now()
	excess := l.lim.TokensAt(now) - remaining
	if excess <= 0 {
		return
	}
	n := int(math.Ceil(excess - 1e-9))
	if n > 0 {
		// A reservation of n ≤ burst tokens always succeeds; it is never cancelled.
		l.lim.ReserveN(now, min(n, l.lim.Burst()))
		l.notifyLocked()
	}
}

// withHeadroom returns the local bucket size for a budget's burst: one token less, at least 1.
func withHeadroom(burst int) int { return max(burst-1, 1) }

func headerFloat(h http.Header, name string) (float64, bool) {
	s := strings.TrimSpace(h.Get(name))
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
