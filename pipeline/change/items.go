package change

import (
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
	// is counted as invalid and the first such error returned; the caller makes the scope
	// incomplete, so that nothing is deleted for it.
	Normalize(n *Normalizer, complete bool, add func(Record) error) (invalid int, first error)
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
func (ps PersonItems) Normalize(n *Normalizer, _ bool, add func(Record) error) (invalid int, first error) {
	for _, p := range ps {
		rec, err := n.Person(p.Person, p.EmploymentList)
		if err == nil {
			err = add(rec)
		}
		if err != nil {
			invalid++
			first = firstError(first, err)
		}
	}
	return invalid, first
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
func (cs CompensationItems) Normalize(n *Normalizer, complete bool, add func(Record) error) (invalid int, first error) {
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
			invalid++
			first = firstError(first, err)
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
			invalid++
			first = firstError(first, err)
		}
	}
	return invalid, first
}

func firstError(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
