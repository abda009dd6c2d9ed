package codec

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"reflect"
	"strconv"
	"sync"

	"github.com/hamba/avro/v2"
)

// The Avro library turns a *big.Rat into a decimal by truncating toward −∞
// (0.12345 at scale 4 becomes 0.1234) without a word. For payroll amounts that
// is a quietly wrong salary, so every value is checked before encoding:
// each decimal must be representable with the schema's scale exactly and its
// unscaled digits must fit the precision.
//
// The check walks the value along a plan compiled once per (schema, Go type):
// the plan only descends into fields whose schema contains a decimal, so a
// value without money costs a map lookup.

// planKey identifies a plan by the schema's identity (its cache
// fingerprint, so re-parsed copies of one schema share a plan) and Go type.
type planKey struct {
	schema [32]byte
	typ    reflect.Type
}

type nodeKind uint8

const (
	kindDecimal   nodeKind = iota // *big.Rat or big.Rat (or a type convertible to it)
	kindPtr                       // Go pointer around the schema below
	kindRecord                    // Go struct
	kindRecordMap                 // Go map[string]T used as a record
	kindArray                     // Go slice or array
	kindMap                       // Go map used as an Avro map
	kindDynamic                   // Go interface: plan chosen per value
	kindUnion                     // union with several decimal-bearing branches, dynamic value
)

type fieldNode struct {
	name  string
	index []int
	node  *node
}

type node struct {
	kind      nodeKind
	scale     int
	precision int
	ratPtr    bool          // kindDecimal: Go value is a pointer
	nilOK     bool          // kindDecimal/kindPtr: a nil pointer is a valid (null) value
	fields    []fieldNode   // kindRecord, kindRecordMap
	elem      *node         // kindPtr, kindArray, kindMap
	schema    avro.Schema   // kindDynamic
	branches  []avro.Schema // kindUnion
	planner   *planner
}

// planner compiles and caches decimal plans.
type planner struct {
	mu    sync.RWMutex
	plans map[planKey]*node // nil value = nothing to check
	roots map[planKey]root
}

// root is the cached plan for a top-level (schema, Go type).
type root struct {
	node    *node
	typeErr error // Go type the Avro library would decode wrongly
}

func newPlanner() *planner {
	return &planner{plans: make(map[planKey]*node), roots: make(map[planKey]root)}
}

var ratType = reflect.TypeFor[big.Rat]()

// CheckDecimals reports a *DecimalError if any decimal in v cannot be encoded
// with schema exactly, and an error matching ErrUnsupportedType if v's Go type
// holds a decimal in a way the Avro library decodes wrongly. Values without
// decimals, and schemas without decimal logical types, pass. It is safe for
// concurrent use; Codec.Encode calls it.
func CheckDecimals(schema avro.Schema, v any) error {
	return defaultPlanner.check(schema, v)
}

var defaultPlanner = newPlanner()

func (p *planner) check(schema avro.Schema, v any) error {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	r := p.root(schema, rv.Type())
	if r.typeErr != nil {
		return r.typeErr
	}
	n := r.node
	if n == nil {
		return nil
	}
	// Values passed by value are copied once so that big.Rat fields can be
	// addressed; pointers (the common case) need no copy.
	return checkCopy(n, rv)
}

// root returns the plan for a top-level value, with the decode-safety verdict.
func (p *planner) root(schema avro.Schema, typ reflect.Type) root {
	k := planKey{schema: schema.CacheFingerprint(), typ: typ}
	p.mu.RLock()
	r, ok := p.roots[k]
	p.mu.RUnlock()
	if ok {
		return r
	}
	n := p.plan(schema, typ)
	r = root{node: n, typeErr: unsafeDecimalType(n, "", map[*node]bool{})}
	p.mu.Lock()
	p.roots[k] = r
	p.mu.Unlock()
	return r
}

