package codec

import (
	"fmt"
	"math/big"
	"math/bits"
	"reflect"
	"strconv"
	"sync"

	"github.com/hamba/avro/v2"
)

// hamba/avro v2.31 writes a *big.Rat into a decimal by flooring it to the schema's scale
// (0.12345 at scale 4 becomes 0.1234) without a word, and its precision error prints the
// amount. For payroll that is a quietly wrong salary, so every decimal is checked before
// it is encoded: it must have at most scale places and precision digits, else it is a
// *DecimalError naming the field, never the value.
//
// It also decodes two Go shapes wrongly without an error: a big.Rat held by value, and a
// *big.Rat inside a nullable union (the value reads as 0). A required decimal is therefore a
// *big.Rat and a nullable one a **big.Rat (nil is null); any other Go type for a decimal is
// refused with ErrUnsupportedType in both directions, so that what is written reads back.
//
// The check walks the value along a plan compiled once per schema and Go type, which only
// descends where the schema holds a decimal. The Go types it knows are those of records in
// normal form: structs with `avro` tags (embedded structs flattened, as the Avro library does),
// pointers, slices, maps, *big.Rat and **big.Rat; a decimal reached through anything else (an
// interface, a union of several decimal-bearing branches) is ErrUnsupportedType.

// decimalPlan is the check of one (schema, Go type): nil when nothing is to be checked.
type decimalPlan struct {
	scale, precision int
	nullable         bool // a **big.Rat: nil is null
	field            []planField
	elem             *decimalPlan // pointer, slice or map
	kind             reflect.Kind // of the Go value, for elem
}

type planField struct {
	name  string
	index []int
	plan  *decimalPlan
}

type planKey struct {
	schema [32]byte
	typ    reflect.Type
}

type planResult struct {
	plan *decimalPlan
	err  error
}

// plans caches the compiled plans.
var plans sync.Map // planKey → planResult

var (
	ratPtrType    = reflect.TypeFor[*big.Rat]()
	ratPtrPtrType = reflect.TypeFor[**big.Rat]()
)

// planFor returns the plan of (schema, typ), compiling it once.
func planFor(schema avro.Schema, typ reflect.Type) (*decimalPlan, error) {
	k := planKey{schema.CacheFingerprint(), typ}
	if r, ok := plans.Load(k); ok {
		return r.(planResult).plan, r.(planResult).err
	}
	p, err := compilePlan(schema, typ, "")
	plans.Store(k, planResult{p, err})
	return p, err
}

// CheckDecimals reports a *DecimalError if a decimal in v does not fit schema exactly, and an
// error matching ErrUnsupportedType if v's Go type holds a decimal in a shape the Avro library
// gets wrong. Values of schemas without decimals pass. Codec.Encode and AppendRecord call it.
func CheckDecimals(schema avro.Schema, v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	p, err := planFor(schema, rv.Type())
	if err != nil || p == nil {
		return err
	}
	return p.check(rv)
}

func unsupported(path, why string) error {
	if path == "" {
		path = "<root>"
	}
	return fmt.Errorf("%w: %s: %s", ErrUnsupportedType, path, why)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func compilePlan(schema avro.Schema, typ reflect.Type, path string) (*decimalPlan, error) {
	if r, ok := schema.(*avro.RefSchema); ok {
		schema = r.Schema()
	}
	if !hasDecimal(schema, map[string]bool{}) {
		return nil, nil
	}
	if typ.Kind() == reflect.Pointer && typ != ratPtrType && typ != ratPtrPtrType {
		elem, err := compilePlan(schema, typ.Elem(), path)
		if err != nil || elem == nil {
			return nil, err
		}
		return &decimalPlan{elem: elem, kind: reflect.Pointer}, nil
	}
	switch s := schema.(type) {
	case *avro.PrimitiveSchema, *avro.FixedSchema:
		d := decimalOf(schema)
		switch typ {
		case ratPtrType:
			return &decimalPlan{scale: d.Scale(), precision: d.Precision()}, nil
		case ratPtrPtrType:
			return nil, unsupported(path, "a required decimal must be *big.Rat")
		}
		return nil, unsupported(path, "a decimal must be *big.Rat, or **big.Rat when nullable (the Avro library decodes other types wrongly)")
	case *avro.UnionSchema:
		var branch avro.Schema
		for _, t := range s.Types() {
			if hasDecimal(t, map[string]bool{}) {
				if branch != nil {
					return nil, unsupported(path, "a union with several decimal-bearing branches")
				}
				branch = t
			}
		}
		if r, ok := branch.(*avro.RefSchema); ok {
			branch = r.Schema()
		}
		if decimalOf(branch) != nil {
			if typ != ratPtrPtrType {
				return nil, unsupported(path, "a nullable decimal must be **big.Rat (the Avro library decodes *big.Rat in a union as 0)")
			}
			d := decimalOf(branch)
			return &decimalPlan{scale: d.Scale(), precision: d.Precision(), nullable: true}, nil
		}
		return compilePlan(branch, typ, path)
	case *avro.ArraySchema:
		if typ.Kind() != reflect.Slice {
			return nil, unsupported(path, "an array of decimals must be a slice")
		}
		elem, err := compilePlan(s.Items(), typ.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return &decimalPlan{elem: elem, kind: reflect.Slice}, nil
	case *avro.MapSchema:
		if typ.Kind() != reflect.Map || typ.Key().Kind() != reflect.String {
			return nil, unsupported(path, "a map of decimals must be a Go map with string keys")
		}
		elem, err := compilePlan(s.Values(), typ.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return &decimalPlan{elem: elem, kind: reflect.Map}, nil
	case *avro.RecordSchema:
		if typ.Kind() != reflect.Struct {
			return nil, unsupported(path, "a record holding decimals must be a struct")
		}
		byName := map[string][]int{}
		structFields(typ, nil, byName)
		p := &decimalPlan{}
		for _, f := range s.Fields() {
			i, ok := byName[f.Name()]
			if !ok {
				continue // the encoder uses the default or fails
			}
			c, err := compilePlan(f.Type(), typ.FieldByIndex(i).Type, join(path, f.Name()))
			if err != nil {
				return nil, err
			}
			if c != nil {
				p.field = append(p.field, planField{name: f.Name(), index: i, plan: c})
			}
		}
		return p, nil
	}
	return nil, unsupported(path, "a decimal inside a "+string(schema.Type()))
}

// structFields maps Avro field names to Go field indexes as the Avro library does: the `avro`
// tag, else the Go name; embedded structs flattened, outer fields first.
func structFields(typ reflect.Type, at []int, out map[string][]int) {
	var embedded []int
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			embedded = append(embedded, i)
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("avro"); ok {
			name = tag
		}
		if _, ok := out[name]; !ok && f.IsExported() {
			out[name] = append(append([]int(nil), at...), i)
		}
	}
	for _, i := range embedded {
		t := typ.Field(i).Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			structFields(t, append(append([]int(nil), at...), i), out)
		}
	}
}

func decimalOf(schema avro.Schema) *avro.DecimalLogicalSchema {
	if ls, ok := schema.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		d, _ := ls.Logical().(*avro.DecimalLogicalSchema)
		return d
	}
	return nil
}

