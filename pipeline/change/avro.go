package change

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"sync"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// A record is encoded from its record schema alone: the codec (hamba/avro behind
// internal/codec) writes the struct by its `avro` tags, after its decimal guard (a value the
// schema cannot hold exactly is an error, never rounded). A new record type needs its struct
// and its schema, no encoder of its own.

// recordCodec encodes records; it needs no registry.
var recordCodec = codec.New(nil)

// AppendRecord appends the Avro binary encoding of r with its entity's record schema (no wire
// header) to dst. On error dst is returned unchanged.
func AppendRecord(dst []byte, r Record) ([]byte, error) {
	if r == nil {
		return dst, fmt.Errorf("change: encode record: nil record")
	}
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && v.IsNil() {
		return dst, fmt.Errorf("change: encode %s record: nil record", r.Entity())
	}
	s, err := RecordSchema(r.Entity())
	if err != nil {
		return dst, err
	}
	out, err := recordCodec.AppendRecord(dst, s, r)
	if err != nil {
		return dst, fmt.Errorf("change: encode %s record: %w", r.Entity(), err)
	}
	return out, nil
}

// AppendRecordHash is AppendRecord that also returns the record's content hash (ContentHash),
// computed from the same encoding.
func AppendRecordHash(dst []byte, r Record) ([]byte, Hash, error) {
	start := len(dst)
	out, err := AppendRecord(dst, r)
	if err != nil {
		return dst, Hash{}, err
	}
	h, err := hashOf(r, out[start:])
	if err != nil {
		return dst, Hash{}, err
	}
	return out, h, nil
}

// hashOf is the content hash of r from its encoding data: the sha256 of data without the
// volatile fields (diff:"volatile": updated_at) and without the byte sizes of array blocks,
// which depend on them (codec.Stripper). What is left is itself an Avro encoding, so two
// records hash alike exactly when their encodings, and so their published values, agree on
// every content field.
func hashOf(r Record, data []byte) (Hash, error) {
	s, err := stripperOf(r)
	if err != nil {
		return Hash{}, err
	}
	if s.Same() {
		return sha256.Sum256(data), nil
	}
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	c, err := s.Append((*buf)[:0], data)
	if err != nil {
		return Hash{}, fmt.Errorf("change: hash %s record: %w", r.Entity(), err)
	}
	if cap(c) <= maxHashBuffer {
		*buf = c
	}
	return sha256.Sum256(c), nil
}

const maxHashBuffer = 64 << 10

// hashBuffers hold the content left for the hash.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

type stripperKey struct {
	entity Entity
	typ    reflect.Type
}

type stripperResult struct {
	s   *codec.Stripper
	err error
}

// strippers holds the Stripper of each record type, made once.
var strippers sync.Map // stripperKey → stripperResult

func stripperOf(r Record) (*codec.Stripper, error) {
	k := stripperKey{r.Entity(), reflect.TypeOf(r)}
	if v, ok := strippers.Load(k); ok {
		return v.(stripperResult).s, v.(stripperResult).err
	}
	schema, err := RecordSchema(r.Entity())
	if err != nil {
		return nil, err
	}
	s, err := codec.NewStripper(schema, volatilePaths(k.typ, "")...)
	if err != nil {
		err = fmt.Errorf("change: %s record: %w", r.Entity(), err)
	}
	strippers.Store(k, stripperResult{s, err})
	return s, err
}

// volatilePaths returns the Avro dot paths of the fields of a record type tagged
// diff:"volatile", through nested records and lists.
func volatilePaths(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType || t == ratType {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("avro")
		if !ok {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		if hasOpt(f.Tag.Get("diff"), "volatile") {
			out = append(out, name)
			continue
		}
		out = append(out, volatilePaths(f.Type, name)...)
	}
	return out
}
