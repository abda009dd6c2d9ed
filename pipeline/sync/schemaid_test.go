package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// wireRecord is one record of an output topic as it lies in Kafka.
type wireRecord struct {
	topic     string
	partition int
	offset    int64
	value     []byte
}

func (w wireRecord) pos() string { return fmt.Sprintf("%s/%d@%d", w.topic, w.partition, w.offset) }

// schemaID returns the id of the record's wire header; 0 for a tombstone.
func (w wireRecord) schemaID() int {
	if len(w.value) < 5 {
		return 0
	}
	return int(binary.BigEndian.Uint32(w.value[1:5]))
}

// wireRecords reads both output topics to their end.
func (h *harness) wireRecords() []wireRecord {
	h.t.Helper()
	var out []wireRecord
	for _, e := range change.Entities() {
		topic := publish.Topic(DefaultTopicPrefix, e)
		err := h.kafka.ReadToEnd(h.t.Context(), topic, func(r kafka.Record) error {
			out = append(out, wireRecord{topic: topic, partition: r.Partition, offset: r.Offset, value: r.Value})
			return nil
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

// resetRegistry empties the registry, as a registry without persistent storage comes back
// after a restart, and registers an unrelated schema under each of ids, in the subject
// subjectOf returns for it.
func (h *harness) resetRegistry(ids map[int]bool, subjectOf func(id int) string) {
	h.t.Helper()
	h.srfake.Reset()
	for id := range ids {
		other := fmt.Sprintf(`{"type":"record","name":"Other%d","namespace":"someone.else","fields":[{"name":"x","type":"string"}]}`, id)
		h.srfake.SeedSchema(subjectOf(id), 1, id, sr.Schema{Schema: other})
	}
}

// TestRunAfterRegistryResetRegistersAgain is issue 11.2: the registry came back empty and
// gave the ids the running service had cached to other schemas. The next sync must register
// its schemas again and publish under the ids that name them now: a consumer that resolves
// each record's id in the registry decodes every new record into the right event.
func TestRunAfterRegistryResetRegistersAgain(t *testing.T) {
	h := newHarness(t, 12)
	r := h.runner()
	run(t, r, Full)
	before := map[string]bool{}
	oldIDs := map[int]bool{}
	for _, w := range h.wireRecords() {
		before[w.pos()] = true
		if id := w.schemaID(); id != 0 {
			oldIDs[id] = true
		}
	}
	if len(oldIDs) != len(change.Entities()) {
		t.Fatalf("the first sync used schema ids %v, want one per entity", oldIDs)
	}

	h.resetRegistry(oldIDs, func(id int) string { return fmt.Sprintf("someone.else.%d-value", id) })
	h.sim.Churn(personiotest.Churn{Hires: 2, Renames: 2, SalaryChanges: 2, Bonuses: 1})
	res := run(t, r, Full)
	if res.Outcome != Complete || res.Published() == 0 {
		t.Fatalf("sync after the reset: outcome %s, published %d", res.Outcome, res.Published())
	}

	// A consumer that knows nothing but the registry.
	fresh, err := codec.NewRegistry(h.srfake.URL())
	if err != nil {
		t.Fatal(err)
	}
	dec := codec.New(fresh)
	newRecords := 0
	for _, w := range h.wireRecords() {
		if before[w.pos()] || w.value == nil {
			continue
		}
		newRecords++
		if oldIDs[w.schemaID()] {
			t.Errorf("%s was published under schema id %d, which the registry now gives to another schema", w.pos(), w.schemaID())
		}
		entity := change.Entity(w.topic[strings.LastIndexByte(w.topic, '.')+1:])
		reader, err := schemas.Parse(string(entity))
		if err != nil {
			t.Fatal(err)
		}
		env, err := change.NewEnvelope(entity)
		if err != nil {
			t.Fatal(err)
		}
		var eventID string
		var src change.Source
		err = dec.Decode(t.Context(), w.value, reader, env)
		if err == nil {
			var ev change.Event
			if ev, err = env.Event(); err == nil {
				eventID, src = ev.EventID, ev.Source
			}
		}
		if err != nil {
			t.Errorf("%s (schema id %d) does not decode with the schema its id names: %v", w.pos(), w.schemaID(), err)
			continue
		}
		if eventID == "" || src.Tenant != tenant || src.SyncID != res.SyncID {
			t.Errorf("%s decoded into event %q of tenant %q, sync %q; want an event of this sync", w.pos(), eventID, src.Tenant, src.SyncID)
		}
	}
	if newRecords != res.Published() {
		t.Errorf("%d new records on the topics, the sync reports %d", newRecords, res.Published())
	}
}

// TestRunRefusesStaleSchemaID: the registry came back empty, other schemas took the ids and
// the very subjects, and it refuses the service's schemas. The sync must fail before it
// publishes anything, say why in its error and /status, and count the refusal.
func TestRunRefusesStaleSchemaID(t *testing.T) {
	h := newHarness(t, 12)
	pr := prometheus.NewRegistry()
	reg, err := codec.NewRegistry(h.srfake.URL(), codec.WithRegisterer(pr))
	if err != nil {
		t.Fatal(err)
	}
	r := h.runner(func(c *Config) { c.Registry = reg; c.Codec = codec.New(reg) })
	run(t, r, Full)
	records := len(h.wireRecords())
	subjects := map[int]string{}
	for _, w := range h.wireRecords() {
		if id := w.schemaID(); id != 0 {
			subjects[id] = codec.Subject(w.topic)
		}
	}
	ids := map[int]bool{}
	for id := range subjects {
		ids[id] = true
	}
	h.resetRegistry(ids, func(id int) string { return subjects[id] })
	h.srfake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema"}`)
			return true
		}
		return false
	})
	h.sim.Churn(personiotest.Churn{Hires: 2, Renames: 2, SalaryChanges: 2})

	res, err := r.Run(t.Context(), Full)
	if err == nil || res.Outcome != Failed {
		t.Fatalf("sync with stale schema ids: outcome %s, err %v; want a failure", res.Outcome, err)
	}
	if !errors.Is(err, codec.ErrSchemaIDMismatch) {
		t.Errorf("err = %v, want codec.ErrSchemaIDMismatch", err)
	}
	if n := len(h.wireRecords()) - records; n != 0 || res.Published() != 0 {
		t.Errorf("the sync published %d records (reports %d) under stale schema ids, want none", n, res.Published())
	}
	for _, es := range r.Status().Entities {
		if es.Phase != PhaseFailed || es.LastErrorDetail == nil || es.LastErrorDetail.Code != CodeSchemaIDMismatch {
			t.Errorf("status of %s = %s, %q; want FAILED with code %s", es.Entity, es.Phase, es.LastError, CodeSchemaIDMismatch)
		}
	}
	if !strings.Contains(err.Error(), CodeSchemaIDMismatch) {
		t.Errorf("the run's error %q does not carry the code %s", err, CodeSchemaIDMismatch)
	}
	if v := counterValue(t, pr, "personio_cdc_schema_id_checks_total", map[string]string{"result": "refused"}); v < 1 {
		t.Errorf("personio_cdc_schema_id_checks_total{result=refused} = %v, want at least 1", v)
	}
}

// counterValue returns the value of the counter name whose labels include labels (0 when
// there is none).
func counterValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
