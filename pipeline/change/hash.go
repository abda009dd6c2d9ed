package change

import (
	"errors"
	"fmt"
)

// ContentHash returns the content hash of a record: the sha256 of its Avro encoding
// (AppendRecord) without the volatile fields, updated_at of the person and of its
// employments. Two records with the same content hash are the same for payroll: they would
// be published as the same bytes but for updated_at, so a change of updated_at alone is no
// change. Decimals count by value (1.5 and 1.50 encode alike) and instants to the
// millisecond, as the topic carries them.
//
// The hash is never persisted: it is recomputed by this code from the records in the topic,
// so a change of the encoding can never make an old hash look different.
// TestContentHashCoversEveryField fails when a field of the records does not reach it.
func ContentHash(r Record) (Hash, error) {
	switch x := r.(type) {
	case *Person:
		if x == nil {
			return Hash{}, errors.New("change: cannot hash a nil person")
		}
	case *EmploymentRecord:
		if x == nil {
			return Hash{}, errors.New("change: cannot hash a nil employment")
		}
	case *Compensation:
		if x == nil {
			return Hash{}, errors.New("change: cannot hash a nil compensation")
		}
		if x.Amount == nil {
			return Hash{}, errors.New("change: hash compensations record: amount is required")
		}
	default:
		return Hash{}, fmt.Errorf("change: cannot hash %T", r)
	}
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	b, h, err := AppendRecordHash((*buf)[:0], r)
	if cap(b) <= maxHashBuffer {
		*buf = b
	}
	return h, err
}
