// Package inspect reads the service's topics the way a consumer would: it decodes Avro values in
// the Confluent wire format through the schema registry and renders them as JSON (a kcat for
// our Avro), summarises events in one readable line, and folds a topic into its current state
// (last event per key wins, a tombstone removes the key).
package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// Decoder turns wire-format values into JSON-friendly values, using the writer schema from the
// registry, so it reads every schema version ever published, including fields it does not know.
type Decoder struct {
	src codec.SchemaSource
}

// NewDecoder returns a Decoder that resolves schema ids through src (a *codec.Registry).
func NewDecoder(src codec.SchemaSource) *Decoder { return &Decoder{src: src} }

// Decode returns the schema id and the rendered value of a wire-format message.
func (d *Decoder) Decode(ctx context.Context, data []byte) (int, Object, error) {
	id, body, err := codec.SplitHeader(data)
	if err != nil {
		return 0, nil, err
	}
	schema, err := d.src.SchemaByID(ctx, id)
	if err != nil {
		return id, nil, err
	}
	var raw any
	if err := avro.Unmarshal(schema, body, &raw); err != nil {
		return id, nil, fmt.Errorf("inspect: decode schema id %d: %w", id, err)
	}
	obj, ok := render(schema, raw).(Object)
	if !ok {
		return id, nil, fmt.Errorf("inspect: schema id %d is not a record", id)
	}
	return id, obj, nil
}

// Field is one field of an Object.
type Field struct {
	Name  string
	Value any
}

// Object is a decoded Avro record with its fields in schema order. It encodes as a JSON object
// in that order.
type Object []Field

// Get returns the value of a field (nil when absent).
func (o Object) Get(name string) any {
	for _, f := range o {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// Path returns a nested value by field names ("after", "amount").
func (o Object) Path(names ...string) any {
	var v any = o
	for _, n := range names {
		obj, ok := v.(Object)
		if !ok {
			return nil
		}
		v = obj.Get(n)
	}
	return v
}

// String returns the string at a path, or "".
func (o Object) String(names ...string) string {
	s, _ := o.Path(names...).(string)
	return s
}

// MarshalJSON writes the fields in order; a nil Object (a tombstone's value) is null.
func (o Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalNoEscape(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// render converts hamba's generic decoding into JSON-friendly values: records become Objects in
// field order, unions their branch value, dates "YYYY-MM-DD", timestamps RFC 3339 in UTC, and
// decimals exact strings with the schema's scale (never a float).
func render(schema avro.Schema, v any) any {
	if v == nil {
		return nil
	}
	switch s := schema.(type) {
	case *avro.RefSchema:
		return render(s.Schema(), v)
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(Object, 0, len(s.Fields()))
		for _, f := range s.Fields() {
			out = append(out, Field{Name: f.Name(), Value: render(f.Type(), m[f.Name()])})
		}
		return out
	case *avro.UnionSchema:
		// hamba hands a union either as {"<branch name>": value} or, for a nullable union,
		// as the value itself.
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				for _, t := range s.Types() {
					if typeName(t) == name {
						return render(t, inner)
					}
				}
			}
		}
		var only avro.Schema
		for _, t := range s.Types() {
			if t.Type() != avro.Null {
				if only != nil {
					return v
				}
				only = t
			}
		}
		if only != nil {
			return render(only, v)
		}
		return v
	case *avro.ArraySchema:
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = render(s.Items(), e)
		}
		return out
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = render(s.Values(), e)
		}
		return out
	}
	if lt, ok := schema.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		switch lt.Logical().Type() {
		case avro.Date:
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format(time.DateOnly)
			}
		case avro.TimestampMillis, avro.TimestampMicros:
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format(time.RFC3339Nano)
			}
		case avro.Decimal:
			if r, ok := v.(*big.Rat); ok {
				if d, ok := lt.Logical().(*avro.DecimalLogicalSchema); ok {
					return r.FloatString(d.Scale())
				}
				return r.RatString()
			}
		}
	}
	return v
}

// typeName is the name hamba gives a union branch in generic decoding.
func typeName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if lt, ok := s.(avro.LogicalTypeSchema); ok && lt.Logical() != nil {
		name += "." + string(lt.Logical().Type())
	}
	return name
}
