package change

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// The records are encoded by hand rather than through hamba/avro's reflection: every listed
// record is encoded on every sync (its content hash is taken over the encoding), so this is
// the differ's hot path. The output is byte for byte what hamba/avro writes for the record
// schemas of schemas/*.avsc (TestRecordEncodingMatchesHamba and FuzzRecordEncoding hold it
// to that over the simulator's data and random records); decimals keep the codec's guard
// (codec.AppendDecimal): a value the schema cannot hold exactly is an error, never rounded.

// AppendRecord appends the Avro binary encoding of r with its entity's record schema (no wire
// header) to dst. On error dst is returned unchanged.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	if bySchema(r) {
		return appendBySchema(dst, r)
	}
	e := recordEncoder{b: dst, emp: -1}
	if err := e.record(r); err != nil {
		return dst, err
	}
	return e.b, nil
}

// AppendRecordHash is AppendRecord that also returns the record's content hash (ContentHash),
// computed from the same encoding.
func AppendRecordHash(dst []byte, r Record) ([]byte, Hash, error) {
	if bySchema(r) {
		return appendBySchemaHash(dst, r)
	}
	e := hashEncoders.Get().(*recordEncoder)
	defer func() {
		*e = recordEncoder{volatile: e.volatile[:0]}
		hashEncoders.Put(e)
	}()
	e.b, e.track, e.emp = dst, true, -1
	start := len(dst)
	if err := e.record(r); err != nil {
		return dst, Hash{}, err
	}
	return e.b, e.hash(start), nil
}

// hashEncoders keep the volatile-field notes of AppendRecordHash between calls.
var hashEncoders = sync.Pool{New: func() any { return &recordEncoder{volatile: make([]span, 0, 8)} }}

// span is a byte range [from, to) of an encoding.
type span struct{ from, to int }

// recordEncoder appends one record to b. It notes where the volatile fields were written so
// that the content hash can leave them out.
type recordEncoder struct {
	b        []byte
	track    bool      // note the volatile fields
	volatile []span    // where they are, in order, when track
	emp, cc  int    // the employment and cost center being written, for error paths
	err      error
}

// blockLength is the number of array items per block, as hamba/avro writes them by default.
const blockLength = envelopeBlockLength

func (e *recordEncoder) record(r Record) error {
	switch x := r.(type) {
	case *Person:
		if x == nil {
			return errors.New("change: encode persons record: nil record")
		}
		e.person(x)
	case *Compensation:
		if x == nil {
			return errors.New("change: encode compensations record: nil record")
		}
		if x.Amount == nil {
			return errors.New("change: encode compensations record: amount is required")
		}
		e.compensation(x)
	default:
		return fmt.Errorf("change: cannot encode %T", r)
	}
	if e.err != nil {
		return fmt.Errorf("change: encode %s record: %w", r.Entity(), e.err)
	}
	return nil
}

// hash is the content hash of the record encoded from start: sha256 of the encoding without
// the volatile fields and without the byte sizes of array blocks (which depend on them). What
// is left is itself an Avro encoding (of the schema without those fields, blocks with their
// item counts only), so it is unambiguous: two records hash alike exactly when their
// encodings, and so their published values, agree on every content field.
func (e *recordEncoder) hash(start int) Hash {
	if len(e.volatile) == 0 {
		return sha256.Sum256(e.b[start:])
	}
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	c := (*buf)[:0]
	at := start
	for _, s := range e.volatile {
		c = append(c, e.b[at:s.from]...)
		at = s.to
	}
	c = append(c, e.b[at:]...)
	if cap(c) <= maxHashBuffer {
		*buf = c
	}
	return sha256.Sum256(c)
}

const maxHashBuffer = 64 << 10

// hashBuffers hold the content left for the hash, and the encodings ContentHash makes.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (e *recordEncoder) long(v int64) { e.b = appendLong(e.b, v) }
func (e *recordEncoder) str(s string) { e.b = appendString(e.b, s) }

// Union branches of the ["null", T] fields.
func (e *recordEncoder) null()    { e.b = append(e.b, 0) }
func (e *recordEncoder) present() { e.b = append(e.b, 2) }

func (e *recordEncoder) ostr(s *string) {
	if s == nil {
		e.null()
		return
	}
	e.present()
	e.str(*s)
}

// millis is a timestamp-millis as hamba/avro computes it.
func (e *recordEncoder) millis(t time.Time) { e.b = appendMillis(e.b, t) }

func (e *recordEncoder) omillis(t *time.Time) {
	if t == nil {
		e.null()
		return
	}
	e.present()
	e.millis(*t)
}

// odate is a nullable date: whole days since the epoch, as hamba/avro computes them.
func (e *recordEncoder) odate(t *time.Time) {
	if t == nil {
		e.null()
		return
	}
	e.present()
	e.long(int64(int32(t.Unix() / int64(24*time.Hour/time.Second))))
}

// volatileMillis writes a nullable timestamp that the content hash leaves out.
func (e *recordEncoder) volatileMillis(t *time.Time) {
	from := len(e.b)
	e.omillis(t)
	if e.track {
		e.volatile = append(e.volatile, span{from, len(e.b)})
	}
}

func (e *recordEncoder) decimal(field string, r *big.Rat, precision, scale int) {
	b, err := codec.AppendDecimal(e.b, r, precision, scale)
	if err != nil {
		if e.err == nil {
			var de *codec.DecimalError
			if errors.As(err, &de) {
				de.Path = e.fieldPath(field)
			}
			e.err = err
		}
		return
	}
	e.b = b
}