func hasDecimal(schema avro.Schema, seen map[string]bool) bool {
	switch s := schema.(type) {
	case *avro.RefSchema:
		return hasDecimal(s.Schema(), seen)
	case *avro.RecordSchema:
		if seen[s.FullName()] {
			return false
		}
		seen[s.FullName()] = true
		for _, f := range s.Fields() {
			if hasDecimal(f.Type(), seen) {
				return true
			}
		}
	case *avro.UnionSchema:
		for _, t := range s.Types() {
			if hasDecimal(t, seen) {
				return true
			}
		}
	case *avro.ArraySchema:
		return hasDecimal(s.Items(), seen)
	case *avro.MapSchema:
		return hasDecimal(s.Values(), seen)
	}
	return decimalOf(schema) != nil
}

// check walks v along the plan.
func (p *decimalPlan) check(v reflect.Value) error {
	switch {
	case p.kind == reflect.Slice:
		for i := range v.Len() {
			if err := p.elem.check(v.Index(i)); err != nil {
				return prependPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
	case p.kind == reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := p.elem.check(it.Value()); err != nil {
				return prependPath(err, "["+it.Key().String()+"]")
			}
		}
	case p.kind == reflect.Pointer:
		if !v.IsNil() {
			return p.elem.check(v.Elem())
		}
	case p.field != nil:
		for _, f := range p.field {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // a nil embedded pointer: nothing to check
			}
			if err := f.plan.check(fv); err != nil {
				return prependPath(err, f.name)
			}
		}
	case p.precision > 0:
		if v.IsNil() {
			if p.nullable {
				return nil
			}
			return &DecimalError{Scale: p.scale, Precision: p.precision, Reason: "nil amount for a non-nullable decimal"}
		}
		if p.nullable {
			if v = v.Elem(); v.IsNil() {
				return &DecimalError{Scale: p.scale, Precision: p.precision, Reason: "a present nullable decimal pointing at nil"}
			}
		}
		if reason := checkRat(v.Interface().(*big.Rat), p.scale, p.precision); reason != "" {
			return &DecimalError{Scale: p.scale, Precision: p.precision, Reason: reason}
		}
	}
	return nil
}

func prependPath(err error, elem string) error {
	if de, ok := err.(*DecimalError); ok {
		de.prepend(elem)
	}
	return err
}

// checkRat returns "" when r has at most scale places and precision digits, else the reason.
// Values within 64 bits cost no allocation.
func checkRat(r *big.Rat, scale, precision int) string {
	if scale < 0 {
		return reasonScale
	}
	if num, den := r.Num(), r.Denom(); scale < len(pow10) && precision < len(pow10) && den.IsUint64() && num.IsInt64() {
		d, p := den.Uint64(), pow10[scale]
		if p%d != 0 {
			return reasonScale
		}
		n := num.Int64()
		mag := uint64(n)
		if n < 0 {
			mag = -mag
		}
		if hi, lo := bits.Mul64(mag, p/d); hi == 0 {
			if lo >= pow10[precision] {
				return reasonPrecision
			}
			return ""
		}
	}
	unscaled := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	unscaled.Mul(unscaled, r.Num())
	rem := new(big.Int)
	if unscaled.QuoRem(unscaled, r.Denom(), rem); rem.Sign() != 0 {
		return reasonScale
	}
	if limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil); unscaled.CmpAbs(limit) >= 0 {
		return reasonPrecision
	}
	return ""
}

// pow10[i] is 10^i.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

const (
	reasonScale     = "more fractional digits than the scale (the encoder would round)"
	reasonPrecision = "more digits than the precision"
)
