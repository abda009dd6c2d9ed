package change

import (
	"slices"
	"strings"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Items are what one listing sent, as Personio sent it, on the way to normal form: the
// items of an extract.Snapshot. Each entity has its Items type (PersonItems,
// CompensationItems); Normalize holds whatever a listing of that entity needs beyond putting
// one item into normal form (numbering twins, holding back items of an incomplete listing).
type Items interface {
	// Entity names the entity of the items.
	Entity() Entity
	// Len is the number of items listed.
	Len() int
	// Normalize puts the items into normal form with n (and its policy) and hands each
	// record to add, in listing order. complete says whether the listing finished without
	// error. An item that cannot be put into normal form, or that add refuses with an error,
	// is skipped and counted; the caller makes its scope incomplete, so that nothing is
	// deleted for it.
	Normalize(n *Normalizer, complete bool, add func(Record) error) Skipped
}

// Skipped is what Normalize could not put into normal form (or add refused).
type Skipped struct {
	N     int   // items skipped
	First error // why the first was
	// Scopes are the listing scopes of the skipped items when the items tell them (an
	// employment: its person's, see ScopeName); empty: the whole listing's scope.
	Scopes []string
}

// add counts one skipped item of scope ("" when the items do not tell it).
func (s *Skipped) add(err error, scope string) {
	s.N++
	if s.First == nil {
		s.First = err
	}
	if scope != "" && !slices.Contains(s.Scopes, scope) {
		s.Scopes = append(s.Scopes, scope)
	}
}

// ListedPerson is a listed person with the employments listed for it. EmploymentList is nil
// when the employments were not read: the person then carries its employments as the ids of
// Person.Employments only.
type ListedPerson struct {
	personio.Person
	EmploymentList []personio.Employment
}

// PersonItems are the items of a persons listing.
type PersonItems []ListedPerson

// Entity implements Items.
func (PersonItems) Entity() Entity { return Persons }

// Len implements Items.
func (ps PersonItems) Len() int { return len(ps) }

// Normalize implements Items: each person through n.Person.
func (ps PersonItems) Normalize(n *Normalizer, _ bool, add func(Record) error) (skipped Skipped) {
	for _, p := range ps {
		rec, err := n.Person(p.Person, p.EmploymentList)
		if err == nil {
			err = add(rec)
		}
		if err != nil {
			skipped.add(err, "")
		}
	}
	return skipped
}

// CompensationItems are the items of a compensation listing (one month window).
type CompensationItems []personio.Compensation

// Entity implements Items.
func (CompensationItems) Entity() Entity { return Compensations }

// Len implements Items.
func (cs CompensationItems) Len() int { return len(cs) }

// Normalize implements Items. Items without Personio id that share the composite key are told
// apart by content (NumberCompensations), so an item without id of a person with an invalid
// item without id, or of an incomplete listing, is held back: it would be numbered without
// the item that is missing, and its key could take the content of its twin. The key keeps its
// state until the window lists completely and valid again. The policy applies once the
// identity is settled: a key never depends on it.
func (cs CompensationItems) Normalize(n *Normalizer, complete bool, add func(Record) error) (skipped Skipped) {
	recs := make([]*Compensation, 0, len(cs))
	// held: persons with an invalid item without Personio id ("" for one without person
	// id, or a listing that failed: every person).
	var held map[string]bool
	if !complete {
		held = map[string]bool{"": true}
	}
	for _, c := range cs {
		rec, err := NewCompensation(c)
		if err != nil {
			skipped.add(err, "")
			if strings.TrimSpace(c.ID) == "" {
				if held == nil {
					held = map[string]bool{}
				}
				held[strings.TrimSpace(c.Person.ID)] = true
			}
			continue
		}
		recs = append(recs, rec)
	}
	NumberCompensations(recs)
	for _, rec := range recs {
		if rec.PersonioID == nil && (held[""] || held[rec.PersonID]) {
			continue
		}
		n.Policy().Apply(rec)
		if err := add(rec); err != nil {
			skipped.add(err, "")
		}
	}
	return skipped
}

// PersonEmployments is the employment listing of one person
// (GET /v2/persons/{person_id}/employments): what it returned, in listing order.
type PersonEmployments struct {
	PersonID    string
	Employments []personio.Employment
}

// EmploymentItems are the items of an employments listing: one listing per person, each its
// own scope (ScopeName(Employments, person id)).
type EmploymentItems []PersonEmployments

// Entity implements Items.
func (EmploymentItems) Entity() Entity { return Employments }

// Len implements Items: the employments listed.
func (es EmploymentItems) Len() int {
	n := 0
	for _, p := range es {
		n += len(p.Employments)
	}
	return n
}

// Normalize implements Items: each employment through NewEmployment with the person whose
// listing returned it, then the policy. A skipped employment makes its person's scope
// incomplete, not the others'.
func (es EmploymentItems) Normalize(n *Normalizer, _ bool, add func(Record) error) (skipped Skipped) {
	for _, p := range es {
		for _, item := range p.Employments {
			rec, err := NewEmployment(p.PersonID, item)
			if err == nil {
				n.Policy().Apply(rec)
				err = add(rec)
			}
			if err != nil {
				skipped.add(err, ScopeName(Employments, strings.TrimSpace(p.PersonID)))
			}
		}
	}
	return skipped
}
