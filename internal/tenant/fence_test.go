package tenant

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// TestTakeoverFencesTheFormerOwner: two instances of a consumer group (two managers) both
// believe they own one tenant, as when a paused instance wakes up after the group moved its
// tenants. The one that started the tenant last took its transactional id over; the former
// owner's next publish is fenced, its tenant stops with reason fenced, and the topics a
// read_committed reader sees equal Personio's truth with no event of the fenced writes.
func TestTakeoverFencesTheFormerOwner(t *testing.T) {
	e := newEnv(t)
	acme, sim := e.tenant(t, "acme", 20, 1)
	acme.Sync.IncrementalInterval = 20 * time.Millisecond
	grouped := func(o *Options) {
		o.Assigned, o.Group, o.Fence = true, "cdc", service.KafkaConfig(e.base)
	}
	a := e.manager(t, []config.Config{acme}, grouped)
	serve(t, a)
	if err := a.Own(t.Context(), []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first owner's full sync", func() bool { return lastOutcome(a, "acme") == syncrun.Complete })

	b := e.manager(t, []config.Config{acme}, func(o *Options) {
		grouped(o)
		o.Registerer, o.Reader = prometheus.NewRegistry(), e.kc
	})
	serve(t, b)
	if err := b.Own(t.Context(), []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new owner's full sync", func() bool { return lastOutcome(b, "acme") == syncrun.Complete })

	// Both see the changes; only the new owner may publish them.
	sim.Churn(personiotest.Churn{Renames: 3, EmailChanges: 2})
	waitFor(t, "the former owner to stop, fenced", func() bool { return stateOf(a, "acme").State == StateStopped })
	if st := stateOf(a, "acme"); st.Reason != ReasonFenced || !strings.Contains(st.Error, "took this tenant over") {
		t.Errorf("the former owner's state = %+v, want stopped with reason %s", st, ReasonFenced)
	}
	if st := stateOf(b, "acme"); st.State != StateRunning {
		t.Errorf("the new owner's state = %+v, want running", st)
	}
	want, err := oracle.Expected(sim.Truth(), "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	persons := publish.Topic(e.base.Kafka.TopicPrefix, change.Persons)
	waitFor(t, "the new owner to publish the churn", func() bool {
		rp, err := oracle.ReplayTopic(t.Context(), e.kc, codec.New(e.sr), persons, change.Persons)
		return err == nil && oracle.Diff(rp.State[change.Persons], want[change.Persons]) == ""
	})
	for _, ent := range change.Entities() {
		topic := publish.Topic(e.base.Kafka.TopicPrefix, ent)
		rp, err := oracle.ReplayTopic(t.Context(), e.kc, codec.New(e.sr), topic, ent)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		// A fenced write that a reader saw would repeat a version (both owners published the
		// churn from the same state).
		for key, vs := range rp.Versions {
			for i := 1; i < len(vs); i++ {
				if vs[i] != vs[i-1]+1 {
					t.Errorf("%s: key %s has versions %v, want each one more than the one before", topic, key, vs)
					break
				}
			}
		}
	}
}
