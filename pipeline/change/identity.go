package change

import (
	"bytes"
	"slices"
	"strconv"
)

// NumberCompensations makes the identity of compensations without a Personio id total. Such a
// compensation is identified by the composite key person|type|effective_from|interval
// (CompensationID), which two bonuses of one type on one day share. Within each group of
// records without Personio id that share it, ordered by content — amount ascending, then
// content hash —, the first keeps the composite key and the k-th (k ≥ 2) gets "|k" appended.
// Identities do not depend on listing order, a lone item keeps the plain composite key (the
// key it always had), and a change to one item of a group updates keys in place: the number
// of keys changes only when the number of items does, so a consumer sees updates, never a
// delete and a create for a changed amount (one update while the order holds, one per key
// whose item moved when it does not). recs must be the complete listing of the groups they
// hold (one compensation window); records with a Personio id are left alone.
func NumberCompensations(recs []*Compensation) {
	groups := map[string][]*Compensation{}
	for _, r := range recs {
		if r == nil || r.PersonioID != nil {
			continue
		}
		groups[r.ID] = append(groups[r.ID], r)
	}
	for key, g := range groups {
		if len(g) < 2 {
			continue
		}
		hashes := make(map[*Compensation]Hash, len(g))
		for _, r := range g {
			h, _ := ContentHash(r) // amounts are set: NewCompensation requires them
			hashes[r] = h
		}
		slices.SortStableFunc(g, func(a, b *Compensation) int {
			if a.Amount != nil && b.Amount != nil {
				if c := a.Amount.Cmp(b.Amount); c != 0 {
					return c
				}
			}
			ha, hb := hashes[a], hashes[b]
			return bytes.Compare(ha[:], hb[:])
		})
		for i, r := range g[1:] {
			r.ID = key + "|" + strconv.Itoa(i+2)
		}
	}
}
