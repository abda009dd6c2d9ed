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
	}
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
	RateLimited int64         // 429 responses
	LimiterWait time.Duration // total time spent waiting on the client-side limiter
}

type stats struct {
	requests, pages, retries, rateLimited, limiterWait atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Requests:    s.requests.Load(),
		Pages:       s.pages.Load(),
		Retries:     s.retries.Load(),
		RateLimited: s.rateLimited.Load(),
		LimiterWait: time.Duration(s.limiterWait.Load()),
	}
}
