package change

import (
	"fmt"
	"sync"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// recordSchemas parses the entity schemas once and extracts their entity records (the non-null
// branch of the "after" union).
var recordSchemas = sync.OnceValues(func() (map[Entity]codec.Schema, error) {
	out := make(map[Entity]codec.Schema, len(descriptors))
	for _, d := range descriptors {
		e := d.Entity
		env, err := schemas.Parse(string(e))
		if err != nil {
			return nil, err
		}
		rec, err := codec.NullableField(env, "after")
		if err != nil {
			return nil, fmt.Errorf("change: schema %s: %w", e, err)
		}
		out[e] = rec
	}
	return out, nil
})

// RecordSchema returns the Avro schema of an entity's record (io.personio.cdc.Person,
// io.personio.cdc.Compensation, …).
func RecordSchema(e Entity) (codec.Schema, error) {
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
	d, err := Describe(e)
	if err != nil {
		return nil, fmt.Errorf("change: %w", err)
	}
	s, err := RecordSchema(e)
	if err != nil {
		return nil, err
	}
	r := d.New()
	if err := recordCodec.Unmarshal(s, b, r); err != nil {
		return nil, fmt.Errorf("change: decode %s record: %w", e, err)
	}
	return r, nil
}

// NewEnvelope returns an empty envelope of entity e to decode a topic value into
// (Descriptor.NewEnvelope): *PersonChange, *CompensationChange, ….
func NewEnvelope(e Entity) (Envelope, error) {
	d, err := Describe(e)
	if err != nil {
		return nil, fmt.Errorf("change: no envelope: %w", err)
	}
	return d.NewEnvelope(), nil
}

// FromEnvelope turns a decoded topic value (an Envelope: *PersonChange, *CompensationChange,
// …) back into an Event. Key is rebuilt from the source tenant and the record id.
func FromEnvelope(v any) (Event, error) {
	env, ok := v.(Envelope)
	if !ok {
		return Event{}, fmt.Errorf("change: unknown envelope %T", v)
	}
	return env.Event()
}
