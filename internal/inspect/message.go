package inspect

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Message is one Kafka record of a service topic, decoded.
type Message struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Timestamp time.Time         `json:"timestamp"`
	Headers   map[string]string `json:"headers,omitempty"`
	SchemaID  int               `json:"schema_id,omitempty"`
	// Value is the decoded change event; nil for a tombstone.
	Value Object `json:"value"`
}

// Tombstone reports whether the record deletes its key.
func (m Message) Tombstone() bool { return m.Value == nil }

// Entity returns the entity of the record: the "entity" header, else the topic suffix.
func (m Message) Entity() string {
	if e := m.Headers["entity"]; e != "" {
		return e
	}
	if i := strings.LastIndexByte(m.Topic, '.'); i >= 0 {
		return m.Topic[i+1:]
	}
	return m.Topic
}

// Op returns the event's op ("c", "u", "d", "r"), or "tombstone".
func (m Message) Op() string {
	if m.Tombstone() {
		return "tombstone"
	}
	return m.Value.String("op")
}

// Style shapes summary lines; the zero Style prints plain text.
type Style struct {
	// Color colours the op.
	Color bool
	// People, when set, names the person a compensation belongs to.
	People *People
}

// People remembers the names of the persons seen in a persons topic, so that compensation
// lines can name their person. Not safe for concurrent use.
type People struct{ names map[string]string }

// NewPeople returns an empty People.
func NewPeople() *People { return &People{names: map[string]string{}} }

// Observe records the name of the person in a persons record.
func (p *People) Observe(m Message) {
	if m.Entity() != string(change.Persons) || m.Tombstone() {
		return
	}
	rec, _ := m.Value.Get("after").(Object)
	if rec == nil {
		rec, _ = m.Value.Get("before").(Object)
	}
	if name := strings.TrimSpace(rec.String("first_name") + " " + rec.String("last_name")); name != "" {
		p.names[rec.String("id")] = name
	}
}

// Name returns the name of a person id, or "".
func (p *People) Name(personID string) string {
	if p == nil {
		return ""
	}
	return p.names[personID]
}

var opColor = map[string]string{"c": "\x1b[32m", "u": "\x1b[33m", "d": "\x1b[31m", "r": "\x1b[36m", "tombstone": "\x1b[2m"}

// Summary is one readable line: op, entity, key, version, changed fields and a few fields of
// the record (change.Descriptor.Summary: a person's name and status; a compensation's type,
// amount and start; the person of a record with a person_id, when People knows it). It is for
// people watching the demo or a test topic; it shows personal data, so it is never logged.
func (s Style) Summary(m Message) string {
	op := m.Op()
	opText := fmt.Sprintf("%-9s", op)
	if s.Color {
		opText = opColor[op] + opText + "\x1b[0m"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-13s %-44s", opText, m.Entity(), m.Key)
	if m.Tombstone() {
		return strings.TrimRight(b.String(), " ")
	}
	if v, ok := m.Value.Get("version").(int64); ok {
		fmt.Fprintf(&b, " v%-3d", v)
	}
	rec, _ := m.Value.Get("after").(Object)
	if rec == nil {
		rec, _ = m.Value.Get("before").(Object)
	}
	var parts []string
	if d, err := change.Describe(change.Entity(m.Entity())); err == nil && d.Summary != nil {
		parts = d.Summary(func(name string) string { return rec.String(name) })
	}
	if n := s.People.Name(rec.String("person_id")); n != "" {
		parts = append(parts, "for "+n)
	}
	if len(parts) > 0 {
		b.WriteString(" " + strings.Join(parts, " · "))
	}
	if op == "u" {
		if cf, ok := m.Value.Get("changed_fields").([]any); ok && len(cf) > 0 {
			names := make([]string, len(cf))
			for i, f := range cf {
				names[i], _ = f.(string)
			}
			b.WriteString("  changed: " + strings.Join(names, ", "))
		}
	}
	return b.String()
}

// State folds records into the current state of each topic: the last record per key wins and
// a tombstone removes the key, exactly as a compacted topic reads after compaction.
type State struct {
	topics map[string]*TopicState
}

// TopicState is the current state of one topic and what was read to build it.
type TopicState struct {
	Topic      string             `json:"topic"`
	Records    int                `json:"records_read"`
	Tombstones int                `json:"tombstones"`
	ByOp       map[string]int     `json:"events_by_op"`
	current    map[string]Message // by key
}

// NewState returns an empty State.
func NewState() *State { return &State{topics: map[string]*TopicState{}} }

// Apply folds one record into the state.
func (s *State) Apply(m Message) {
	t := s.topics[m.Topic]
	if t == nil {
		t = &TopicState{Topic: m.Topic, ByOp: map[string]int{}, current: map[string]Message{}}
		s.topics[m.Topic] = t
	}
	t.Records++
	if m.Tombstone() {
		t.Tombstones++
		delete(t.current, m.Key)
		return
	}
	t.ByOp[m.Op()]++
	t.current[m.Key] = m
}

// Topics returns the per-topic states, sorted by topic.
func (s *State) Topics() []*TopicState {
	out := make([]*TopicState, 0, len(s.topics))
	for _, k := range slices.Sorted(maps.Keys(s.topics)) {
		out = append(out, s.topics[k])
	}
	return out
}

// Keys returns the number of live keys.
func (t *TopicState) Keys() int { return len(t.current) }

// Live returns the number of live keys whose last event is not a delete: a "d" whose
// tombstone was not written yet still counts as deleted.
func (t *TopicState) Live() int {
	n := 0
	for _, m := range t.current {
		if m.Op() != "d" {
			n++
		}
	}
	return n
}

// Current returns the last record of every live key, sorted by key.
func (t *TopicState) Current() []Message {
	out := make([]Message, 0, len(t.current))
	for _, k := range slices.Sorted(maps.Keys(t.current)) {
		if m := t.current[k]; m.Op() != "d" {
			out = append(out, m)
		}
	}
	return out
}
