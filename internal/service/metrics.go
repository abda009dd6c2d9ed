package service

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// schedulerMetrics say when the next syncs run and why a full sync is being retried.
type schedulerMetrics struct {
	failures prometheus.Gauge
	backoff  prometheus.Gauge
	reason   *prometheus.GaugeVec // code
	next     *prometheus.GaugeVec // kind
}

// newSchedulerMetrics registers the scheduler's collectors with reg; a nil reg builds
// unregistered collectors.
func newSchedulerMetrics(reg prometheus.Registerer) *schedulerMetrics {
	f := promauto.With(reg)
	return &schedulerMetrics{
		failures: f.NewGauge(prometheus.GaugeOpts{
			Name: "personio_cdc_full_sync_consecutive_failures",
			Help: "Full syncs in a row that failed or ended partial; 0 after a complete one.",
		}),
		backoff: f.NewGauge(prometheus.GaugeOpts{
			Name: "personio_cdc_full_sync_retry_backoff_seconds",
			Help: "Wait before the retry of a failed or partial full sync (doubles per failure, capped at the full interval); 0 when none is due.",
		}),
		reason: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_full_sync_retry_reason",
			Help: "1 for the error code of the last failed or partial full sync while it is being retried (see README, error codes).",
		}, []string{"code"}),
		next: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_next_sync_timestamp_seconds",
			Help: "Unix time at which the next sync of the kind is due.",
		}, []string{"kind"}),
	}
}
