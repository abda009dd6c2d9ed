// Package change holds the event types every pipeline stage shares: the operations (Op),
// entities, Kafka keys, the records in normal form, the change Event and the Avro envelopes
// (Change[R]: PersonChange, CompensationChange) whose fields match schemas/*.avsc exactly.
// It is the leaf package of the pipeline: it imports no other stage.
//
// # Entities
//
// An entity is one Descriptor (entity.go): name (topic, schema, metric label), record and
// envelope types, listing scopes, the fields a policy may not change, inspect's summary.
// Entities lists them; the stages are driven by them and hold no list or switch of entities
// of their own. Adding an entity: its schema (schemas/<name>.avsc), its record type (a Record
// matching the schema's record), its Items (items.go: a listing's items into records), its
// Descriptor in entityList, and its lister in pipeline/extract.
//
// # Normal form
//
// NewPerson and NewCompensation turn what Personio sent into the one canonical shape that is
// hashed, compared and published: text trimmed and empty text as null, email lower-cased,
// currency upper-cased, custom attributes, employments, org units and cost centers sorted by
// id (exact duplicates dropped, conflicting duplicates rejected), instants in UTC truncated
// to milliseconds, dates as UTC midnight (YYYY-MM-DD, or the date part of a full timestamp),
// custom attribute values as canonical JSON text, and decimals converted exactly from their
// text. A decimal with more places than its schema's scale (4) or more digits than its
// precision (19 for amounts, 9 for hours and weights) is rejected, never rounded. Dates
// must lie between 1900-01-01 and 9999-12-31 and instants between 1970-01-01T00:00:00Z and
// 2200-12-31T23:59:59.999Z; a value outside is rejected as unparsable text is (year 0, which
// Python's datetime cannot hold, crashed consumers). Control characters inside text, NUL
// included, are kept as sent: only surrounding white space is trimmed. Every rejection is a
// *FieldError naming the entity id and field, never the value.
//
// NewEmployment converts one item of a person's employment listing for the employments
// topic as NewPerson converts the person's list items (one code path), then makes it flat:
// EmploymentRecord, with the person's id.
//
// # Field policy
//
// A Policy (ParsePolicy, from FIELD_POLICY_FILE) drops or hashes fields of the normal form.
// A Normalizer with a policy (UsePolicy) applies it to every record it returns, before the
// content hash, so the differ, the state and the publisher never see a dropped
// value; the differ applies it to before images as well (Policy.Scrub).
//
// # Identity
//
// A person's id is Personio's id. A compensation's id is Personio's id when the API sends
// one; otherwise it is the composite
//
//	<person_id>|<type_id>|<effective_from YYYY-MM-DD>|<interval>
//
// of normal-form values, an absent part being empty text. Compensations without Personio id
// that share a composite (two bonuses of one type on one day) are numbered by content over
// their listing (NumberCompensations): ordered by amount, then content hash, the first keeps
// the composite, the k-th gets "|k". The Kafka key is "<tenant>:<id>" (Key).
//
// # Hash and event id
//
// ContentHash is the sha256 of the record's Avro encoding without its fields tagged
// diff:"volatile" (updated_at) and the array block sizes that depend on them: a change of
// updated_at alone is not a change. EventID derives the event id from key, entity, version,
// op and content hash, so the same change always gets the same id.
//
// # Encoding
//
// There is one encoding path. Every listed record is put into normal form (NewPerson, a
// Normalizer, NewCompensation, NewEmployment) and AppendRecord encodes it with its record
// schema through internal/codec, which checks its decimals first; the content hash is taken
// over that encoding (AppendRecordHash), and the state keeps the same bytes. The publisher
// encodes the envelope (Event.Envelope) with the entity schema through the same codec. A
// record type needs its struct with `avro` tags and its schema, no encoder of its own.
// TestEncodingMatchesRecordedHistory holds records, hashes and published values to bytes
// recorded before this path replaced three hand-written encoders.
//
// # Optional decimals
//
// Optional decimal fields are **big.Rat (use Dec to fill one): hamba/avro decodes a
// ["null", decimal] union into the element type, and a *big.Rat there would decode as zero.
// Required decimals (Compensation.Amount) are *big.Rat.
package change
