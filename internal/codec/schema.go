package codec

import (
	"context"
	"fmt"
	"reflect"

	"github.com/hamba/avro/v2"
)

// Schema is a parsed Avro schema. Other packages hold and pass schemas as this type and never
// import the Avro library themselves; those that look inside one use Describe.
type Schema = avro.Schema

// ParseSchema parses a schema text into a fresh name cache, so that schemas of different
// versions never see each other's named types.
func ParseSchema(text string) (Schema, error) {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("codec: parse schema: %w", err)
	}
	return s, nil
}

// Node describes a schema for code that walks it (a field policy, a renderer) without the
// Avro library.
type Node struct {
	Type    string  // Avro type: "record", "union", "array", "map", "string", "long", …
	Logical string  // logical type ("date", "timestamp-millis", "decimal", …), or ""
	Name    string  // the name the generic decoding gives a union branch of this type
	Scale   int     // decimal
	Fields  []Field // record, in order
	Types   []*Node // union branches
	Items   *Node   // array items, map values
}

// Field is a field of a record Node.
type Field struct {
	Name string
	Type *Node
}

// Nullable returns the non-null branch of a ["null", T] union and true; n itself and false
// for anything else.
func (n *Node) Nullable() (*Node, bool) {
	if n.Type == string(avro.Union) && len(n.Types) == 2 {
		for i, t := range n.Types {
			if t.Type == string(avro.Null) {
				return n.Types[1-i], true
			}
		}
	}
	return n, false
}

// Field returns the record field called name, or nil.
func (n *Node) Field(name string) *Field {
	for i := range n.Fields {
		if n.Fields[i].Name == name {
			return &n.Fields[i]
		}
	}
	return nil
}

// Describe returns the Node of s. A named record met again below itself is the same Node.
func Describe(s Schema) *Node {
	return describe(s, map[string]*Node{})
}

func describe(s avro.Schema, named map[string]*Node) *Node {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if ns, ok := s.(avro.NamedSchema); ok {
		if n, ok := named[ns.FullName()]; ok {
			return n
		}
	}
	n := &Node{Type: string(s.Type()), Name: string(s.Type())}
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		n.Logical = string(ls.Logical().Type())
		n.Name += "." + n.Logical
		if d, ok := ls.Logical().(*avro.DecimalLogicalSchema); ok {
			n.Scale = d.Scale()
		}
	}
	if ns, ok := s.(avro.NamedSchema); ok {
		n.Name = ns.FullName()
		named[ns.FullName()] = n
	}
	switch x := s.(type) {
	case *avro.RecordSchema:
		for _, f := range x.Fields() {
			n.Fields = append(n.Fields, Field{Name: f.Name(), Type: describe(f.Type(), named)})
		}
	case *avro.UnionSchema:
		for _, t := range x.Types() {
			n.Types = append(n.Types, describe(t, named))
		}
	case *avro.ArraySchema:
		n.Items = describe(x.Items(), named)
	case *avro.MapSchema:
		n.Items = describe(x.Values(), named)
	}
	return n
}

// DecodeGeneric decodes a wire-format message into generic Go values with the writer schema
// (looked up by id): records and unions as map[string]any (a union as {"<branch name>":
// value}, a nullable one as the value), arrays as []any, dates and timestamps as time.Time,
// decimals as *big.Rat. It returns the schema id and the writer schema.
func (c *Codec) DecodeGeneric(ctx context.Context, data []byte) (int, Schema, any, error) {
	id, body, err := SplitHeader(data)
	if err != nil {
		return 0, nil, nil, err
	}
	schema, err := c.readSchema(ctx, id, nil)
	if err != nil {
		return id, nil, nil, err
	}
	var v any
	if err := c.api.Unmarshal(schema, body, &v); err != nil {
		return id, schema, nil, fmt.Errorf("codec: decode schema id %d: %w", id, err)
	}
	return id, schema, v, nil
}

// Unmarshal decodes a bare Avro encoding (no wire header) of schema into into, with the same
// Go type rules as Decode.
func (c *Codec) Unmarshal(schema Schema, data []byte, into any) error {
	if into != nil {
		if _, err := planFor(schema, reflect.TypeOf(into)); err != nil {
			return err
		}
	}
	if err := c.api.Unmarshal(schema, data, into); err != nil {
		return fmt.Errorf("codec: decode: %w", err)
	}
	return nil
}

// NullableField returns T of the field name of a record schema whose type is ["null", T]:
// the record an envelope's before and after carry.
func NullableField(s Schema, name string) (Schema, error) {
	rec, ok := s.(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("codec: schema %s is not a record", s.Type())
	}
	for _, f := range rec.Fields() {
		if f.Name() != name {
			continue
		}
		u, ok := f.Type().(*avro.UnionSchema)
		if !ok || len(u.Types()) != 2 || !u.Nullable() {
			return nil, fmt.Errorf("codec: field %s is not a nullable union", name)
		}
		t := u.Types()[1]
		if t.Type() == avro.Null {
			t = u.Types()[0]
		}
		if r, ok := t.(*avro.RefSchema); ok {
			t = r.Schema()
		}
		return t, nil
	}
	return nil, fmt.Errorf("codec: the record has no field %s", name)
}
