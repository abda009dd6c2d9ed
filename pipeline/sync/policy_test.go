package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// rawRecords reads a topic to its end and returns its records by partition and offset.
func (h *harness) rawRecords(e change.Entity) map[[2]int64]kafka.Record {
	h.t.Helper()
	out := map[[2]int64]kafka.Record{}
	err := h.kafka.ReadToEnd(h.t.Context(), publish.Topic(DefaultTopicPrefix, e), func(r kafka.Record) error {
		out[[2]int64{int64(r.Partition), r.Offset}] = r
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestRunFieldPolicyChange: a service that ran without a field policy and restarts with one
// publishes exactly one "u" per person the policy changes (and nothing for compensations it
// leaves alone); none of those events carries a dropped or hashed value, in the after image
// or in the before image; and further syncs, also after a restart, publish nothing.
func TestRunFieldPolicyChange(t *testing.T) {
	h := newHarness(t, 25)
	first := run(t, h.runner(), Full)
	if first.Outcome != Complete {
		t.Fatalf("first sync: %s", first.Outcome)
	}
	seen := map[change.Entity]map[[2]int64]kafka.Record{
		change.Persons: h.rawRecords(change.Persons), change.Compensations: h.rawRecords(change.Compensations)}

	// What the policy must keep out of the new events: every IBAN and e-mail address, also
	// those of a person deleted meanwhile (its "d" event carries a before image).
	truth := h.sim.Truth()
	h.sim.Churn(personiotest.Churn{Deletions: 1})
	remaining := map[string]bool{}
	for _, p := range h.sim.Truth().Persons {
		remaining[p.ID] = true
	}
	var secrets []string
	affected := 0
	for _, p := range truth.Persons {
		hit := false
		if p.Email != "" {
			secrets = append(secrets, strings.ToLower(p.Email))
			hit = true
		}
		for _, a := range p.CustomAttributes {
			if a.ID == "dynamic_1207" && len(a.Value) > 2 {
				var iban string
				if err := json.Unmarshal(a.Value, &iban); err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, iban)
				hit = true
			}
		}
		if hit && remaining[p.ID] {
			affected++
		}
	}
	if affected == 0 || len(secrets) < 2 {
		t.Fatalf("the simulator gave no e-mail addresses or IBANs to test with")
	}
	for _, s := range secrets[:2] {
		found := false
		for _, r := range seen[change.Persons] {
			found = found || bytes.Contains(r.Value, []byte(s))
		}
		if !found {
			t.Fatalf("the first sync did not publish %q: the test would prove nothing", s)
		}
	}

	pol, err := change.ParsePolicy([]byte("persons:\n  email: hash\n  custom_attributes.dynamic_1207: drop\n"),
		[]byte("a hash key of thirty-two bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	withPolicy := func(c *Config) { c.FieldPolicy = pol }
	res := run(t, h.runner(withPolicy), Full) // a restart: the state is rebuilt from the topics
	if res.Outcome != Complete {
		t.Fatalf("sync with the policy: %s (%+v)", res.Outcome, res.Entity("persons").Errors)
	}
	if got, want := fmt.Sprint(changes(res, change.Persons)), fmt.Sprint(map[string]int{"d": 1, "u": affected}); got != want {
		t.Errorf("persons changes = %s, want %s (one update per person the policy changes, the deletion)", got, want)
	}
	delComps := changes(res, change.Compensations)
	if len(delComps) > 1 || (len(delComps) == 1 && delComps["d"] == 0) {
		t.Errorf("compensations changes = %v, want the deleted person's deletes only", delComps)
	}

	fresh := 0
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		for pos, r := range h.rawRecords(e) {
			if _, old := seen[e][pos]; old {
				continue
			}
			fresh++
			low := bytes.ToLower(r.Value)
			for _, s := range secrets {
				if bytes.Contains(low, []byte(strings.ToLower(s))) {
					t.Errorf("%s: an event published under the policy carries %q", e, s)
				}
			}
		}
	}
	if want := affected + 2 + 2*delComps["d"]; fresh != want { // deletes come with a tombstone
		t.Errorf("%d new records, want %d", fresh, want)
	}
	// The update names the fields the policy changed.
	for _, m := range h.replay(change.Persons).Messages {
		if m.Event.Op == change.Update && !strings.Contains(strings.Join(m.Event.ChangedFields, ","), "email") &&
			!strings.Contains(strings.Join(m.Event.ChangedFields, ","), "custom_attributes.dynamic_1207") {
			t.Errorf("update of %s names %v, not the fields the policy changed", m.Key, m.Event.ChangedFields)
		}
	}

	// Same policy again, in the same runner and after another restart: nothing to publish
	// (a hash is never hashed again).
	r := h.runner(withPolicy)
	for i := range 2 {
		res := run(t, r, Full)
		if n := changes(res, change.Persons); len(n) != 0 || res.Outcome != Complete {
			t.Errorf("sync %d under the same policy: %s, persons changes %v, want none", i+1, res.Outcome, n)
		}
	}
}
