package codec

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"
)

// An envelope carries records that are already encoded: the content hash is taken over a
// record's encoding, and the state keeps it. AppendSpliced writes such an envelope without
// encoding its records again: the envelope is encoded as usual with those fields null, and
// the records' bytes are put in their place.

// Spliced names a field of an envelope that AppendSpliced writes from bytes: a nullable union
// ["null", record] at the top level of the envelope's schema. Data is the record's encoding
// with the union's record schema (nil for null).
type Spliced struct {
	Field string
	Data  []byte
}

// splicePlans caches the plan of each envelope schema.
var splicePlans sync.Map // [32]byte (schema fingerprint) → *stripNode

// AppendSpliced is AppendEncode of v, an envelope whose fields named in spliced hold nil,
// with those fields written from the spliced records' bytes (the non-null branch of the
// union, then the bytes as given). The bytes must be encodings of the branch's schema made
// with the decimal guard (AppendRecord): they are not checked again. On error dst is
// returned unchanged.
func (c *Codec) AppendSpliced(dst []byte, id int, schema avro.Schema, v any, spliced ...Spliced) ([]byte, error) {
	var plan *stripNode
	if p, ok := splicePlans.Load(schema.CacheFingerprint()); ok {
		plan = p.(*stripNode)
	} else {
		p, err := planStrip(schema, "", map[string]bool{}, map[string]*stripNode{})
		if err != nil {
			return dst, err
		}
		if p.typ != avro.Record {
			return dst, fmt.Errorf("codec: splice: %s is not a record", schema.Type())
		}
		splicePlans.Store(schema.CacheFingerprint(), p)
		plan = p
	}
	w := c.writers.Get().(*avro.Writer)
	defer c.writers.Put(w)
	w.Reset(nil)
	w.Error = nil
	if err := CheckDecimals(schema, v); err != nil {
		return dst, err
	}
	w.WriteVal(schema, v)
	if err := w.Error; err != nil {
		w.Error = nil
		return dst, fmt.Errorf("codec: encode: %w", err)
	}
	body := w.Buffer()
	out := AppendHeader(dst, id)
	for i, f := range plan.fields {
		var sp *Spliced
		for k := range spliced {
			if spliced[k].Field == plan.names[i] {
				sp = &spliced[k]
			}
		}
		if sp == nil { // the field as encoded, block sizes included
			_, rest, err := f.copy(nil, body, false)
			if err != nil {
				return dst, err
			}
			out, body = append(out, body[:len(body)-len(rest)]...), rest
			continue
		}
		branch := -1
		for b, t := range f.elems {
			if t.typ == avro.Record {
				branch = b
			}
		}
		if f.typ != avro.Union || len(f.elems) != 2 || branch < 0 || f.elems[1-branch].typ != avro.Null {
			return dst, fmt.Errorf("codec: splice: field %s is not a nullable record", sp.Field)
		}
		if len(body) == 0 || body[0] != byte(2*(1-branch)) {
			return dst, fmt.Errorf("codec: splice: field %s of the value is not null", sp.Field)
		}
		body = body[1:]
		if sp.Data == nil {
			out = binary.AppendVarint(out, int64(1-branch))
			continue
		}
		out = append(binary.AppendVarint(out, int64(branch)), sp.Data...)
	}
	if len(body) != 0 {
		return dst, fmt.Errorf("codec: splice: %d bytes after the value", len(body))
	}
	return out, nil
}
