package sync

import (
	"slices"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// TestRunTwinBonusesWithoutIDs: a company whose compensations come without Personio ids pays
// persons two bonuses of one type on one day (once with different amounts, once two identical
// items). They share the composite key person|type|effective_from|interval, which used to be
// skipped as a conflict and kept every sync partial. Now the sync is complete, both bonuses of
// every pair are published under keys that do not depend on listing order, and a change to
// one of a pair is the events the schema documents: the smaller amount keeps the plain key, the
// larger gets "|2"; raising the larger updates the "|2" key and nothing else.
func TestRunTwinBonusesWithoutIDs(t *testing.T) {
	h := newHarnessOpts(t, personiotest.Options{Persons: 30, Seed: 42, OmitCompensationIDs: true, TwinBonuses: 2})
	r := h.runner()
	want := h.expected()
	res := run(t, r, Full)
	if res.Outcome != Complete {
		t.Fatalf("full sync outcome %s, want complete: %+v", res.Outcome, res.Entity("compensations"))
	}
	h.checkTopics(want)

	// The twins' keys, and both bonuses of each pair in the topic.
	var twinKeys []string
	for key := range want[change.Compensations] {
		if strings.HasSuffix(key, "|ONE_TIME|2") {
			twinKeys = append(twinKeys, key)
		}
	}
	slices.Sort(twinKeys)
	if len(twinKeys) != 2 {
		t.Fatalf("keys of second twins %v, want 2", twinKeys)
	}
	for _, k := range twinKeys {
		if _, ok := want[change.Compensations][strings.TrimSuffix(k, "|2")]; !ok {
			t.Fatalf("%s has no first twin", k)
		}
	}

	// The same company listed in reverse order: nothing changes.
	reversed := &tamperSource{Source: h.client, compensations: func(cs []personio.Compensation) []personio.Compensation {
		slices.Reverse(cs)
		return cs
	}}
	res = run(t, h.runner(func(c *Config) { c.Source = reversed }), Full)
	if res.Outcome != Complete || res.Published() != 0 {
		t.Fatalf("reversed listing: outcome %s, %d published, want complete and nothing", res.Outcome, res.Published())
	}

	// The larger bonus of the first pair is raised: one update of its "|2" key.
	before := h.replay(change.Compensations)
	churn := h.sim.Churn(personiotest.Churn{TwinBonusChanges: 1})
	if len(churn.TwinBonusChanges) != 1 {
		t.Fatalf("churn %+v", churn)
	}
	res = run(t, r, Full)
	if res.Outcome != Complete {
		t.Fatalf("sync after the change: outcome %s", res.Outcome)
	}
	ops := newOps(before, h.replay(change.Compensations))
	if len(ops) != 1 {
		t.Fatalf("events after changing one twin: %v, want one update", ops)
	}
	for key, op := range ops {
		if op != change.Update || !strings.HasSuffix(key, "|ONE_TIME|2") || !strings.Contains(key, ":"+churn.TwinBonusChanges[0]+"|") {
			t.Fatalf("event %s %s, want an update of person %s's second twin", op, key, churn.TwinBonusChanges[0])
		}
	}
	h.checkTopics(h.expected())
}
