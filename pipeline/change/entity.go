package change

import (
	"fmt"
	"strings"
	"time"
)

// Descriptor is one kind of entity as the whole pipeline sees it: the one place that says
// what an entity is. The extractor, the differ, the publisher, the state rebuild, the erasure,
// inspect and the metrics read it; none of them keeps a list of entities or a switch on an
// entity's name of its own. An entity is
//
//   - its name (Entity): the topic suffix (<prefix>.<name>), the schema
//     (schemas/<name>.avsc, subject <prefix>.<name>-value), the "entity" header, the entity
//     label of metrics and the entity of /status and of a run's result;
//   - its key: the record's RecordID, the id part of "<tenant>:<id>"; and SubjectID, the
//     person whose data the record is (erasure);
//   - its normal form: the record type and its envelope, built by describe from the Go type
//     that matches the schema's record field for field; Items (items.go) turn what a listing
//     sent into records;
//   - its listing scopes (Scope): which listing covers a stored record, so that a delete is
//     inferred only from a listing of that scope that completed;
//   - its guards: the mass-delete and the field-loss guards compare within the scopes a run
//     listed (Scope again), and Reserved names the fields a field policy may not change;
//   - how inspect summarises a record (Summary).
//
// How an entity is listed lives beside the other listings in pipeline/extract (one lister per
// entity, checked against Entities by a test): it is Personio's API, not the entity's shape.
type Descriptor struct {
	// Entity is the name.
	Entity Entity
	// Scope returns the listing scope that covers a record of the entity (the Scope of the
	// extract.Snapshot that lists it, e.g. "compensations:2026-11" for a compensation
	// effective in November 2026). nil: the entity has one scope, the whole tenant, named
	// Entity; a stored record then need not be decoded to know it is inside.
	Scope func(Record) (string, error)
	// Moved are the field families (diff.FieldEmpty's names; a name ending in "." stands for
	// every family it begins) that records of the entity no longer fill because another
	// entity publishes them: the field-loss guard does not count their going empty.
	Moved []string
	// Reserved are the fields no field policy may drop or hash, with the reason: the
	// service reads them (identity, scopes, high-water marks).
	Reserved map[string]string
	// Summary returns a few words about a record for inspect's summary lines (tail, replay,
	// the demo), given a reader of its fields as text by Avro name ("" when absent). It
	// shows personal data, so it is never logged.
	Summary func(field func(name string) string) []string

	newRecord   func() Record
	newEnvelope func() Envelope
	envelope    func(Event) (Envelope, error)
}

// describe builds the descriptor of an entity whose records are *R.
func describe[R any, P interface {
	*R
	Record
}](d Descriptor) *Descriptor {
	d.newRecord = func() Record { return P(new(R)) }
	d.newEnvelope = func() Envelope { return new(Change[R]) }
	d.envelope = func(ev Event) (Envelope, error) {
		before, ok1 := asRecord[R, P](ev.Before)
		after, ok2 := asRecord[R, P](ev.After)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("change: %s event %s carries a record of another type", d.Entity, ev.EventID)
		}
		changed := ev.ChangedFields
		if changed == nil {
			changed = []string{}
		}
		return &Change[R]{EventID: ev.EventID, Op: string(ev.Op), TSMillis: ev.TS, Source: ev.Source,
			Before: (*R)(before), After: (*R)(after), ChangedFields: changed, Version: ev.Version}, nil
	}
	return &d
}

// asRecord returns r as a *R (nil for nil) and whether it is one.
func asRecord[R any, P interface {
	*R
	Record
}](r Record) (P, bool) {
	if r == nil {
		return nil, true
	}
	p, ok := r.(P)
	return p, ok
}

// descriptors are the entities the service publishes, in the order runs list them. They are
// set in init: their functions reach Describe, which reads them.
var descriptors []*Descriptor

func init() { descriptors = entityList() }

func entityList() []*Descriptor {
	return []*Descriptor{
		describe[Person](Descriptor{
			Entity: Persons,
			// Since the employments topic (2026-12) a person carries its employments as ids;
			// the details it carried before go empty once per person, and that is no loss.
			Moved: []string{"employments.*."},
			Reserved: map[string]string{
				"updated_at": "incremental syncs read it (and a change of it alone is never published)",
			},
			Summary: func(f func(string) string) []string {
				name := strings.TrimSpace(f("first_name") + " " + f("last_name"))
				if p := f("preferred_name"); p != "" && p != f("first_name") && p != name {
					name += " (" + p + ")"
				}
				return nonEmptyWords(name, f("status"), f("email"))
			},
		}),
		describe[Compensation](Descriptor{
			Entity: Compensations,
			Scope: func(r Record) (string, error) {
				c, err := decodedAs[Compensation](r)
				if err != nil {
					return "", err
				}
				return MonthScope(Compensations, c.EffectiveFrom), nil
			},
			Reserved: map[string]string{
				"person_id":      "it is part of the compensation's identity and the service reads it",
				"effective_from": "it is part of the compensation's identity and the service reads it",
			},
			Summary: func(f func(string) string) []string {
				from := f("effective_from")
				if from != "" {
					from = "from " + from
				}
				return nonEmptyWords(f("type_name"), strings.TrimSpace(f("amount")+" "+f("currency")),
					strings.ToLower(f("interval")), from)
			},
		}),
		describe[EmploymentRecord](Descriptor{
			Entity: Employments,
			Scope: func(r Record) (string, error) {
				m, err := decodedAs[EmploymentRecord](r)
				if err != nil {
					return "", err
				}
				return ScopeName(Employments, m.PersonID), nil
			},
			Reserved: map[string]string{
				"person_id": "it names the person whose employment listing covers the employment",
			},
			Summary: func(f func(string) string) []string {
				return nonEmptyWords(f("position_title"), f("status"), f("weekly_working_hours"))
			},
		}),
	}
}

