package sync

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the runner's collectors. Label values are entity names, sync kinds, ops and
// results: never ids, names or emails.
type Metrics struct {
	SyncDuration        *prometheus.HistogramVec // kind
	SyncRuns            *prometheus.CounterVec   // kind, result
	Changes             *prometheus.CounterVec   // entity, op
	EntitiesExtracted   *prometheus.CounterVec   // entity
	LastSuccessfulSync  *prometheus.GaugeVec     // entity
	StateEntities       *prometheus.GaugeVec     // entity
	DeleteGuardTrips    *prometheus.CounterVec   // entity
	FieldLossGuardTrips *prometheus.CounterVec   // entity
	ItemsSkipped        *prometheus.CounterVec   // entity, reason
	EventsSkipped       *prometheus.CounterVec   // entity, reason
	StateRebuilds       *prometheus.CounterVec   // result
	ErasedKeys          *prometheus.CounterVec   // entity
	StateRebuildSeconds prometheus.Histogram
}

// NewMetrics registers the runner's collectors with reg. A nil reg builds unregistered
// collectors.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		SyncDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "personio_cdc_sync_duration_seconds",
			Help:    "Duration of sync runs, from state check to the last acknowledged event.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600},
		}, []string{"kind"}),
		SyncRuns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_sync_runs_total",
			Help: "Sync runs by kind and result (complete, partial, failed).",
		}, []string{"kind", "result"}),
		Changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_changes_total",
			Help: "Change events acknowledged by Kafka, by entity and op.",
		}, []string{"entity", "op"}),
		EntitiesExtracted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_entities_extracted_total",
			Help: "Entities read from Personio, by entity.",
		}, []string{"entity"}),
		LastSuccessfulSync: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_last_successful_sync_timestamp_seconds",
			Help: "Unix time at which the last sync that completed an entity without error finished.",
		}, []string{"entity"}),
		StateEntities: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_state_entities",
			Help: "Entities in the published state, by entity.",
		}, []string{"entity"}),
		DeleteGuardTrips: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_delete_guard_trips_total",
			Help: "Syncs of an entity withheld because they would have deleted more than the allowed share.",
		}, []string{"entity"}),
		FieldLossGuardTrips: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_field_loss_guard_trips_total",
			Help: "Syncs of an entity withheld because they would have emptied one field of more than the allowed share.",
		}, []string{"entity"}),
		ItemsSkipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_items_skipped_total",
			Help: "Listed items left out of a sync, by entity and reason: invalid (no identity, a field out of range or unreadable; its scope deletes nothing), conflict (one key listed twice with different content; likewise) or erased (a record of an erased person, left out on purpose).",
		}, []string{"entity", "reason"}),
		EventsSkipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_events_skipped_total",
			Help: "Change events left out of a sync, by entity and reason (too_large: larger than the topic takes); each is tried again by the next sync.",
		}, []string{"entity", "reason"}),
		StateRebuilds: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_state_rebuilds_total",
			Help: "Rebuilds of the state from the output topics, by result (ok, error).",
		}, []string{"result"}),
		ErasedKeys: f.NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_erased_keys_total",
			Help: "Keys of erased persons the runner tombstoned, by entity (published before it learnt of the erasure).",
		}, []string{"entity"}),
		StateRebuildSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "personio_cdc_state_rebuild_duration_seconds",
			Help:    "Duration of state rebuilds from the output topics.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 10),
		}),
	}
}
