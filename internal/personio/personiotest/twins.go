package personiotest

import (
	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// twinPair is two bonuses of one person with the same type, effective day and interval: without
// Personio ids (Options.OmitCompensationIDs) they share the composite identity
// person|type|effective_from|interval, and only their content tells them apart.
type twinPair struct {
	person *personRec
	first  *compRec // listed first
	second *compRec
}

// addTwinBonuses gives n active persons (earliest hires first) two performance bonuses
// effective on the first day of the current month. Pair k (from 0) has different amounts, the
// first listed the larger, when k is even, and two identical items when k is odd.
func (d *dataset) addTwinBonuses(n int) {
	cur := monthStart(d.anchor)
	for _, p := range d.persons {
		if len(d.twins) == n {
			return
		}
		e := p.currentEmployment()
		if !isActive(p) || parseDate(e.e.EmploymentStartDate).After(cur) {
			continue
		}
		small := int64(d.fake.IntRange(300, 900)) * 100
		large := small
		if len(d.twins)%2 == 0 {
			large = int64(d.fake.IntRange(1500, 4000))*100 + 50
		}
		first := d.addComp(p, e, typeBonus, large, cur, "ONE_TIME")
		second := d.addComp(p, e, typeBonus, small, cur, "ONE_TIME")
		d.twins = append(d.twins, twinPair{person: p, first: first, second: second})
	}
}

// changeTwinBonuses raises the first listed bonus of up to n twin pairs whose person is still
// there by 100, which keeps it the larger of its pair; it returns the persons' ids.
func (d *dataset) changeTwinBonuses(n int) []string {
	var ids []string
	for _, tw := range d.twins {
		if len(ids) == n {
			break
		}
		if d.byID[tw.person.p.ID] != tw.person {
			continue // deleted
		}
		cents := parseCents(string(tw.first.c.Amount.Value)) + 100*100
		tw.first.c.Amount.Value = personio.Decimal(centsText(cents))
		tw.first.encode()
		ids = append(ids, tw.person.p.ID)
	}
	return ids
}