func (e *recordEncoder) odecimal(field string, r **big.Rat, precision, scale int) {
	if r == nil || *r == nil {
		e.null()
		return
	}
	e.present()
	e.decimal(field, *r, precision, scale)
}

func (e *recordEncoder) fieldPath(field string) string {
	if e.emp < 0 {
		return field
	}
	p := "employments[" + strconv.Itoa(e.emp) + "]."
	if field == "weight" {
		p += "cost_centers[" + strconv.Itoa(e.cc) + "]."
	}
	return p + field
}

// array writes an array of n items as hamba/avro does: blocks of at most blockLength items,
// each with its item count (negated) and byte size in front, then a closing zero. item writes
// the i-th item; when it reports false, array stops and reports false.
func (e *recordEncoder) array(n int, item func(i int) bool) bool {
	for i := 0; i < n; i += blockLength {
		end := min(i+blockLength, n)
		start, noted := e.blockStart()
		for j := i; j < end; j++ {
			if !item(j) {
				return false
			}
		}
		e.blockEnd(start, noted, end-i)
	}
	e.null() // closing zero
	return true
}

// blockStart opens a block of an array; blockEnd closes it, putting the header in front.
func (e *recordEncoder) blockStart() (start, noted int) { return len(e.b), len(e.volatile) }

func (e *recordEncoder) blockEnd(start, noted, items int) {
	size := len(e.b) - start
	var hb [2 * 10]byte
	h := appendLong(hb[:0], -int64(items))
	count := len(h)
	if size == 0 {
		h = appendLong(hb[:0], int64(items))
		count = len(h)
	} else {
		h = appendLong(h, int64(size))
	}
	e.b = append(e.b, h...)
	copy(e.b[start+len(h):], e.b[start:start+size])
	copy(e.b[start:], h)
	if !e.track {
		return
	}
	for k := noted; k < len(e.volatile); k++ {
		e.volatile[k].from += len(h)
		e.volatile[k].to += len(h)
	}
	// The block's byte size depends on the volatile fields inside it; the count and the
	// items determine the content.
	if count < len(h) {
		e.volatile = append(e.volatile, span{})
		copy(e.volatile[noted+1:], e.volatile[noted:])
		e.volatile[noted] = span{start + count, start + len(h)}
	}
}

func (e *recordEncoder) person(p *Person) {
	e.str(p.ID)
	e.ostr(p.Email)
	e.ostr(p.FirstName)
	e.ostr(p.LastName)
	e.ostr(p.PreferredName)
	e.ostr(p.Gender)
	e.ostr(p.Status)
	e.ostr(p.ProfilePictureURL)
	e.omillis(p.CreatedAt)
	e.volatileMillis(p.UpdatedAt)
	e.array(len(p.CustomAttributes), func(i int) bool {
		a := &p.CustomAttributes[i]
		e.str(a.ID)
		e.ostr(a.GlobalID)
		e.ostr(a.Label)
		e.ostr(a.Type)
		e.ostr(a.ValueJSON)
		return true
	})
	e.array(len(p.Employments), func(i int) bool {
		e.emp = i
		e.employment(&p.Employments[i])
		return true
	})
	e.emp = -1
}

func (e *recordEncoder) employment(m *Employment) {
	e.str(m.ID)
	e.ostr(m.Status)
	e.ostr(m.Type)
	e.ostr(m.PositionTitle)
	e.odate(m.StartDate)
	e.odate(m.EndDate)
	e.odate(m.ProbationEndDate)
	e.odate(m.ContractEndDate)
	e.odecimal("weekly_working_hours", m.WeeklyWorkingHours, HoursPrecision, HoursScale)
	e.odecimal("full_time_weekly_working_hours", m.FullTimeWeeklyWorkingHours, HoursPrecision, HoursScale)
	e.ostr(m.SupervisorID)
	e.ostr(m.OfficeID)
	e.ostr(m.LegalEntityID)
	e.ostr(m.SubCompanyID)
	e.ostr(m.JobID)
	e.array(len(m.OrgUnits), func(i int) bool {
		e.str(m.OrgUnits[i].ID)
		e.ostr(m.OrgUnits[i].Type)
		return true
	})
	e.array(len(m.CostCenters), func(i int) bool {
		e.cc = i
		e.str(m.CostCenters[i].ID)
		e.odecimal("weight", m.CostCenters[i].Weight, HoursPrecision, HoursScale)
		return true
	})
	if t := m.Termination; t == nil {
		e.null()
	} else {
		e.present()
		e.odate(t.TerminationDate)
		e.odate(t.LastWorkingDay)
		e.omillis(t.TerminatedAt)
		e.ostr(t.Type)
		e.ostr(t.Reason)
	}
	e.omillis(m.CreatedAt)
	e.volatileMillis(m.UpdatedAt)
}

func (e *recordEncoder) compensation(c *Compensation) {
	e.str(c.ID)
	e.ostr(c.PersonioID)
	e.str(c.PersonID)
	e.ostr(c.LegalEntityID)
	e.ostr(c.TypeID)
	e.ostr(c.TypeName)
	e.ostr(c.TypeCategory)
	e.decimal("amount", c.Amount, AmountPrecision, AmountScale)
	e.str(c.Currency)
	e.long(int64(int32(c.EffectiveFrom.Unix() / int64(24*time.Hour/time.Second))))
	e.ostr(c.Interval)
	e.odecimal("weekly_working_hours", c.WeeklyWorkingHours, HoursPrecision, HoursScale)
	e.odecimal("full_time_weekly_working_hours", c.FullTimeWeeklyWorkingHours, HoursPrecision, HoursScale)
}
