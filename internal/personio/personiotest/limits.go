package personiotest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

type bucketKind int

const (
	bucketAPI bucketKind = iota
	bucketCompensation
	bucketToken
	// bucketCompensationEarly is the compensations budget before
	// Options.CompensationRateLimitFrom: the general rate, in a bucket of its own.
	bucketCompensationEarly
	numBuckets
)

// limits holds the token buckets of every credential.
type limits struct {
	off   bool
	quiet bool // limits on, x-ratelimit-* headers off
	rates [numBuckets]Rate

	mu      sync.Mutex
	buckets map[string]*[numBuckets]*rate.Limiter
}

func newLimits(opts Options) *limits {
	return &limits{
		off:     opts.NoRateLimit,
		quiet:   opts.NoRateLimitHeaders,
		rates:   [numBuckets]Rate{opts.RateLimit, opts.CompensationRateLimit, tokenRate, opts.RateLimit},
		buckets: make(map[string]*[numBuckets]*rate.Limiter),
	}
}

// peek writes the x-ratelimit-* headers of the client's bucket of kind k without taking a
// token (for replies, such as 401, that are not charged).
func (l *limits) peek(client string, k bucketKind, now time.Time, h http.Header) {
	if l.off || l.quiet {
		return // no budget, or none announced
	}
	r := l.rates[k]
	h.Set("x-ratelimit-replenish-rate", strconv.FormatFloat(r.PerMinute/60, 'f', -1, 64))
	h.Set("x-ratelimit-burst-capacity", strconv.Itoa(r.Burst))
	remaining := max(0, int(math.Floor(l.bucket(client)[k].TokensAt(now))))
	h.Set("x-ratelimit-remaining", strconv.Itoa(remaining))
}

func (l *limits) bucket(client string) *[numBuckets]*rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		b = new([numBuckets]*rate.Limiter)
		for i, rr := range l.rates {
			b[i] = rate.NewLimiter(rate.Limit(rr.PerMinute/60), rr.Burst)
		}
		l.buckets[client] = b
	}
	return b
}

// allow takes one token from the client's bucket of kind k, writes the x-ratelimit-* headers
// and reports whether the request is within budget.
func (l *limits) allow(client string, k bucketKind, now time.Time, h http.Header) bool {
	if l.off {
		return true // limits off: no x-ratelimit-* headers either
	}
	lim := l.bucket(client)[k]
	allowed := lim.AllowN(now, 1)
	if l.quiet {
		return allowed
	}
	r := l.rates[k]
	h.Set("x-ratelimit-replenish-rate", strconv.FormatFloat(r.PerMinute/60, 'f', -1, 64))
	h.Set("x-ratelimit-burst-capacity", strconv.Itoa(r.Burst))
	remaining := max(0, int(math.Floor(lim.TokensAt(now))))
	h.Set("x-ratelimit-remaining", strconv.Itoa(remaining))
	return allowed
}
