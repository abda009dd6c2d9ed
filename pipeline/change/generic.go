package change

import (
	"crypto/sha256"
	"fmt"
	"reflect"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// schemaEncoder encodes the records that have no hand-written encoder (EmploymentRecord)
// straight from their record schema, with the codec's decimal guard.
var schemaEncoder = codec.New(nil)

// bySchema reports whether r is encoded from its schema rather than by hand.
func bySchema(r Record) bool {
	_, ok := r.(*EmploymentRecord)
	return ok
}

// appendBySchema appends the Avro binary encoding of r with its entity's record schema.
func appendBySchema(dst []byte, r Record) ([]byte, error) {
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && v.IsNil() {
		return dst, fmt.Errorf("change: encode %s record: nil record", r.Entity())
	}
	s, err := RecordSchema(r.Entity())
	if err != nil {
		return dst, err
	}
	out, err := schemaEncoder.AppendRecord(dst, s, r)
	if err != nil {
		return dst, fmt.Errorf("change: encode %s record: %w", r.Entity(), err)
	}
	return out, nil
}

// appendBySchemaHash is appendBySchema that also returns the content hash: the sha256 of the
// encoding of a copy of r whose volatile fields (diff:"volatile", updated_at) are null, so
// that a change of them alone is no change.
func appendBySchemaHash(dst []byte, r Record) ([]byte, Hash, error) {
	out, err := appendBySchema(dst, r)
	if err != nil {
		return dst, Hash{}, err
	}
	stable := reflect.New(reflect.TypeOf(r).Elem())
	stable.Elem().Set(reflect.ValueOf(r).Elem())
	t := stable.Elem().Type()
	for i := range t.NumField() {
		if hasOpt(t.Field(i).Tag.Get("diff"), "volatile") {
			stable.Elem().Field(i).SetZero()
		}
	}
	b, err := appendBySchema(nil, stable.Interface().(Record))
	if err != nil {
		return dst, Hash{}, err
	}
	return out, sha256.Sum256(b), nil
}
