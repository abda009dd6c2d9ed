package sync

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
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

// TestRunTwinBonusInvalid: of two bonuses without Personio id that share the composite key,
// the one with the smaller amount (published under the plain key) turns invalid. The valid
// one, left alone in its group, used to take the plain key: the plain key was updated to the
// larger amount while the "|2" key kept it too (the window was incomplete, so nothing was
// deleted), and a payroll consumer summed the larger bonus twice and lost the smaller. Now
// the bonuses of a person with an invalid item without id are left out of the diff until the
// item is valid again: the topic keeps what it had, and the window stays partial.
func TestRunTwinBonusInvalid(t *testing.T) {
	h := newHarnessOpts(t, personiotest.Options{Persons: 30, Seed: 42, OmitCompensationIDs: true, TwinBonuses: 2})
	want := h.expected()

	// A pair of twins with different amounts: break the smaller one.
	type group struct{ person, typ, from, interval string }
	pairs := map[group][]personio.Compensation{}
	for _, c := range h.sim.Truth().Compensations {
		if c.ID == "" {
			g := group{c.Person.ID, c.Type.ID, c.EffectiveFrom, c.Interval}
			pairs[g] = append(pairs[g], c)
		}
	}
	var (
		broken  group
		smaller personio.Decimal
	)
	for g, cs := range pairs {
		if len(cs) != 2 || cs[0].Amount.Value == cs[1].Amount.Value {
			continue
		}
		a, _ := new(big.Rat).SetString(string(cs[0].Amount.Value))
		b, _ := new(big.Rat).SetString(string(cs[1].Amount.Value))
		broken, smaller = g, cs[0].Amount.Value
		if b.Cmp(a) < 0 {
			smaller = cs[1].Amount.Value
		}
		break
	}
	if smaller == "" {
		t.Fatal("no pair of twin bonuses with different amounts")
	}
	breaking := false
	tampered := &tamperSource{Source: h.client, compensations: func(cs []personio.Compensation) []personio.Compensation {
		for i, c := range cs {
			if breaking && c.ID == "" && (group{c.Person.ID, c.Type.ID, c.EffectiveFrom, c.Interval}) == broken && c.Amount.Value == smaller {
				cs[i].Amount.Value = "1.234,56" // not a number: this item is invalid
			}
		}
		return cs
	}}
	r := h.runner(func(c *Config) { c.Source = tampered })
	if res := run(t, r, Full); res.Outcome != Complete {
		t.Fatalf("full sync outcome %s, want complete", res.Outcome)
	}
	before := h.replay(change.Compensations)
	breaking = true
	res := run(t, r, Full)
	if res.Outcome != Partial {
		t.Errorf("sync with an invalid twin: outcome %s, want partial", res.Outcome)
	}
	if ops := newOps(before, h.replay(change.Compensations)); len(ops) != 0 {
		t.Errorf("sync with an invalid twin published %v, want nothing (the plain key must not take the other twin's amount)", ops)
	}
	h.checkTopics(want)

	// Valid again: nothing to publish, the topic still holds both bonuses.
	breaking = false
	res = run(t, r, Full)
	if res.Outcome != Complete || res.Published() != 0 {
		t.Errorf("sync after the fix: outcome %s, %d published, want complete and nothing", res.Outcome, res.Published())
	}
	h.checkTopics(want)

	// The smaller twin is on a page that never arrives: the listing of its month fails after
	// the other twin was listed. The same holds: the other twin does not take its key.
	losing := &pageLossSource{Source: h.client, drop: func(c personio.Compensation) bool {
		return c.ID == "" && (group{c.Person.ID, c.Type.ID, c.EffectiveFrom, c.Interval}) == broken && c.Amount.Value == smaller
	}}
	before = h.replay(change.Compensations)
	res = run(t, h.runner(func(c *Config) { c.Source = losing }), Full)
	if res.Outcome != Partial {
		t.Errorf("sync with a lost page: outcome %s, want partial", res.Outcome)
	}
	if ops := newOps(before, h.replay(change.Compensations)); len(ops) != 0 {
		t.Errorf("sync with a lost page published %v, want nothing", ops)
	}
	h.checkTopics(want)
}

// pageLossSource lists compensations without the items drop selects, and fails the listing
// that had one (as a page lost after its retries).
type pageLossSource struct {
	extract.Source
	drop func(personio.Compensation) bool
}

func (s *pageLossSource) ListCompensations(ctx context.Context, f personio.CompensationFilter, fn func([]personio.Compensation) error) error {
	dropped := false
	err := s.Source.ListCompensations(ctx, f, func(page []personio.Compensation) error {
		kept := page[:0:0]
		for _, c := range page {
			if s.drop(c) {
				dropped = true
				continue
			}
			kept = append(kept, c)
		}
		return fn(kept)
	})
	if err == nil && dropped {
		err = errors.New("a page was lost")
	}
	return err
}
