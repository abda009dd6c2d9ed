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
	"sync"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// Decoder turns wire-format values into JSON-friendly values, using the writer schema from the
// registry, so it reads every schema version ever published, including fields it does not know.
type Decoder struct {
	c     *codec.Codec
	nodes sync.Map // schema id → *codec.Node
}

// NewDecoder returns a Decoder that resolves schema ids through src (a *codec.Registry).
func NewDecoder(src codec.SchemaSource) *Decoder { return &Decoder{c: codec.New(src)} }

// Decode returns the schema id and the rendered value of a wire-format message.
func (d *Decoder) Decode(ctx context.Context, data []byte) (int, Object, error) {
	id, schema, raw, err := d.c.DecodeGeneric(ctx, data)
	if err != nil {
		return id, nil, fmt.Errorf("inspect: %w", err)
	}
	node, ok := d.nodes.Load(id)
	if !ok {
		node = codec.Describe(schema)
		d.nodes.Store(id, node)
	}
	obj, ok := render(node.(*codec.Node), raw).(Object)
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

// render converts the codec's generic decoding into JSON-friendly values: records become
// Objects in field order, unions their branch value, dates "YYYY-MM-DD", timestamps RFC 3339
// in UTC, and decimals exact strings with the schema's scale (never a float).
func render(n *codec.Node, v any) any {
	if v == nil {
		return nil
	}
	switch n.Type {
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(Object, 0, len(n.Fields))
		for _, f := range n.Fields {
			out = append(out, Field{Name: f.Name, Value: render(f.Type, m[f.Name])})
		}
		return out
	case "union":
		// A union comes either as {"<branch name>": value} or, for a nullable union, as the
		// value itself.
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				for _, t := range n.Types {
					if t.Name == name {
						return render(t, inner)
					}
				}
			}
		}
		var only *codec.Node
		for _, t := range n.Types {
			if t.Type != "null" {
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
	case "array":
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = render(n.Items, e)
		}
		return out
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = render(n.Items, e)
		}
		return out
	}
	switch n.Logical {
	case "date":
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.DateOnly)
		}
	case "timestamp-millis", "timestamp-micros":
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339Nano)
		}
	case "decimal":
		if r, ok := v.(*big.Rat); ok {
			return r.FloatString(n.Scale)
		}
	}
	return v
}
