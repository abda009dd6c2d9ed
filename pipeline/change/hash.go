package change

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"
)

// ContentHash returns the content hash of a record: the sha256 of an unambiguous binary
// serialisation of every content field in the order of the Avro schema (strings length-
// prefixed, optional values with a presence byte, lists with their length, instants and dates
// as Unix milliseconds, decimals by value), without the volatile fields (updated_at of the
// person and of its employments). Two records with the same content hash are the same for
// payroll: a change of updated_at alone is no change.
//
// The serialisation is written by hand rather than by the Avro encoder because the hash is
// computed for every listed record on every sync; TestContentHashCoversEveryField fails when
// a field of the records is not hashed. The hash is never persisted: it is recomputed by this
// code from the records in the topic, so a change of the serialisation can never make an old
// hash look different.
func ContentHash(r Record) (Hash, error) {
	h := hashers.Get().(*hasher)
	defer hashers.Put(h)
	h.b = h.b[:0]
	switch x := r.(type) {
	case *Person:
		if x == nil {
			return Hash{}, errors.New("change: cannot hash a nil person")
		}
		h.str(string(Persons))
		h.person(x)
	case *Compensation:
		if x == nil {
			return Hash{}, errors.New("change: cannot hash a nil compensation")
		}
		if x.Amount == nil {
			return Hash{}, errors.New("change: hash compensations record: amount is required")
		}
		h.str(string(Compensations))
		h.compensation(x)
	default:
		return Hash{}, fmt.Errorf("change: cannot hash %T", r)
	}
	return Hash(sha256.Sum256(h.b)), nil
}

var hashers = sync.Pool{New: func() any { return &hasher{b: make([]byte, 0, 4096)} }}

// hasher appends the serialisation of a record to b.
type hasher struct{ b []byte }

func (h *hasher) n(v int) { h.b = binary.AppendUvarint(h.b, uint64(v)) }
func (h *hasher) present(ok bool) {
	if ok {
		h.b = append(h.b, 1)
	} else {
		h.b = append(h.b, 0)
	}
}

func (h *hasher) str(s string) {
	h.n(len(s))
	h.b = append(h.b, s...)
}

func (h *hasher) ostr(s *string) {
	if s == nil {
		h.b = append(h.b, 0)
		return
	}
	h.b = append(h.b, 1)
	h.str(*s)
}

func (h *hasher) time(t time.Time) { h.b = binary.AppendVarint(h.b, t.UnixMilli()) }

func (h *hasher) otime(t *time.Time) {
	if t == nil {
		h.b = append(h.b, 0)
		return
	}
	h.b = append(h.b, 1)
	h.time(*t)
}

// rat writes a decimal by value: big.Rat keeps numerator and denominator in lowest terms.
func (h *hasher) rat(r *big.Rat) {
	start := len(h.b)
	h.b = append(h.b, 0) // length of the text, patched below when it fits one byte
	if num, den := r.Num(), r.Denom(); num.IsInt64() && den.IsInt64() {
		// The same text as big.Int.Append, without its scratch buffer.
		h.b = strconv.AppendInt(h.b, num.Int64(), 16)
		h.b = append(h.b, '/')
		h.b = strconv.AppendInt(h.b, den.Int64(), 16)
	} else {
		h.b = num.Append(h.b, 16)
		h.b = append(h.b, '/')
		h.b = den.Append(h.b, 16)
	}
	if n := len(h.b) - start - 1; n < 0x80 {
		h.b[start] = byte(n)
	} else {
		text := append([]byte(nil), h.b[start+1:]...)
		h.b = binary.AppendUvarint(h.b[:start], uint64(n))
		h.b = append(h.b, text...)
	}
}

func (h *hasher) orat(r **big.Rat) {
	if r == nil || *r == nil {
		h.b = append(h.b, 0)
		return
	}
	h.b = append(h.b, 1)
	h.rat(*r)
}

func (h *hasher) person(p *Person) {
	h.str(p.ID)
	h.ostr(p.Email)
	h.ostr(p.FirstName)
	h.ostr(p.LastName)
	h.ostr(p.PreferredName)
	h.ostr(p.Gender)
	h.ostr(p.Status)
	h.ostr(p.ProfilePictureURL)
	h.otime(p.CreatedAt)
	// UpdatedAt is volatile.
	h.n(len(p.CustomAttributes))
	for i := range p.CustomAttributes {
		a := &p.CustomAttributes[i]
		h.str(a.ID)
		h.ostr(a.GlobalID)
		h.ostr(a.Label)
		h.ostr(a.Type)
		h.ostr(a.ValueJSON)
	}
	h.n(len(p.Employments))
	for i := range p.Employments {
		h.employment(&p.Employments[i])
	}
}

func (h *hasher) employment(e *Employment) {
	h.str(e.ID)
	h.ostr(e.Status)
	h.ostr(e.Type)
	h.ostr(e.PositionTitle)
	h.otime(e.StartDate)
	h.otime(e.EndDate)
	h.otime(e.ProbationEndDate)
	h.otime(e.ContractEndDate)
	h.orat(e.WeeklyWorkingHours)
	h.orat(e.FullTimeWeeklyWorkingHours)
	h.ostr(e.SupervisorID)
	h.ostr(e.OfficeID)
	h.ostr(e.LegalEntityID)
	h.ostr(e.SubCompanyID)
	h.ostr(e.JobID)
	h.n(len(e.OrgUnits))
	for _, u := range e.OrgUnits {
		h.str(u.ID)
		h.ostr(u.Type)
	}
	h.n(len(e.CostCenters))
	for _, c := range e.CostCenters {
		h.str(c.ID)
		h.orat(c.Weight)
	}
	h.present(e.Termination != nil)
	if t := e.Termination; t != nil {
		h.otime(t.TerminationDate)
		h.otime(t.LastWorkingDay)
		h.otime(t.TerminatedAt)
		h.ostr(t.Type)
		h.ostr(t.Reason)
	}
	h.otime(e.CreatedAt)
	// UpdatedAt is volatile.
}

func (h *hasher) compensation(c *Compensation) {
	h.str(c.ID)
	h.ostr(c.PersonioID)
	h.str(c.PersonID)
	h.ostr(c.LegalEntityID)
	h.ostr(c.TypeID)
	h.ostr(c.TypeName)
	h.ostr(c.TypeCategory)
	h.rat(c.Amount)
	h.str(c.Currency)
	h.time(c.EffectiveFrom)
	h.ostr(c.Interval)
	h.orat(c.WeeklyWorkingHours)
	h.orat(c.FullTimeWeeklyWorkingHours)
}
