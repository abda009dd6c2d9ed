package change

import (
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"
)

// ChangedFields returns the sorted dot paths of the content fields that differ between two
// records of the same entity. Fields are named by their Avro names; elements of lists are
// named by id, e.g. "email", "custom_attributes.<id>", "employments.<id>.status",
// "employments.<id>.cost_centers.<id>.weight". An element added or removed is named by its
// path alone ("employments.<id>"); a custom attribute is reported as a whole. Volatile fields
// (updated_at) are never listed: they are not part of the content hash either.
func ChangedFields(before, after Record) []string {
	var out []string
	if before == nil || after == nil || reflect.TypeOf(before) != reflect.TypeOf(after) {
		return out
	}
	diffStruct(&out, "", reflect.ValueOf(before).Elem(), reflect.ValueOf(after).Elem())
	slices.Sort(out)
	return out
}

var (
	timeType = reflect.TypeFor[time.Time]()
	ratType  = reflect.TypeFor[big.Rat]()
)

func diffStruct(out *[]string, prefix string, a, b reflect.Value) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("avro")
		if name == "" || name == "-" {
			continue
		}
		opts := f.Tag.Get("diff")
		if hasOpt(opts, "volatile") {
			continue
		}
		path := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case hasOpt(opts, "byid"):
			diffByID(out, path, fa, fb, hasOpt(opts, "atomic"))
		case fa.Kind() == reflect.Pointer && fa.Type().Elem().Kind() == reflect.Struct && !isLeafStruct(fa.Type().Elem()):
			switch {
			case fa.IsNil() && fb.IsNil():
			case fa.IsNil() || fb.IsNil():
				*out = append(*out, path)
			default:
				diffStruct(out, path+".", fa.Elem(), fb.Elem())
			}
		default:
			if !equalValue(fa, fb) {
				*out = append(*out, path)
			}
		}
	}
}

func diffByID(out *[]string, path string, a, b reflect.Value, atomic bool) {
	index := func(v reflect.Value) map[string]reflect.Value {
		m := make(map[string]reflect.Value, v.Len())
		for i := range v.Len() {
			m[elemID(v.Index(i))] = v.Index(i)
		}
		return m
	}
	ma, mb := index(a), index(b)
	for id, ea := range ma {
		eb, ok := mb[id]
		switch {
		case !ok:
			*out = append(*out, path+"."+id)
		case atomic:
			if !equalValue(ea, eb) {
				*out = append(*out, path+"."+id)
			}
		default:
			diffStruct(out, path+"."+id+".", ea, eb)
		}
	}
	for id := range mb {
		if _, ok := ma[id]; !ok {
			*out = append(*out, path+"."+id)
		}
	}
}

func elemID(v reflect.Value) string {
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("avro") == "id" {
			return v.Field(i).String()
		}
	}
	return ""
}

func isLeafStruct(t reflect.Type) bool { return t == timeType || t == ratType }

// equalValue compares values of the record types: pointers by what they point to, times
// by instant, decimals by value, everything else field by field.
func equalValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Struct:
		switch a.Type() {
		case timeType:
			return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
		case ratType:
			ra, rb := a.Addr().Interface().(*big.Rat), b.Addr().Interface().(*big.Rat)
			return ra.Cmp(rb) == 0
		}
		for i := range a.NumField() {
			if a.Type().Field(i).Tag.Get("avro") == "" {
				continue
			}
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Int, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

func hasOpt(tag, opt string) bool {
	for o := range strings.SplitSeq(tag, ",") {
		if o == opt {
			return true
		}
	}
	return false
}
