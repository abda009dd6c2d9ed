package codec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
)

// A Stripper copies Avro encodings of one schema without some of its fields and without the
// byte sizes of array and map blocks. What it leaves is itself an unambiguous encoding (of the
// schema without those fields, blocks with their item counts only), so two encodings strip
// alike exactly when they agree on every field kept: a content hash taken over it ignores the
// fields left out, and the block sizes, which depend on them. It is safe for concurrent use.
type Stripper struct {
	root *stripNode
	same bool // nothing to leave out: the encoding is what is left
}

// stripNode is the plan of one schema: for a record its fields (nil for one left out), for
// a union its branches, for an array or a map its items.
type stripNode struct {
	typ    avro.Type
	size   int          // fixed
	fields []*stripNode // record, in order
	names  []string     // record: the field names
	drop   []bool       // record: the field is left out
	elems  []*stripNode // union branches; array and map items at 0
}

// NewStripper plans the copy for schema, leaving out the fields at the dot paths drop
// (record field names from the root, through unions and arrays, e.g. "employments.updated_at").
// A path that names no field of the schema is an error.
func NewStripper(schema avro.Schema, drop ...string) (*Stripper, error) {
	want := make(map[string]bool, len(drop))
	for _, d := range drop {
		want[d] = true
	}
	root, err := planStrip(schema, "", want, map[string]*stripNode{})
	if err != nil {
		return nil, err
	}
	for d := range want {
		return nil, fmt.Errorf("codec: strip: the schema has no field %q", d)
	}
	return &Stripper{root: root, same: len(drop) == 0 && !root.blocks(map[*stripNode]bool{})}, nil
}

// Same reports whether the Stripper leaves everything: its schema has no field to leave out
// and no array or map. Append then copies the encoding as it is.
func (s *Stripper) Same() bool { return s.same }

// blocks reports whether values of n can hold an array or a map (block sizes).
func (n *stripNode) blocks(seen map[*stripNode]bool) bool {
	if seen[n] {
		return false
	}
	seen[n] = true
	if n.typ == avro.Array || n.typ == avro.Map {
		return true
	}
	for _, c := range append(n.fields, n.elems...) {
		if c.blocks(seen) {
			return true
		}
	}
	return false
}

func planStrip(schema avro.Schema, path string, drop map[string]bool, named map[string]*stripNode) (*stripNode, error) {
	if r, ok := schema.(*avro.RefSchema); ok {
		schema = r.Schema()
	}
	n := &stripNode{typ: schema.Type()}
	switch s := schema.(type) {
	case *avro.RecordSchema:
		if prev, ok := named[s.FullName()+" "+path]; ok {
			return prev, nil // a recursive schema
		}
		named[s.FullName()+" "+path] = n
		for _, f := range s.Fields() {
			p := f.Name()
			if path != "" {
				p = path + "." + p
			}
			c, err := planStrip(f.Type(), p, drop, named)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, c)
			n.names = append(n.names, f.Name())
			n.drop = append(n.drop, drop[p])
			delete(drop, p)
		}
	case *avro.UnionSchema:
		for _, t := range s.Types() {
			c, err := planStrip(t, path, drop, named)
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, c)
		}
	case *avro.ArraySchema:
		c, err := planStrip(s.Items(), path, drop, named)
		if err != nil {
			return nil, err
		}
		n.elems = []*stripNode{c}
	case *avro.MapSchema:
		c, err := planStrip(s.Values(), path, drop, named)
		if err != nil {
			return nil, err
		}
		n.elems = []*stripNode{c}
	case *avro.FixedSchema:
		n.size = s.Size()
	default:
		switch schema.Type() {
		case avro.Null, avro.Boolean, avro.Int, avro.Long, avro.Float, avro.Double, avro.String, avro.Bytes, avro.Enum:
		default:
			return nil, fmt.Errorf("codec: strip: unsupported schema %s", schema.Type())
		}
	}
	return n, nil
}

// errTruncated is an encoding that ends inside a value.
var errTruncated = errors.New("codec: strip: encoding ends early")

// Append appends data, an encoding of the Stripper's schema, to dst without the fields left
// out and the block sizes. On error dst is returned unchanged.
func (s *Stripper) Append(dst, data []byte) ([]byte, error) {
	if s.same {
		return append(dst, data...), nil
	}
	out, rest, err := s.root.copy(dst, data, true)
	if err != nil {
		return dst, err
	}
	if len(rest) != 0 {
		return dst, fmt.Errorf("codec: strip: %d bytes after the value", len(rest))
	}
	return out, nil
}

// copy reads one value of n from data and, when keep, appends it to out; it returns out and
// what follows the value.
func (n *stripNode) copy(out, data []byte, keep bool) ([]byte, []byte, error) {
	take := func(k int) ([]byte, []byte, error) {
		if k < 0 || k > len(data) {
			return out, nil, errTruncated
		}
		if keep {
			out = append(out, data[:k]...)
		}
		return out, data[k:], nil
	}
	switch n.typ {
	case avro.Null:
		return out, data, nil
	case avro.Boolean:
		return take(1)
	case avro.Int, avro.Long, avro.Enum:
		if _, k := binary.Varint(data); k > 0 {
			return take(k)
		}
		return out, nil, errTruncated
	case avro.Float:
		return take(4)
	case avro.Double:
		return take(8)
	case avro.Fixed:
		return take(n.size)
	case avro.String, avro.Bytes:
		l, k := binary.Varint(data)
		if k <= 0 || l < 0 || l > int64(len(data)-k) {
			return out, nil, errTruncated
		}
		return take(k + int(l))
	case avro.Record:
		var err error
		for i, f := range n.fields {
			if out, data, err = f.copy(out, data, keep && !n.drop[i]); err != nil {
				return out, nil, err
			}
		}
		return out, data, nil
	case avro.Union:
		i, k := binary.Varint(data)
		if k <= 0 || i < 0 || i >= int64(len(n.elems)) {
			return out, nil, errTruncated
		}
		if keep {
			out = append(out, data[:k]...)
		}
		return n.elems[i].copy(out, data[k:], keep)
	case avro.Array, avro.Map:
		for {
			count, k := binary.Varint(data)
			if k <= 0 {
				return out, nil, errTruncated
			}
			if keep {
				out = append(out, data[:k]...) // the count, as written
			}
			data = data[k:]
			if count == 0 {
				return out, data, nil
			}
			if count < 0 { // a block size follows: left out
				count = -count
				if _, k = binary.Varint(data); k <= 0 {
					return out, nil, errTruncated
				}
				data = data[k:]
			}
			if count > int64(len(data)) {
				return out, nil, errTruncated // every item we write takes a byte at least
			}
			var err error
			for range count {
				if n.typ == avro.Map {
					key := stripNode{typ: avro.String}
					if out, data, err = key.copy(out, data, keep); err != nil {
						return out, nil, err
					}
				}
				if out, data, err = n.elems[0].copy(out, data, keep); err != nil {
					return out, nil, err
				}
			}
		}
	}
	return out, nil, fmt.Errorf("codec: strip: unsupported type %s", n.typ)
}
