package change

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Op is the operation of a change event.
type Op string

// The operations of the event contract (DESIGN.md §3).
const (
	Create Op = "c"
	Update Op = "u"
	Delete Op = "d"
	Read   Op = "r" // re-snapshot read
)

// Entity names a kind of entity; it is also the topic suffix and the schema name.
type Entity string

// The entities the service publishes.
const (
	Persons       Entity = "persons"
	Compensations Entity = "compensations"
	Employments   Entity = "employments"
)

// SyncKind is the kind of sync run that observed a change.
type SyncKind string

// The sync kinds.
const (
	Full        SyncKind = "full"
	Incremental SyncKind = "incremental"
	Resnapshot  SyncKind = "resnapshot"
	// Webhook is a targeted run of the persons a webhook named (sync.Webhook).
	Webhook SyncKind = "webhook"
)

// System is the value of Source.System.
const System = "personio"

// Key returns the Kafka key of an entity: "<tenant>:<id>".
func Key(tenant, id string) string { return tenant + ":" + id }

// SplitKey splits a Kafka key into tenant and id at the first colon.
func SplitKey(key string) (tenant, id string, ok bool) {
	return strings.Cut(key, ":")
}

// Source is the provenance of a change event (Avro record io.personio.cdc.Source).
type Source struct {
	Tenant          string     `avro:"tenant" json:"tenant"`
	System          string     `avro:"system" json:"system"`
	SyncID          string     `avro:"sync_id" json:"sync_id"`
	SyncKind        string     `avro:"sync_kind" json:"sync_kind"`
	ExtractedAt     time.Time  `avro:"extracted_at" json:"extracted_at"`
	EntityUpdatedAt *time.Time `avro:"entity_updated_at" json:"entity_updated_at"`
}

// Hash is the content hash of a record in normal form (see ContentHash). The zero Hash stands
// for "no record" (a delete).
type Hash [sha256.Size]byte

// String returns the hash in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// Event is one change of one entity, as the differ produces it and the publisher sends it.
type Event struct {
	Entity        Entity
	Key           string // Kafka key, Key(tenant, id)
	ID            string // entity id
	Op            Op
	Before        Record // nil for c and r
	After         Record // nil for d
	ChangedFields []string
	Version       int64
	EventID       string
	TS            time.Time // when the event was produced
	Source        Source
	Hash          Hash // content hash of After; zero for d
	// BeforeData is the Avro encoding of Before (MarshalRecord) when the differ took it
	// from the state, else nil; the publisher splices it into the envelope as is.
	BeforeData []byte
	// AfterData is the Avro encoding of After (AppendRecord) when the differ made it, else
	// nil; the publisher and the state use it as is rather than encoding After again.
	AfterData []byte
}

// EventID returns the deterministic id of a change: the first 32 hex characters of
// sha256(key, entity, version, op, content hash of after). The same change, computed again
// after a crash from the state rebuilt from the topic, gets the same id.
func EventID(key string, entity Entity, version int64, op Op, h Hash) string {
	var buf [256]byte
	b := buf[:0]
	for _, s := range [...]string{key, string(entity), string(op)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(version))
	sum := sha256.Sum256(append(b, h[:]...))
	var id [32]byte
	hex.Encode(id[:], sum[:16])
	return string(id[:])
}

// Envelope returns the value to encode with the entity's schema: a *Change of the entity's
// record type (*PersonChange, *CompensationChange, …). ChangedFields is never nil in the
// result.
func (e Event) Envelope() (Envelope, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	d, err := Describe(e.Entity)
	if err != nil {
		return nil, err
	}
	return d.envelope(e)
}

// Check reports whether the event's records fit its entity, as Envelope requires.
func (e Event) Check() error {
	if _, err := Describe(e.Entity); err != nil {
		return fmt.Errorf("change: %w", err)
	}
	if !recordOf(e.Before, e.Entity) || !recordOf(e.After, e.Entity) {
		return fmt.Errorf("change: %s event %s carries a record of another entity", e.Entity, e.EventID)
	}
	return nil
}

// Headers returns the Kafka headers of the event (DESIGN.md §3), in a fixed order.
func (e Event) Headers() [][2]string {
	return [][2]string{
		{"event_id", e.EventID},
		{"op", string(e.Op)},
		{"tenant", e.Source.Tenant},
		{"entity", string(e.Entity)},
	}
}

// String describes the event without any record content (safe to log).
func (e Event) String() string {
	return string(e.Entity) + " " + e.Key + " " + string(e.Op) + " v" + strconv.FormatInt(e.Version, 10) + " " + e.EventID
}

// recordOf reports whether r is nil or a record of entity, without decoding it.
func recordOf(r Record, entity Entity) bool {
	return r == nil || r.Entity() == entity
}
