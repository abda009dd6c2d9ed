package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// hiddenFields is a parsed list of fields the credential may not read. Personio leaves such
// fields out of its replies without a word; the simulator does the same.
type hiddenFields struct {
	names []string            // as given, sorted
	top   map[string]bool     // whole fields: "email", "custom_attributes", "amount"
	sub   map[string][]string // field → keys in an object, or ids/global ids of list elements
}

// parseHidden validates and parses hidden field names: "field" or "field.key" (a key of an
// object field, or the id or global_id of an element of a list field, e.g.
// "custom_attributes.dynamic_1207" or "custom_attributes.iban").
func parseHidden(names []string) (*hiddenFields, error) {
	h := &hiddenFields{top: map[string]bool{}, sub: map[string][]string{}}
	var errs []error
	for _, n := range names {
		field, key, nested := strings.Cut(n, ".")
		switch {
		case field == "" || (nested && (key == "" || strings.Contains(key, "."))):
			errs = append(errs, fmt.Errorf("hidden field %q is not \"field\" or \"field.key\"", n))
			continue
		case field == "id" && !nested:
			errs = append(errs, errors.New("hidden field \"id\": Personio always sends the id"))
			continue
		}
		if nested {
			h.sub[field] = append(h.sub[field], key)
		} else {
			h.top[field] = true
		}
		h.names = append(h.names, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(h.names)
	h.names = slices.Compact(h.names)
	return h, nil
}

func (h *hiddenFields) empty() bool { return h == nil || len(h.names) == 0 }

// strip returns the JSON object obj without the hidden fields. It returns obj itself when
// nothing is hidden or obj is not an object.
func (h *hiddenFields) strip(obj []byte) []byte {
	if h.empty() {
		return obj
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return obj
	}
	changed := false
	for f := range h.top {
		if _, ok := m[f]; ok {
			delete(m, f)
			changed = true
		}
	}
	for f, keys := range h.sub {
		v, ok := m[f]
		if !ok {
			continue
		}
		if out, ok := stripKeys(v, keys); ok {
			m[f] = out
			changed = true
		}
	}
	if !changed {
		return obj
	}
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return b
}

// stripKeys removes keys from an object, or the elements whose id or global_id is one of
// keys from a list of objects. ok is false when v is neither or nothing was removed.
func stripKeys(v json.RawMessage, keys []string) (json.RawMessage, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return v, false
	}
	switch v[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil {
			return v, false
		}
		n := len(m)
		for _, k := range keys {
			delete(m, k)
		}
		if len(m) == n {
			return v, false
		}
		b, err := json.Marshal(m)
		return b, err == nil
	case '[':
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil {
			return v, false
		}
		kept := list[:0:0]
		for _, el := range list {
			var ids struct {
				ID       any `json:"id"`
				GlobalID any `json:"global_id"`
			}
			_ = json.Unmarshal(el, &ids)
			if slices.Contains(keys, idText(ids.ID)) || slices.Contains(keys, idText(ids.GlobalID)) {
				continue
			}
			kept = append(kept, el)
		}
		if len(kept) == len(list) {
			return v, false
		}
		b, err := json.Marshal(kept)
		return b, err == nil
	}
	return v, false
}

func idText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	default:
		return "\x00"
	}
}

// hiddenNow returns the fields hidden at this moment.
func (s *Server) hiddenNow() *hiddenFields {
	if h := s.hidden.Load(); h != nil {
		return h
	}
	h, err := parseHidden(s.opts.HiddenFields) // validated in New
	if err != nil {
		h = &hiddenFields{}
	}
	s.hidden.CompareAndSwap(nil, h)
	return s.hidden.Load()
}

// hide strips the hidden fields from every item of a page.
func (s *Server) hide(items [][]byte) [][]byte {
	h := s.hiddenNow()
	if h.empty() {
		return items
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = h.strip(it)
	}
	return out
}

// SetHiddenFields replaces the fields the API leaves out of person and compensation replies,
// as Personio does for a credential without the scope of a field: "email", "first_name",
// "custom_attributes" (all of them), "custom_attributes.<id or global_id>" (one), "amount"
// (of compensations), or any other field name of a reply, optionally with ".<key>" for a key
// of an object field. A field name applies wherever a reply has it. Nil or empty shows every
// field again. Truth is unaffected. Invalid names are reported and nothing changes.
func (s *Server) SetHiddenFields(fields []string) error {
	h, err := parseHidden(fields)
	if err != nil {
		return fmt.Errorf("personiotest: %w", err)
	}
	s.hidden.Store(h)
	return nil
}

// HiddenFields returns the fields hidden at this moment, sorted.
func (s *Server) HiddenFields() []string { return append([]string{}, s.hiddenNow().names...) }

func (s *Server) adminPutHidden(w http.ResponseWriter, r *http.Request) {
	var fields []string
	if !readAdminBody(w, r, &fields, "a JSON list of field names") {
		return
	}
	if err := s.SetHiddenFields(fields); err != nil {
		adminError(w, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.HiddenFields())
}

func (s *Server) adminGetHidden(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.HiddenFields())
}
