package personio

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Retry reasons, used as the "reason" label of personio_cdc_api_retries_total.
const (
	reasonRateLimited  = "rate_limited"
	reasonServerError  = "server_error"
	reasonTimeout      = "timeout"
	reasonConnection   = "connection"
	reasonMalformed    = "malformed"
	reasonUnauthorized = "unauthorized"
	// reasonRetryAfter: a reply that said when to come back (Retry-After), such as
	// compensations.too_many_requests (the concurrency limit) or a 503 of
	// compensations.service_unavailable; the client waits as told and keeps its rate.
	reasonRetryAfter = "retry_after"
)

// Budget names, used as the "budget" label.
const (
	budgetDefault       = "default"
	budgetCompensations = "compensations"
)

// metrics holds the client's collectors. Every label value is a route template, a status code,
// a reason or a budget name: never an id, a name or an e-mail address.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	limiterWait *prometheus.CounterVec
	limiterRate *prometheus.GaugeVec
	errors      *prometheus.CounterVec
	slotsWait   prometheus.Counter
}

// newMetrics registers the collectors with reg. A nil reg gives working, unregistered
// collectors.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_api_requests_total",
			Help: "HTTP requests sent to the Personio API, by route template and status code (0 = no response).",
		}, []string{"endpoint", "status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "personio_cdc_api_request_duration_seconds",
			Help:    "Duration of Personio API requests including reading the body, by route template.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_api_retries_total",
			Help: "Personio API requests repeated, by route template and reason.",
		}, []string{"endpoint", "reason"}),
		limiterWait: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_api_rate_limit_wait_seconds_total",
			Help: "Time spent waiting on the client-side rate limiter, by budget.",
		}, []string{"budget"}),
		limiterRate: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_api_rate_limit_per_second",
			Help: "Request rate currently allowed by the adaptive client-side rate limiter, by budget.",
		}, []string{"budget"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_api_errors_total",
			Help: "Error replies from the Personio API, by route template, status and Personio's error type (reason, e.g. compensations.too_many_requests; \"none\" when the reply had none).",
		}, []string{"endpoint", "status", "reason"}),
		slotsWait: f.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_api_compensation_slot_wait_seconds_total",
			Help: "Time spent waiting for one of the compensation request slots (at most 2 requests without a person.id filter in flight per credential).",
		}),
	}
}

// observeError counts an error reply by Personio's error type.
func (m *metrics) observeError(e *APIError) {
	reason := e.Code()
	if reason == "" {
		reason = "none"
	}
	m.errors.WithLabelValues(e.Endpoint, strconv.Itoa(e.Status), reason).Inc()
}

func (m *metrics) observeRequest(endpoint string, status int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Stats are cumulative counters of one Client, for progress reports.
type Stats struct {
	Requests    int64         // HTTP requests sent (token requests excluded)
	Pages       int64         // list pages handed to callbacks, plus single-resource gets
	Retries     int64         // requests repeated for any reason
	RateLimited int64         // 429 responses without Retry-After (the rate limit)
	RetryAfter  int64         // 429 and 5xx responses with a Retry-After, waited out as told
	LimiterWait time.Duration // total time spent waiting on the client-side limiter
}

type stats struct {
	requests, pages, retries, rateLimited, retryAfter, limiterWait atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Requests:    s.requests.Load(),
		Pages:       s.pages.Load(),
		Retries:     s.retries.Load(),
		RateLimited: s.rateLimited.Load(),
		RetryAfter:  s.retryAfter.Load(),
		LimiterWait: time.Duration(s.limiterWait.Load()),
	}
}
