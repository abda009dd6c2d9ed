package diff

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// noteLoss remembers the field families that go from a value to empty between the stored
// record and the listed one of key. It keeps nothing when no field was emptied, which is the
// common case, so a run holds no more than the keys that lost something.
func (r *Run) noteLoss(key string, before, after change.Record, changed []string) {
	if r.d.guardOff || len(changed) == 0 {
		return
	}
	var fams []string
	for _, path := range changed {
		fam, wasEmpty := FieldEmpty(before, path)
		if fam == "" || wasEmpty || r.desc.MovedOut(fam) {
			continue
		}
		if _, nowEmpty := FieldEmpty(after, path); nowEmpty && !slices.Contains(fams, fam) {
			fams = append(fams, fam)
		}
	}
	if len(fams) == 0 {
		return
	}
	if r.lost == nil {
		r.lost = make(map[string][]string)
	}
	r.lost[key] = fams
}

// lostPerFamily counts, per field family, the pending events that emptied it (none when the
// guard is off). It forgets what noteLoss kept.
func (r *Run) lostPerFamily() map[string]int {
	defer func() { r.lost = nil }()
	if r.d.guardOff || len(r.lost) == 0 {
		return nil
	}
	per := map[string]int{}
	for key, fams := range r.lost {
		if !r.pending(key) { // dropped as a conflict
			continue
		}
		for _, f := range fams {
			per[f]++
		}
	}
	return per
}

// fieldLossGuard returns a *FieldLossError when a family was emptied (per, from
// lostPerFamily) for more than the guard's share of count, the tenant's stored entries
// inside the scope the listing looked at (Scope.Listed).
func (r *Run) fieldLossGuard(per map[string]int, count int) error {
	if len(per) == 0 || count < r.d.guardMin {
		return nil
	}
	var err *FieldLossError
	for _, f := range slices.Sorted(maps.Keys(per)) {
		n := per[f]
		if float64(n) <= r.d.ratio*float64(count) {
			continue
		}
		if err == nil {
			err = &FieldLossError{Entity: r.entity, Count: count, Ratio: r.d.ratio}
		}
		err.Fields = append(err.Fields, f)
		if n > err.Lost {
			err.Field, err.Lost = f, n
		}
	}
	if err == nil {
		return nil
	}
	return err
}

// FieldEmpty resolves a changed-field path (as change.ChangedFields names it) in rec. It
// returns the path's family — the path with the ids of employments, org units and cost
// centers replaced by "*" ("employments.*.status"); custom attributes keep their id, each
// being a field of its own ("custom_attributes.dynamic_1") — and whether the field is empty
// in rec: null, empty text or list, or an element of a list that is absent (a custom
// attribute also when its value is null). A path that names no field returns "".
func FieldEmpty(rec change.Record, path string) (family string, empty bool) {
	if rec == nil || path == "" {
		return "", true
	}
	v := reflect.ValueOf(rec)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return "", true
	}
	v = v.Elem()
	segs := strings.Split(path, ".")
	fam := make([]string, 0, len(segs))
	missing := false
	for i := 0; i < len(segs); i++ {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				missing = true
				v = reflect.Zero(v.Type().Elem())
				continue
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct || v.Type() == timeType {
			return "", true
		}
		f, ok := change.FieldByAvro(v.Type(), segs[i])
		if !ok {
			return "", true
		}
		fam = append(fam, segs[i])
		fv := v.FieldByIndex(f.Index)
		if opts := f.Tag.Get("diff"); hasOpt(opts, "byid") && i+1 < len(segs) {
			i++
			id := segs[i]
			if hasOpt(opts, "atomic") {
				fam = append(fam, id)
			} else {
				fam = append(fam, "*")
			}
			el, found := elemByID(fv, id)
			if !found {
				missing = true
				el = reflect.Zero(fv.Type().Elem())
			}
			fv = el
		}
		v = fv
	}
	return strings.Join(fam, "."), missing || isEmpty(v)
}

var timeType = reflect.TypeFor[time.Time]()

func elemByID(list reflect.Value, id string) (reflect.Value, bool) {
	if list.Kind() != reflect.Slice {
		return reflect.Value{}, false
	}
	for i := range list.Len() {
		el := list.Index(i)
		if f, ok := change.FieldByAvro(el.Type(), "id"); ok && el.FieldByIndex(f.Index).String() == id {
			return el, true
		}
	}
	return reflect.Value{}, false
}

// isEmpty reports whether a field value carries nothing: a nil pointer, empty text, an empty
// list, the zero time, or a struct whose value_json (a custom attribute's value) is empty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || isEmpty(v.Elem())
	case reflect.String:
		return v.Len() == 0
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Struct:
		if v.Type() == timeType {
			return v.Interface().(time.Time).IsZero()
		}
		if f, ok := change.FieldByAvro(v.Type(), "value_json"); ok {
			fv := v.FieldByIndex(f.Index)
			return isEmpty(fv) || (fv.Kind() == reflect.Pointer && fv.Elem().String() == "null")
		}
		return false
	default:
		return false
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
