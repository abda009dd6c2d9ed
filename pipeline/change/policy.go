package change

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// Action is what a field policy does with a field: keep it, drop it (null, or an empty list)
// or hash it (keyed HMAC-SHA256 in lower-case hex, a string consumers can still join on).
type Action string

// The actions of a field policy.
const (
	ActionKeep Action = "keep"
	ActionDrop Action = "drop"
	ActionHash Action = "hash"
)

// MinPolicyKeyBytes is the shortest key a policy that hashes accepts.
const MinPolicyKeyBytes = 16

// PolicyError is a field policy that cannot be applied: an unknown entity or field, an
// unknown action, or an action the field's schema type cannot carry. It names the entity and
// field, never a value.
type PolicyError struct {
	Entity string
	Field  string // empty when the problem is with the entity or the file as a whole
	Reason string
}

// Error implements error.
func (e *PolicyError) Error() string {
	switch {
	case e.Entity == "":
		return e.Reason
	case e.Field == "":
		return fmt.Sprintf("%s: %s", e.Entity, e.Reason)
	default:
		return fmt.Sprintf("%s.%s: %s", e.Entity, e.Field, e.Reason)
	}
}

// Policy says, per entity and field, what of the normal form is published. It is applied to
// every listed record right after normalisation (Normalizer.UsePolicy), before the content
// hash, the diff and the state, so a dropped value reaches neither Kafka nor the state; and to
// every before image taken from the state (Scrub), so a record published before the policy
// does not carry its old values into the event that replaces it. Unlisted fields are kept.
//
// Field paths are the Avro field names as changed_fields writes them: "email",
// "custom_attributes.<id>" (the attribute's value_json), "employments.*.position_title"
// (every employment; "*" stands for the ids of employments, org units and cost centers),
// "employments.*.termination.reason", "type_name". Dropping makes a field null (a list
// empty); only a nullable field can be dropped. Hashing replaces a text with the lower-case
// hex of HMAC-SHA256(key, text) — the text in normal form (an e-mail trimmed and
// lower-cased) — and a custom attribute's value_json with that hash of its canonical JSON
// text, as a JSON string; only a string field can be hashed (a date, an instant or a decimal
// can only be dropped: a string in their place would need a schema change). Ids and the
// fields the service itself reads (updated_at, a compensation's person_id and
// effective_from) can be neither.
//
// A nil *Policy keeps everything.
type Policy struct {
	rules       map[Entity][]policyRule
	key         []byte
	fingerprint string
}

type policyRule struct {
	path   string
	action Action
	steps  []policyStep
}

// policyStep is one segment of a resolved path: a struct field by its Avro name, then
// optionally every element of the list it is (each) or the custom attribute with an id.
type policyStep struct {
	field string
	each  bool
	attr  string // custom attribute id: the step ends at its value_json
}

// ParsePolicy reads a field policy from YAML:
//
//	persons:
//	  email: hash
//	  custom_attributes.dynamic_1234: drop
//	compensations:
//	  type_name: keep
//
// key is the HMAC key for hash rules (at least MinPolicyKeyBytes bytes when a field is
// hashed; ignored otherwise). An empty document is a policy that keeps everything. Every
// problem is a *PolicyError.
func ParsePolicy(data []byte, key []byte) (*Policy, error) {
	var doc map[string]map[string]string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, &PolicyError{Reason: "not a policy (a map of entity to a map of field to keep, drop or hash): " + yamlReason(err)}
	}
	spec := make(map[Entity]map[string]Action, len(doc))
	for ent, fields := range doc {
		m := make(map[string]Action, len(fields))
		for f, a := range fields {
			m[f] = Action(strings.ToLower(strings.TrimSpace(a)))
		}
		spec[Entity(ent)] = m
	}
	return NewPolicy(spec, key)
}

