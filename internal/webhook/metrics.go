package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Delivery outcomes, the values of personio_cdc_webhook_deliveries_total{outcome}.
const (
	outcomeQueued       = Queued
	outcomeCoalesced    = Coalesced
	outcomeQueueFull    = Full
	outcomeIgnored      = "ignored_event" // an event of a kind this service does not use
	outcomeUnauthorized = "unauthorized"  // wrong or missing token
	outcomeTooLarge     = "too_large"     // body over MaxBodyBytes
	outcomeMediaType    = "unsupported_media_type"
	outcomeBadRequest   = "bad_request" // not a delivery: bad JSON, no event_name, …
	outcomeUnroutable   = "unroutable"  // a person or employment event without a person id
	outcomeBusy         = "busy"        // too many requests in progress
	outcomeMethod       = "method_not_allowed"
)

// metrics are the receiver's collectors. Labels carry outcomes and event names from a fixed
// set, never an id.
type metrics struct {
	deliveries *prometheus.CounterVec
	events     *prometheus.CounterVec
	queued     prometheus.GaugeFunc
	inFlight   prometheus.GaugeFunc
	duration   prometheus.Histogram
	latency    prometheus.Histogram
	processed  *prometheus.CounterVec
	catchUp    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, q *Queue, capacity int) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		deliveries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_webhook_deliveries_total",
			Help: "Webhook deliveries received, by outcome (queued, coalesced, queue_full, ignored_event, unauthorized, too_large, unsupported_media_type, bad_request, unroutable, busy, method_not_allowed).",
		}, []string{"outcome"}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_webhook_events_total",
			Help: "Authenticated webhook deliveries by event name (other for names this service does not use).",
		}, []string{"event"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "personio_cdc_webhook_request_duration_seconds",
			Help:    "Time the receiver took to answer a delivery (Personio waits 3 s).",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 3},
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "personio_cdc_webhook_latency_seconds",
			Help:    "Time from a delivery's arrival until its targeted fetch was published (acknowledged by Kafka).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		processed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_webhook_targets_total",
			Help: "Targeted fetches finished, by result (published, failed).",
		}, []string{"result"}),
	}
	m.catchUp = f.NewCounter(prometheus.CounterOpts{
		Name: "personio_cdc_webhook_catchup_events_total",
		Help: "Person and employment events read back from Personio's events endpoint after a restart and queued.",
	})
	m.queued = f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "personio_cdc_webhook_queue_persons",
		Help: "Persons waiting for a targeted fetch.",
	}, func() float64 { return float64(q.Len()) })
	m.inFlight = f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "personio_cdc_webhook_queue_in_flight",
		Help: "Persons whose targeted fetch is in progress.",
	}, func() float64 { return float64(q.InFlight()) })
	f.NewGauge(prometheus.GaugeOpts{
		Name: "personio_cdc_webhook_queue_capacity_persons",
		Help: "WEBHOOK_QUEUE_SIZE: persons the queue holds before deliveries get 503.",
	}).Set(float64(capacity))
	for _, o := range []string{outcomeQueued, outcomeCoalesced, outcomeQueueFull, outcomeIgnored, outcomeUnauthorized,
		outcomeTooLarge, outcomeMediaType, outcomeBadRequest, outcomeUnroutable, outcomeBusy, outcomeMethod} {
		m.deliveries.WithLabelValues(o)
	}
	for _, e := range personio.PersonEvents {
		m.events.WithLabelValues(e)
	}
	m.events.WithLabelValues("other")
	return m
}
