package sync

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

func TestMetricsAndStatus(t *testing.T) {
	h := newHarness(t, 12)
	reg := prometheus.NewRegistry()
	r := h.runner(func(c *Config) { c.Registerer = reg })
	if st := r.Status(); st.Tenant != tenant || st.Last != nil || st.Entities[0].Phase != PhaseIdle {
		t.Errorf("status before any run = %+v", st)
	}
	res := run(t, r, Full)

	want := h.expected()
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"runs", r.metrics.SyncRuns.WithLabelValues("full", "complete"), 1},
		{"persons created", r.metrics.Changes.WithLabelValues("persons", "c"), 12},
		{"compensations created", r.metrics.Changes.WithLabelValues("compensations", "c"), float64(want.Len("compensations"))},
		{"persons extracted", r.metrics.EntitiesExtracted.WithLabelValues("persons"), 12},
		{"persons in state", r.metrics.StateEntities.WithLabelValues("persons"), 12},
		{"rebuilds", r.metrics.StateRebuilds.WithLabelValues("ok"), 1},
		{"last success", r.metrics.LastSuccessfulSync.WithLabelValues("persons"), float64(res.Ended.UnixMilli()) / 1000},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	names := []string{
		"personio_cdc_sync_duration_seconds", "personio_cdc_sync_runs_total", "personio_cdc_changes_total",
		"personio_cdc_entities_extracted_total", "personio_cdc_last_successful_sync_timestamp_seconds",
		"personio_cdc_state_entities", "personio_cdc_state_rebuilds_total", "personio_cdc_state_rebuild_duration_seconds",
	}
	// Every entity (change.Entities: persons, compensations, employments) has its series.
	for _, e := range change.Entities() {
		name := string(e)
		for _, tc := range []struct {
			what string
			c    prometheus.Collector
			want float64
		}{
			{"created", r.metrics.Changes.WithLabelValues(name, "c"), float64(want.Len(e))},
			{"extracted", r.metrics.EntitiesExtracted.WithLabelValues(name), float64(want.Len(e))},
			{"in state", r.metrics.StateEntities.WithLabelValues(name), float64(want.Len(e))},
			{"last success", r.metrics.LastSuccessfulSync.WithLabelValues(name), float64(res.Ended.UnixMilli()) / 1000},
		} {
			if got := testutil.ToFloat64(tc.c); got != tc.want || got == 0 {
				t.Errorf("%s %s = %v, want %v (not 0)", name, tc.what, got, tc.want)
			}
		}
	}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n == 0 {
		t.Errorf("gather: %d series, %v", n, err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("metric lint problems: %v %v", probs, err)
	}

	st := r.Status()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"phase":"DONE"`, `"sync_id":"` + res.SyncID + `"`, `"outcome":"complete"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("status JSON lacks %s: %s", s, b)
		}
	}
	// No personal data: neither names nor emails of the truth appear in the status.
	for _, p := range h.sim.Truth().Persons {
		if (p.Email != "" && strings.Contains(string(b), p.Email)) || (p.LastName != "" && strings.Contains(string(b), p.LastName)) {
			t.Fatalf("status JSON contains personal data of person %s", p.ID)
		}
	}
}
