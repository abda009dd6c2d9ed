package kafka

import (
	"errors"

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

// txnMetrics are a TxnProducer's. They have names of their own: the producer's registerer
// usually carries a tenant label that the shared Client's series do not have.
type txnMetrics struct {
	written     *prometheus.CounterVec // {topic}
	writeErrors *prometheus.CounterVec // {topic, reason}
	commits     prometheus.Counter
	aborts      *prometheus.CounterVec // {reason}
	fenced      prometheus.Counter
	acquired    prometheus.Counter
	duration    prometheus.Histogram
}

// newTxnMetrics registers a TxnProducer's collectors with reg, or takes the ones a producer
// of the same registerer registered before (a tenant released and owned again).
func newTxnMetrics(reg prometheus.Registerer) *txnMetrics {
	return &txnMetrics{
		written: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_txn_messages_written_total",
			Help: "Messages of committed transactions (acks=all).",
		}, []string{"topic"})),
		writeErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_txn_write_errors_total",
			Help: "Messages of transactions that were not committed, by reason.",
		}, []string{"topic", "reason"})),
		commits: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_txn_commits_total",
			Help: "Transactions committed.",
		})),
		aborts: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_txn_aborts_total",
			Help: "Transactions aborted, by the step that failed (begin, produce, commit) or fenced.",
		}, []string{"reason"})),
		fenced: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_fenced_total",
			Help: "Times a producer learned that another instance took its transactional id over and stopped publishing.",
		})),
		acquired: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_kafka_txn_acquired_total",
			Help: "Times a producer took its transactional id over, fencing earlier producers of it.",
		})),
		duration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "personio_cdc_kafka_txn_duration_seconds",
			Help:    "Duration of one transaction, from begin to commit or abort.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		})),
	}
}

// register registers c with reg (none when reg is nil) and returns it, or the collector
// registered before under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		panic(err)
	}
	return c
}