// unsafeDecimalType finds Go types for which hamba/avro v2.31 decodes a
// decimal wrongly without an error: a big.Rat held by value (the decoder
// stores a pointer into it), and a *big.Rat inside a nullable union (the
// decoded amount is 0). **big.Rat works for nullable decimals, *big.Rat for
// required ones. Both directions refuse such types so that the pipeline can
// always read back what it wrote.
func unsafeDecimalType(n *node, path string, seen map[*node]bool) error {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	join := func(elem string) string {
		switch {
		case path == "":
			return elem
		case elem[0] == '[':
			return path + elem
		}
		return path + "." + elem
	}
	switch n.kind {
	case kindDecimal:
		where := path
		if where == "" {
			where = "<root>"
		}
		if !n.ratPtr {
			return fmt.Errorf("%w: %s: use *big.Rat, not big.Rat (the Avro library decodes big.Rat values wrongly)", ErrUnsupportedType, where)
		}
		if n.nilOK {
			return fmt.Errorf("%w: %s: a nullable decimal must be **big.Rat (the Avro library decodes *big.Rat in a union as 0)", ErrUnsupportedType, where)
		}
	case kindPtr, kindArray, kindMap:
		elem := ""
		if n.kind != kindPtr {
			elem = "[]"
		}
		p := path
		if elem != "" {
			p = join(elem)
		}
		return unsafeDecimalType(n.elem, p, seen)
	case kindRecord, kindRecordMap:
		for _, f := range n.fields {
			if err := unsafeDecimalType(f.node, join(f.name), seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *planner) plan(schema avro.Schema, typ reflect.Type) *node {
	k := planKey{schema: schema.CacheFingerprint(), typ: typ}
	p.mu.RLock()
	n, ok := p.plans[k]
	p.mu.RUnlock()
	if ok {
		return n
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.plans[k]; ok {
		return n
	}
	return p.compile(schema, typ)
}

// compile builds the plan for (schema, typ); p.mu is held.
func (p *planner) compile(schema avro.Schema, typ reflect.Type) *node {
	if ref, ok := schema.(*avro.RefSchema); ok {
		schema = ref.Schema()
	}
	k := planKey{schema: schema.CacheFingerprint(), typ: typ}
	if n, ok := p.plans[k]; ok {
		return n
	}
	if !hasDecimal(schema, map[string]bool{}) {
		p.plans[k] = nil
		return nil
	}
	if typ.Kind() == reflect.Interface {
		n := &node{kind: kindDynamic, schema: schema, planner: p}
		p.plans[k] = n
		return n
	}

	// Placeholder first, so that recursive schemas terminate.
	n := &node{kind: kindRecord}
	p.plans[k] = n
	var out *node
	switch s := schema.(type) {
	case *avro.PrimitiveSchema, *avro.FixedSchema:
		out = p.compileDecimal(schema, typ)
	case *avro.UnionSchema:
		out = p.compileUnion(s, typ)
	case *avro.RecordSchema:
		out = p.compileRecord(s, typ)
	case *avro.ArraySchema:
		out = p.compileContainer(kindArray, s, s.Items(), typ)
	case *avro.MapSchema:
		out = p.compileContainer(kindMap, s, s.Values(), typ)
	}
	if out == nil {
		// The Go type does not match the schema (the encoder reports
		// that). Anything that captured the placeholder checks nothing.
		*n = node{kind: kindRecord}
		p.plans[k] = nil
		return nil
	}
	*n = *out
	return n
}

func decimalOf(schema avro.Schema) (*avro.DecimalLogicalSchema, bool) {
	ls, ok := schema.(avro.LogicalTypeSchema)
	if !ok || ls.Logical() == nil {
		return nil, false
	}
	d, ok := ls.Logical().(*avro.DecimalLogicalSchema)
	return d, ok
}

func hasDecimal(schema avro.Schema, seen map[string]bool) bool {
	switch s := schema.(type) {
	case *avro.RefSchema:
		return hasDecimal(s.Schema(), seen)
	case *avro.PrimitiveSchema, *avro.FixedSchema:
		_, ok := decimalOf(schema)
		return ok
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
	return false
}

func (p *planner) compileDecimal(schema avro.Schema, typ reflect.Type) *node {
	d, _ := decimalOf(schema)
	switch {
	case typ.ConvertibleTo(ratType) && typ.Kind() == reflect.Struct:
		return &node{kind: kindDecimal, scale: d.Scale(), precision: d.Precision()}
	case typ.Kind() == reflect.Pointer && typ.Elem().ConvertibleTo(ratType) && typ.Elem().Kind() == reflect.Struct:
		return &node{kind: kindDecimal, scale: d.Scale(), precision: d.Precision(), ratPtr: true}
	}
	return nil
}

func (p *planner) compileUnion(s *avro.UnionSchema, typ reflect.Type) *node {
	var branches []avro.Schema
	for _, t := range s.Types() {
		if hasDecimal(t, map[string]bool{}) {
			branches = append(branches, t)
		}
	}
	if len(branches) != 1 {
		// Several branches carry decimals: hamba picks the branch from the
		// dynamic value, so choose per value too.
		return &node{kind: kindUnion, branches: branches, planner: p}
	}
	if typ.Kind() == reflect.Pointer {
		// A nil pointer is null. A *big.Rat (or a pointer to a record) is
		// planned as such; a **big.Rat or a pointer to something else
		// dereferences once.
		if n := p.compile(branches[0], typ); n != nil {
			if n.kind == kindDecimal {
				c := *n
				c.nilOK = true
				return &c
			}
			return n
		}
		elem := p.compile(branches[0], typ.Elem())
		if elem == nil {
			return nil
		}
		return &node{kind: kindPtr, elem: elem, nilOK: true}
	}
	return p.compile(branches[0], typ)
}

func (p *planner) compileRecord(s *avro.RecordSchema, typ reflect.Type) *node {
	switch typ.Kind() {
	case reflect.Pointer:
		elem := p.compile(s, typ.Elem())
		if elem == nil {
			return nil
		}
		return &node{kind: kindPtr, elem: elem}
	case reflect.Map:
		if typ.Key().Kind() != reflect.String {
			return nil
		}
		n := &node{kind: kindRecordMap}
		for _, f := range s.Fields() {
			if c := p.compile(f.Type(), typ.Elem()); c != nil {
				n.fields = append(n.fields, fieldNode{name: f.Name(), node: c})
			}
		}
		return n
	case reflect.Struct:
	default:
		return nil
	}
	index := structFields(typ)
	n := &node{kind: kindRecord}
	for _, f := range s.Fields() {
		idx, ok := index[f.Name()]
		if !ok {
			continue // the encoder falls back to the default or fails
		}
		ft := typ.FieldByIndex(idx).Type
		if c := p.compile(f.Type(), ft); c != nil {
			n.fields = append(n.fields, fieldNode{name: f.Name(), index: idx, node: c})
		}
	}
	return n
}

// structFields maps Avro field names to Go field indexes the way the Avro
// library does: the `avro` tag, else the Go field name; embedded structs are
// flattened, shallower fields first.
func structFields(typ reflect.Type) map[string][]int {
	out := map[string][]int{}
	type level struct {
		typ   reflect.Type
		index []int
	}
	next := []level{{typ: typ}}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		curr := next
		next = nil
		for _, l := range curr {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := range l.typ.NumField() {
				f := l.typ.Field(i)
				idx := append(append([]int(nil), l.index...), i)
				if f.Anonymous {
					t := f.Type
					if t.Kind() == reflect.Pointer {
						t = t.Elem()
					}
					if t.Kind() == reflect.Struct {
						next = append(next, level{typ: t, index: idx})
					}
					continue
				}
				if !f.IsExported() {
					continue
				}
				name := f.Name
				if tag, ok := f.Tag.Lookup("avro"); ok {
					name, _, _ = cutComma(tag)
				}
				if _, dup := out[name]; !dup {
					out[name] = idx
				}
			}
		}
	}
	return out
}

func cutComma(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (p *planner) compileContainer(kind nodeKind, schema, items avro.Schema, typ reflect.Type) *node {
	switch typ.Kind() {
	case reflect.Pointer:
		elem := p.compile(schema, typ.Elem())
		if elem == nil {
			return nil
		}
		return &node{kind: kindPtr, elem: elem}
	case reflect.Slice, reflect.Array:
		if kind != kindArray {
			return nil
		}
	case reflect.Map:
		if kind != kindMap {
			return nil
		}
	default:
		return nil
	}
	elem := p.compile(items, typ.Elem())
	if elem == nil {
		return nil
	}
	return &node{kind: kind, elem: elem}
}

// check walks v (addressable, or a pointer) along the plan.
func (n *node) check(v reflect.Value) error {
	switch n.kind {
	case kindDecimal:
		var r *big.Rat
		if n.ratPtr {
			if v.IsNil() {
				if n.nilOK {
					return nil
				}
				return &DecimalError{Scale: n.scale, Precision: n.precision, Reason: "nil amount for a non-nullable decimal"}
			}
			r = (*big.Rat)(v.UnsafePointer())
		} else {
			r = (*big.Rat)(v.Addr().UnsafePointer())
		}
		if reason := checkRat(r, n.scale, n.precision); reason != "" {
			return &DecimalError{Scale: n.scale, Precision: n.precision, Reason: reason}
		}
		return nil
	case kindPtr:
		if v.IsNil() {
			return nil
		}
		return n.elem.check(v.Elem())
	case kindRecord:
		for i := range n.fields {
			f := &n.fields[i]
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil {
				continue // nil embedded pointer: nothing to check
			}
			if err := f.node.check(fv); err != nil {
				return prependPath(err, f.name)
			}
		}
		return nil
	case kindRecordMap:
		if v.IsNil() {
			return nil
		}
		for i := range n.fields {
			f := &n.fields[i]
			fv := v.MapIndex(reflect.ValueOf(f.name).Convert(v.Type().Key()))
			if !fv.IsValid() {
				continue
			}
			if err := checkCopy(f.node, fv); err != nil {
				return prependPath(err, f.name)
			}
		}
		return nil
	case kindArray:
		for i := range v.Len() {
			if err := n.elem.check(v.Index(i)); err != nil {
				return prependPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	case kindMap:
		iter := v.MapRange()
		for iter.Next() {
			if err := checkCopy(n.elem, iter.Value()); err != nil {
				return prependPath(err, "["+iter.Key().String()+"]")
			}
		}
		return nil
	case kindDynamic:
		if v.IsNil() {
			return nil
		}
		e := v.Elem()
		c := n.planner.plan(n.schema, e.Type())
		if c == nil {
			return nil
		}
		return checkCopy(c, e)
	case kindUnion:
		if v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer || v.Kind() == reflect.Map || v.Kind() == reflect.Slice {
			if v.IsNil() {
				return nil
			}
		}
		e := v
		if v.Kind() == reflect.Interface {
			e = v.Elem()
		}
		// Every decimal-bearing branch the value fits must accept it.
		for _, b := range n.branches {
			c := n.planner.plan(b, e.Type())
			if c == nil {
				continue
			}
			if err := checkCopy(c, e); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// checkCopy checks a value that may not be addressable (map values,
// interface contents) by copying it when needed.
func checkCopy(n *node, v reflect.Value) error {
	if !v.CanAddr() && v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && v.Kind() != reflect.Map && v.Kind() != reflect.Slice {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	return n.check(v)
}

func prependPath(err error, elem string) error {
	if de, ok := err.(*DecimalError); ok {
		de.prepend(elem)
	}
	return err
}

var pow10 = func() [20]uint64 {
	var p [20]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// checkRat returns "" when r is exactly representable with scale fractional
// digits and at most precision digits in total, else the reason.
func checkRat(r *big.Rat, scale, precision int) string {
	num, den := r.Num(), r.Denom()
	if scale >= 0 && scale < len(pow10) && den.IsUint64() && num.IsInt64() {
		d, p := den.Uint64(), pow10[scale]
		if p%d != 0 {
			return reasonScale
		}
		n := num.Int64()
		abs := uint64(n)
		if n < 0 {
			abs = uint64(-n)
		}
		if hi, lo := bits.Mul64(abs, p/d); hi == 0 {
			if digits(lo) > precision {
				return reasonPrecision
			}
			return ""
		}
	}
	if scale < 0 {
		return reasonScale
	}
	// Slow path for amounts beyond 64 bits.
	unscaled := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	unscaled.Mul(unscaled, num)
	rem := new(big.Int)
	unscaled.QuoRem(unscaled, den, rem)
	if rem.Sign() != 0 {
		return reasonScale
	}
	if len(unscaled.Abs(unscaled).String()) > precision {
		return reasonPrecision
	}
	return ""
}

const (
	reasonScale     = "more fractional digits than the scale (the encoder would round)"
	reasonPrecision = "more digits than the precision"
)

func digits(u uint64) int {
	n := 1
	for u >= 10 {
		u /= 10
		n++
	}
	return n
}

// AppendDecimal appends r as the Avro bytes of a decimal with the given precision and scale
// (length, then the unscaled value in big-endian two's complement) byte for byte as
// hamba/avro writes it, after the same exactness check as Encode: a value that the scale
// cannot hold exactly, or whose unscaled digits exceed the precision, is a *DecimalError
// (with an empty Path) and nothing is appended. Hand-written record encoders use it for
// their decimals; values within 64 bits cost no allocation.
func AppendDecimal(dst []byte, r *big.Rat, precision, scale int) ([]byte, error) {
	if r == nil {
		return dst, &DecimalError{Scale: scale, Precision: precision, Reason: "nil"}
	}
	num, den := r.Num(), r.Denom()
	if scale >= 0 && scale < len(pow10) && precision >= 1 && precision < len(pow10) && den.IsUint64() && num.IsInt64() {
		d, p := den.Uint64(), pow10[scale]
		if p%d != 0 {
			return dst, &DecimalError{Scale: scale, Precision: precision, Reason: reasonScale}
		}
		n := num.Int64()
		mag := uint64(n)
		if n < 0 {
			mag = -mag
		}
		if hi, lo := bits.Mul64(mag, p/d); hi == 0 {
			if lo >= pow10[precision] {
				return dst, &DecimalError{Scale: scale, Precision: precision, Reason: reasonPrecision}
			}
			return AppendUnscaled(dst, lo, n < 0), nil
		}
	}
	if reason := checkRat(r, scale, precision); reason != "" {
		return dst, &DecimalError{Scale: scale, Precision: precision, Reason: reason}
	}
	// Beyond 64 bits: the arithmetic of the Avro library itself.
	i := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	i.Mul(i, num)
	i.Quo(i, den)
	var b []byte
	switch i.Sign() {
	case 0:
		b = []byte{0}
	case 1:
		b = i.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
	default:
		k := uint(i.BitLen()/8+1) * 8
		b = i.Add(i, new(big.Int).Lsh(big.NewInt(1), k)).Bytes()
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...), nil
}

// AppendUnscaled appends the Avro bytes of a decimal whose unscaled value is ±mag, as
// hamba/avro writes them: zero is one 0x00 byte; a positive value is its minimal big-endian
// magnitude, with a 0x00 in front when the top bit is set; a negative value −m takes
// bitlen(m)/8+1 bytes holding 2^(8·that) − m. It checks nothing: the caller has made sure the
// value fits the schema's precision (AppendDecimal does both).
func AppendUnscaled(dst []byte, mag uint64, neg bool) []byte {
	var buf [9]byte
	var b []byte
	switch {
	case mag == 0:
		b = buf[:1]
	case !neg:
		binary.BigEndian.PutUint64(buf[1:], mag)
		k := (bits.Len64(mag) + 7) / 8
		b = buf[9-k:]
		if b[0]&0x80 != 0 {
			b = buf[8-k:]
		}
	default:
		k := bits.Len64(mag)/8 + 1
		binary.BigEndian.PutUint64(buf[1:], -mag) // 2^64 − m
		buf[0] = 0xff                             // the ninth byte when k is 9
		b = buf[9-k:]
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
