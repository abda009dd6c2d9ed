package refresh

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics report the rotation; no person ids in labels.
type metrics struct {
	persons, verified, priority, oldest prometheus.Gauge
	requiredShare, share, behind, pace  prometheus.Gauge
	read                                prometheus.Counter
	batches                             *prometheus.CounterVec // outcome
}

// newMetrics registers the collectors with reg; a nil reg builds unregistered ones.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	g := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: "personio_cdc_employment_refresh_" + name, Help: help})
	}
	return &metrics{
		persons:  g("persons", "Persons in the employment refresh rotation."),
		verified: g("verified_persons", "Persons whose employments were verified within the last EMPLOYMENT_REFRESH_PERIOD."),
		priority: g("priority_persons", "Persons read first: never verified, or their updated_at moved since their last verification."),
		oldest: g("oldest_unverified_timestamp_seconds",
			"Unix time of the last verification (or first sight) of the person whose employments have waited longest."),
		requiredShare: g("required_share",
			"Share of the request budget the rotation needs to verify every person within EMPLOYMENT_REFRESH_PERIOD from now."),
		share:  g("budget_share", "EMPLOYMENT_REFRESH_BUDGET_SHARE: the largest share of the request budget the rotation may spend."),
		behind: g("behind", "1 when the period cannot be kept within the budget share (or a person is overdue), else 0."),
		pace:   g("pace_persons_per_second", "Rate at which the rotation currently reads persons' employments."),
		read: f.NewCounter(prometheus.CounterOpts{Name: "personio_cdc_employment_refresh_persons_read_total",
			Help: "Persons whose employment listing the rotation completed."}),
		batches: f.NewCounterVec(prometheus.CounterOpts{Name: "personio_cdc_employment_refresh_batches_total",
			Help: "Refresh batches by outcome (complete, partial, failed)."}, []string{"outcome"}),
	}
}
