package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	written     *prometheus.CounterVec // {topic}
	writeErrors *prometheus.CounterVec // {topic, reason}
	bytes       *prometheus.CounterVec // {topic}
	duration    prometheus.Histogram
}

// newMetrics registers the adapter's collectors with reg; a nil reg keeps
// them unexported.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		written: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_messages_written_total",
			Help: "Messages acknowledged by Kafka (acks=all).",
		}, []string{"topic"}),
		writeErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_write_errors_total",
			Help: "Messages whose write failed, by reason.",
		}, []string{"topic", "reason"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_bytes_written_total",
			Help: "Key and value bytes of acknowledged messages.",
		}, []string{"topic"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "personio_cdc_kafka_write_duration_seconds",
			Help:    "Duration of one synchronous write of a batch of messages.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
}