// decodedAs returns r as a *R.
func decodedAs[R any](r Record) (*R, error) {
	x, ok := any(r).(*R)
	if !ok {
		return nil, fmt.Errorf("change: a %T is not a %T", r, x)
	}
	return x, nil
}

func nonEmptyWords(ws ...string) []string {
	out := ws[:0:0]
	for _, w := range ws {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Entities returns the entities the service publishes, in the order runs list them.
func Entities() []Entity {
	out := make([]Entity, len(descriptors))
	for i, d := range descriptors {
		out[i] = d.Entity
	}
	return out
}

// Names returns Entities as text.
func Names() []string {
	es := Entities()
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e)
	}
	return out
}

// Describe returns the descriptor of an entity, or an error matching ErrUnknownEntity that
// names the known ones.
func Describe(e Entity) (*Descriptor, error) {
	for _, d := range descriptors {
		if d.Entity == e {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownEntity, e, NameList())
}

// NameList returns the entity names as a list for messages: "persons or compensations",
// "a, b or c".
func NameList() string {
	n := Names()
	if len(n) < 2 {
		return strings.Join(n, "")
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

// ScopeName names a scope of an entity listed in parts, e.g. "employments:<person id>".
func ScopeName(e Entity, part string) string { return string(e) + ":" + part }

// MonthScope names the scope of a month of an entity listed by month windows, e.g.
// "compensations:2026-11" for any instant of November 2026 (UTC).
func MonthScope(e Entity, t time.Time) string { return ScopeName(e, t.UTC().Format("2006-01")) }

// MovedOut reports whether the field family fam is one of Moved.
func (d *Descriptor) MovedOut(fam string) bool {
	for _, m := range d.Moved {
		if fam == m || (strings.HasSuffix(m, ".") && strings.HasPrefix(fam, m)) {
			return true
		}
	}
	return false
}

// New returns an empty record of the entity, to decode into.
func (d *Descriptor) New() Record { return d.newRecord() }

// NewEnvelope returns an empty envelope of the entity, to decode a topic value into.
func (d *Descriptor) NewEnvelope() Envelope { return d.newEnvelope() }

// ScopeOf returns the scope that covers r: Scope's, or the entity's name when it has one
// scope.
func (d *Descriptor) ScopeOf(r Record) (string, error) {
	if d.Scope == nil {
		return string(d.Entity), nil
	}
	return d.Scope(r)
}

// Envelope is the value of an entity's topic as Go values: a *Change of the entity's record
// type, as NewEnvelope returns it and Event.Envelope fills it.
type Envelope interface {
	// Event turns the decoded envelope back into an Event. Key is rebuilt from the source
	// tenant and the record id.
	Event() (Event, error)
}

// Change is the envelope of DESIGN.md §3 around records of type R: the value of an entity's
// topic (Avro record io.personio.cdc.<Name>Change), field for field.
type Change[R any] struct {
	EventID       string    `avro:"event_id"`
	Op            string    `avro:"op"`
	TSMillis      time.Time `avro:"ts_ms"`
	Source        Source    `avro:"source"`
	Before        *R        `avro:"before"`
	After         *R        `avro:"after"`
	ChangedFields []string  `avro:"changed_fields"`
	Version       int64     `avro:"version"`
}

// PersonChange is the value of the persons topic (Avro record io.personio.cdc.PersonChange).
type PersonChange = Change[Person]

// CompensationChange is the value of the compensations topic (Avro record
// io.personio.cdc.CompensationChange).
type CompensationChange = Change[Compensation]

// Event implements Envelope.
func (c *Change[R]) Event() (Event, error) {
	ev := Event{Op: Op(c.Op), ChangedFields: c.ChangedFields, Version: c.Version,
		EventID: c.EventID, TS: c.TSMillis, Source: c.Source}
	if c.Before != nil {
		r, ok := any(c.Before).(Record)
		if !ok {
			return Event{}, fmt.Errorf("change: %T is not a record", c.Before)
		}
		ev.Before = r
	}
	if c.After != nil {
		r, ok := any(c.After).(Record)
		if !ok {
			return Event{}, fmt.Errorf("change: %T is not a record", c.After)
		}
		ev.After = r
	}
	switch {
	case ev.After != nil:
		ev.Entity, ev.ID = ev.After.Entity(), ev.After.RecordID()
		data, h, err := AppendRecordHash(nil, ev.After)
		if err != nil {
			return Event{}, err
		}
		ev.Hash, ev.AfterData = h, data
	case ev.Before != nil:
		ev.Entity, ev.ID = ev.Before.Entity(), ev.Before.RecordID()
	default:
		return Event{}, fmt.Errorf("change: event %s has neither before nor after", ev.EventID)
	}
	ev.Key = Key(ev.Source.Tenant, ev.ID)
	return ev, nil
}
