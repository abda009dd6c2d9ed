package change

import (
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/schemas"
)

// recordSchemas parses the entity schemas once and extracts their entity records (the non-null
// branch of the "after" union).
var recordSchemas = sync.OnceValues(func() (map[Entity]avro.Schema, error) {
	out := make(map[Entity]avro.Schema, 3)
	for _, e := range []Entity{Persons, Compensations, Employments} {
		env, err := schemas.Parse(string(e))
		if err != nil {
			return nil, err
		}
		rec, ok := env.(*avro.RecordSchema)
		if !ok {
			return nil, fmt.Errorf("change: schema %s is not a record", e)
		}
		var found avro.Schema
		for _, f := range rec.Fields() {
			if f.Name() != "after" {
				continue
			}
			u, ok := f.Type().(*avro.UnionSchema)
			if !ok || len(u.Types()) != 2 {
				return nil, fmt.Errorf("change: schema %s: after is not a nullable union", e)
			}
			found = u.Types()[1]
			if r, ok := found.(*avro.RefSchema); ok {
				found = r.Schema()
			}
		}
		if found == nil {
			return nil, fmt.Errorf("change: schema %s has no after field", e)
		}
		out[e] = found
	}
	return out, nil
})

// RecordSchema returns the Avro schema of an entity's record (io.personio.cdc.Person,
// io.personio.cdc.Compensation or io.personio.cdc.employments.Employment).
func RecordSchema(e Entity) (avro.Schema, error) {
	m, err := recordSchemas()
	if err != nil {
		return nil, err
	}
	s, ok := m[e]
	if !ok {
		return nil, fmt.Errorf("change: unknown entity %q", e)
	}
	return s, nil
}

// MarshalRecord encodes a record as Avro binary with its entity's record schema
// (AppendRecord into a fresh slice). State stores keep records in this compact form.
func MarshalRecord(r Record) ([]byte, error) {
	return AppendRecord(nil, r)
}

// UnmarshalRecord decodes a record that MarshalRecord encoded.
func UnmarshalRecord(e Entity, b []byte) (Record, error) {
	s, err := RecordSchema(e)
	if err != nil {
		return nil, err
	}
	var r Record
	switch e {
	case Persons:
		r = new(Person)
	case Compensations:
		r = new(Compensation)
	case Employments:
		r = new(EmploymentRecord)
	}
	if err := avro.Unmarshal(s, b, r); err != nil {
		return nil, fmt.Errorf("change: decode %s record: %w", e, err)
	}
	return r, nil
}

// NewEnvelope returns an empty envelope of entity e to decode a topic value into:
// *PersonChange, *CompensationChange or *EmploymentChange.
func NewEnvelope(e Entity) (any, error) {
	switch e {
	case Persons:
		return new(PersonChange), nil
	case Compensations:
		return new(CompensationChange), nil
	case Employments:
		return new(EmploymentChange), nil
	}
	return nil, fmt.Errorf("change: no envelope for entity %q", e)
}

// FromEnvelope turns a decoded topic value (*PersonChange, *CompensationChange or
// *EmploymentChange) back into an Event. Key is rebuilt from the source tenant and the record id.
func FromEnvelope(v any) (Event, error) {
	var ev Event
	switch x := v.(type) {
	case *PersonChange:
		ev = Event{Entity: Persons, Op: Op(x.Op), ChangedFields: x.ChangedFields, Version: x.Version,
			EventID: x.EventID, TS: x.TSMillis, Source: x.Source}
		if x.Before != nil {
			ev.Before = x.Before
		}
		if x.After != nil {
			ev.After = x.After
		}
	case *CompensationChange:
		ev = Event{Entity: Compensations, Op: Op(x.Op), ChangedFields: x.ChangedFields, Version: x.Version,
			EventID: x.EventID, TS: x.TSMillis, Source: x.Source}
		if x.Before != nil {
			ev.Before = x.Before
		}
		if x.After != nil {
			ev.After = x.After
		}
	case *EmploymentChange:
		ev = Event{Entity: Employments, Op: Op(x.Op), ChangedFields: x.ChangedFields, Version: x.Version,
			EventID: x.EventID, TS: x.TSMillis, Source: x.Source}
		if x.Before != nil {
			ev.Before = x.Before
		}
		if x.After != nil {
			ev.After = x.After
		}
	default:
		return Event{}, fmt.Errorf("change: unknown envelope %T", v)
	}
	switch {
	case ev.After != nil:
		ev.ID = ev.After.RecordID()
		data, h, err := AppendRecordHash(nil, ev.After)
		if err != nil {
			return Event{}, err
		}
		ev.Hash, ev.AfterData = h, data
	case ev.Before != nil:
		ev.ID = ev.Before.RecordID()
	default:
		return Event{}, fmt.Errorf("change: event %s has neither before nor after", ev.EventID)
	}
	ev.Key = Key(ev.Source.Tenant, ev.ID)
	return ev, nil
}