// yamlReason is the YAML library's message without its prefix; it names lines and types,
// not values.
func yamlReason(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// NewPolicy builds a policy from rules per entity and field path (see Policy). key is the
// HMAC key for hash rules. Every problem is a *PolicyError; the first in entity and field
// order is returned.
func NewPolicy(spec map[Entity]map[string]Action, key []byte) (*Policy, error) {
	p := &Policy{rules: make(map[Entity][]policyRule)}
	hashes := false
	for _, ent := range slices.Sorted(maps.Keys(spec)) {
		if !slices.Contains(Entities(), ent) {
			reason := "no such entity (" + strings.Join(Names(), ", ") + ")"
			return nil, &PolicyError{Entity: string(ent), Reason: reason}
		}
		for _, path := range slices.Sorted(maps.Keys(spec[ent])) {
			action := spec[ent][path]
			switch action {
			case ActionKeep, ActionDrop, ActionHash:
			default:
				return nil, &PolicyError{Entity: string(ent), Field: path, Reason: fmt.Sprintf("unknown action %q (keep, drop or hash)", string(action))}
			}
			steps, err := resolvePolicyPath(ent, path, action)
			if err != nil {
				return nil, err
			}
			if action == ActionKeep {
				continue
			}
			hashes = hashes || action == ActionHash
			p.rules[ent] = append(p.rules[ent], policyRule{path: path, action: action, steps: steps})
		}
	}
	if hashes {
		if len(key) < MinPolicyKeyBytes {
			return nil, &PolicyError{Reason: fmt.Sprintf("the policy hashes fields but the hash key is missing or shorter than %d bytes", MinPolicyKeyBytes)}
		}
		p.key = slices.Clone(key)
	}
	p.fingerprint = p.computeFingerprint()
	return p, nil
}

// resolvePolicyPath checks path against the entity's Avro record schema (the contract the
// consumers read) and returns its steps; keep rules are checked for their names only.
func resolvePolicyPath(ent Entity, path string, action Action) ([]policyStep, error) {
	bad := func(reason string) ([]policyStep, error) {
		return nil, &PolicyError{Entity: string(ent), Field: path, Reason: reason}
	}
	d, err := Describe(ent)
	if err != nil {
		return nil, fmt.Errorf("change: %w", err)
	}
	if reason, ok := d.Reserved[path]; ok && action != ActionKeep {
		return bad("cannot be dropped or hashed: " + reason)
	}
	schema, err := RecordSchema(ent)
	if err != nil {
		return nil, err
	}
	rec := codec.Describe(schema)
	if rec.Type != "record" {
		return nil, fmt.Errorf("change: schema of %s is not a record", ent)
	}
	segs := strings.Split(path, ".")
	var steps []policyStep
	for i := 0; i < len(segs); i++ {
		seg, last := segs[i], i == len(segs)-1
		f := rec.Field(seg)
		if f == nil {
			return bad("no such field")
		}
		if seg == "id" && action != ActionKeep {
			return bad("cannot be dropped or hashed: it is the identity of the record")
		}
		inner, nullable := f.Type.Nullable()
		switch inner.Type {
		case "array":
			if last {
				if action == ActionHash {
					return bad("is a list: it can be dropped (made empty), not hashed")
				}
				return append(steps, policyStep{field: seg}), nil
			}
			next := segs[i+1]
			if seg == "custom_attributes" {
				if next == "*" || next == "" || i+2 != len(segs) {
					return bad("name one custom attribute by its id, as a whole: custom_attributes.<id>")
				}
				return append(steps, policyStep{field: seg, attr: next}), nil
			}
			if next != "*" || inner.Items.Type != "record" || i+2 == len(segs) {
				return bad(fmt.Sprintf("name a field of every element of %s: %s.*.<field>", seg, seg))
			}
			steps = append(steps, policyStep{field: seg, each: true})
			rec = inner.Items
			i++
		case "record":
			steps = append(steps, policyStep{field: seg})
			if !last {
				rec = inner
				continue
			}
			switch {
			case action == ActionHash:
				return bad("is a record: it can be dropped, not hashed")
			case action == ActionDrop && !nullable:
				return bad("the schema requires a value: it cannot be dropped")
			}
			return steps, nil
		default:
			if !last {
				return bad("no such field")
			}
			switch {
			case action == ActionDrop && !nullable:
				return bad("the schema requires a value: it cannot be dropped")
			case action == ActionHash && (inner.Type != "string" || inner.Logical != ""):
				return bad(fmt.Sprintf("is a %s in the schema; a hash is text and would need a schema change, so it can only be dropped", schemaKind(inner)))
			}
			return append(steps, policyStep{field: seg}), nil
		}
	}
	return bad("no such field")
}

// schemaKind names a schema type for a message: date, timestamp, decimal, or its Avro type.
func schemaKind(n *codec.Node) string {
	switch n.Logical {
	case "":
		return n.Type
	case "timestamp-millis", "timestamp-micros":
		return "timestamp"
	}
	return n.Logical
}

// Active reports whether the policy drops or hashes anything.
func (p *Policy) Active() bool { return p != nil && len(p.rules) > 0 }

// Fingerprint identifies what the policy does: the same rules (keep rules left out) with the
// same hash key give the same fingerprint. It reveals neither the key nor any value. Empty
// for a nil policy.
func (p *Policy) Fingerprint() string {
	if p == nil {
		return ""
	}
	return p.fingerprint
}

func (p *Policy) computeFingerprint() string {
	h := sha256.New()
	for _, ent := range slices.Sorted(maps.Keys(p.rules)) {
		for _, r := range p.rules[ent] {
			fmt.Fprintf(h, "%s\t%s\t%s\n", ent, r.path, r.action)
		}
	}
	if p.key != nil {
		k := sha256.Sum256(append([]byte("personio-cdc field policy key\x00"), p.key...))
		fmt.Fprintf(h, "key\t%x\n", k)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Fields returns, per entity, the sorted field paths the policy treats with action.
func (p *Policy) Fields(action Action) map[Entity][]string {
	out := map[Entity][]string{}
	if p == nil {
		return out
	}
	for ent, rules := range p.rules {
		for _, r := range rules {
			if r.action == action {
				out[ent] = append(out[ent], r.path)
			}
		}
		slices.Sort(out[ent])
	}
	return out
}

// PolicySummary is what a policy does, in field names only: for logs and /status.
type PolicySummary struct {
	Fingerprint string              `json:"fingerprint"`
	Drop        map[Entity][]string `json:"drop"`
	Hash        map[Entity][]string `json:"hash"`
}

// Summary returns the fingerprint and the fields dropped and hashed.
func (p *Policy) Summary() PolicySummary {
	return PolicySummary{Fingerprint: p.Fingerprint(), Drop: p.Fields(ActionDrop), Hash: p.Fields(ActionHash)}
}

// LogValue implements slog.LogValuer: the fingerprint and the field names, never the key.
func (p *Policy) LogValue() slog.Value {
	if !p.Active() {
		return slog.StringValue("none")
	}
	attrs := []slog.Attr{slog.String("fingerprint", p.fingerprint)}
	for _, a := range []Action{ActionDrop, ActionHash} {
		f := p.Fields(a)
		for _, ent := range slices.Sorted(maps.Keys(f)) {
			attrs = append(attrs, slog.String(string(a)+"."+string(ent), strings.Join(f[ent], ",")))
		}
	}
	return slog.GroupValue(attrs...)
}

// String is the fingerprint.
func (p *Policy) String() string { return p.Fingerprint() }

// Apply applies the policy to a record in normal form (*Person or *Compensation), in place,
// and reports whether it changed anything. Every value of a hashed field is hashed.
func (p *Policy) Apply(r Record) bool { return p.apply(r, false) }

// Scrub applies the policy to a record taken from the state, a before image, in place, and
// reports whether it changed anything. A hashed field whose value already is a hash (64
// lower-case hex digits; for a custom attribute that text as a JSON string) is left as it is:
// the state holds what was published, under this policy or an earlier one.
func (p *Policy) Scrub(r Record) bool { return p.apply(r, true) }

func (p *Policy) apply(r Record, stored bool) bool {
	if !p.Active() || r == nil {
		return false
	}
	v := reflect.ValueOf(r)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	changed := false
	for _, rule := range p.rules[r.Entity()] {
		if p.applySteps(v.Elem(), rule.steps, rule.action, stored) {
			changed = true
		}
	}
	return changed
}

func (p *Policy) applySteps(v reflect.Value, steps []policyStep, action Action, stored bool) bool {
	st := steps[0]
	sf, ok := FieldByAvro(v.Type(), st.field)
	if !ok {
		return false
	}
	fv := v.FieldByIndex(sf.Index)
	switch {
	case st.attr != "":
		changed := false
		for i := range fv.Len() {
			if a, ok := fv.Index(i).Addr().Interface().(*CustomAttribute); ok && a.ID == st.attr {
				changed = p.attrValue(a, action, stored) || changed
			}
		}
		return changed
	case st.each:
		changed := false
		for i := range fv.Len() {
			changed = p.applySteps(fv.Index(i), steps[1:], action, stored) || changed
		}
		return changed
	case len(steps) > 1:
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				return false
			}
			fv = fv.Elem()
		}
		return p.applySteps(fv, steps[1:], action, stored)
	}
	switch action {
	case ActionDrop:
		switch fv.Kind() {
		case reflect.Pointer:
			if fv.IsNil() {
				return false
			}
			fv.SetZero()
			return true
		case reflect.Slice:
			if fv.Len() == 0 {
				return false
			}
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			return true
		}
	case ActionHash:
		switch {
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.String:
			if fv.IsNil() || stored && isPolicyHash(fv.Elem().String()) {
				return false
			}
			h := p.hash(fv.Elem().String())
			fv.Set(reflect.ValueOf(&h))
			return true
		case fv.Kind() == reflect.String:
			if stored && isPolicyHash(fv.String()) {
				return false
			}
			fv.SetString(p.hash(fv.String()))
			return true
		}
	}
	return false
}

// attrValue drops or hashes a custom attribute's value_json.
func (p *Policy) attrValue(a *CustomAttribute, action Action, stored bool) bool {
	if a.ValueJSON == nil {
		return false
	}
	switch action {
	case ActionDrop:
		a.ValueJSON = nil
		return true
	case ActionHash:
		s := *a.ValueJSON
		if stored && len(s) == 2+hashHexLen && s[0] == '"' && s[len(s)-1] == '"' && isPolicyHash(s[1:len(s)-1]) {
			return false
		}
		h := `"` + p.hash(s) + `"`
		a.ValueJSON = &h
		return true
	}
	return false
}

const hashHexLen = 2 * sha256.Size

// hash is the lower-case hex of HMAC-SHA256(key, s).
func (p *Policy) hash(s string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// isPolicyHash reports whether s looks like a hash the policy wrote: 64 lower-case hex digits.
func isPolicyHash(s string) bool {
	if len(s) != hashHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// FieldByAvro returns the field of struct type t whose avro tag is name.
func FieldByAvro(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("avro") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
