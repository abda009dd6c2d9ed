package personiotest

import (
	"reflect"
	"testing"
)

// Options.TwinBonuses makes pairs of bonuses that only their content tells apart once ids are
// omitted; Churn.TwinBonusChanges changes one of a pair. Without it the data are unchanged.
func TestTwinBonuses(t *testing.T) {
	opts := fixed(40, 5)
	opts.OmitCompensationIDs = true
	plain := NewTruth(t, opts)
	opts.TwinBonuses = 3
	tr := NewTruth(t, opts)
	if len(tr.Compensations) != len(plain.Compensations)+6 || !reflect.DeepEqual(tr.Persons, plain.Persons) ||
		!reflect.DeepEqual(tr.Compensations[:len(plain.Compensations)], plain.Compensations) {
		t.Fatalf("%d compensations, want the %d without twins + 6, persons unchanged", len(tr.Compensations), len(plain.Compensations))
	}
	type key struct{ person, typ, eff, interval string }
	groups := map[key][]string{}
	for _, c := range tr.Compensations {
		if c.ID != "" {
			t.Fatalf("compensation with id %q although ids are omitted", c.ID)
		}
		k := key{c.Person.ID, c.Type.ID, c.EffectiveFrom, c.Interval}
		groups[k] = append(groups[k], string(c.Amount.Value))
	}
	var twins [][]string
	for _, amounts := range groups {
		if len(amounts) > 1 {
			twins = append(twins, amounts)
		}
	}
	if len(twins) != 3 {
		t.Fatalf("%d colliding groups, want 3: %v", len(twins), twins)
	}
	identical := 0
	for _, a := range twins {
		if len(a) != 2 {
			t.Fatalf("group of %d, want pairs: %v", len(a), twins)
		}
		if a[0] == a[1] {
			identical++
		}
	}
	if identical != 1 {
		t.Errorf("%d identical pairs, want 1 (the second): %v", identical, twins)
	}

	s := NewTestServer(t, opts)
	tr = s.Truth()
	res := s.Churn(Churn{TwinBonusChanges: 1})
	if len(res.TwinBonusChanges) != 1 {
		t.Fatalf("churn changed %v", res.TwinBonusChanges)
	}
	after := s.Truth()
	changed := 0
	for i := range after.Compensations {
		if after.Compensations[i].Amount != tr.Compensations[i].Amount {
			changed++
			if after.Compensations[i].Person.ID != res.TwinBonusChanges[0] {
				t.Errorf("changed a compensation of %s, churn names %s", after.Compensations[i].Person.ID, res.TwinBonusChanges[0])
			}
		}
	}
	if changed != 1 {
		t.Fatalf("%d compensations changed, want 1", changed)
	}
}
