package group

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Why a member gave up its partitions without a cooperative revocation (label cause of
// personio_cdc_group_lost_total).
const (
	// lostGroup: the group session failed (a heartbeat that could not be sent, the
	// coordinator saying this member is no longer in the group): OnPartitionsLost.
	lostGroup = "group"
	// lostLease: this member heard nothing from the coordinator for its lease (2/3 of the
	// session timeout) and released its tenants itself.
	lostLease = "lease"
)

type metrics struct {
	owned      prometheus.Gauge
	assigned   prometheus.Gauge
	rebalances prometheus.Counter
	lost       *prometheus.CounterVec
	ownErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // not exported anywhere
	}
	f := promauto.With(reg)
	m := &metrics{
		owned: f.NewGauge(prometheus.GaugeOpts{
			Name: "personio_cdc_group_owned_tenants",
			Help: "Tenants this instance owns through the consumer group (Owner.Own returned without error, not yet released).",
		}),
		assigned: f.NewGauge(prometheus.GaugeOpts{
			Name: "personio_cdc_group_assigned_partitions",
			Help: "Partitions of the work topic the consumer group assigns to this instance.",
		}),
		rebalances: f.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_group_rebalances_total",
			Help: "Rebalances this instance completed (each new assignment of the consumer group, also one that changed nothing here).",
		}),
		lost: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_group_lost_total",
			Help: "Times this instance gave up all its partitions without a cooperative revocation, by cause: group (a heartbeat failed or the coordinator dropped this member) or lease (no answer from the coordinator for 2/3 of the session timeout).",
		}, []string{"cause"}),
		ownErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "personio_cdc_group_own_errors_total",
			Help: "Owner.Own calls that failed; the tenants are released and taken again a few seconds later.",
		}),
	}
	for _, c := range []string{lostGroup, lostLease} {
		m.lost.WithLabelValues(c)
	}
	return m
}
