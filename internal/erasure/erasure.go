package erasure

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Topic returns the erasures topic of a topic prefix: <prefix>.erasures.
func Topic(prefix string) string { return prefix + ".erasures" }

// TopicSpec returns the spec the erasures topic is created with: the template's replication
// and compaction settings, one partition (the list is small and read whole before every sync).
func TopicSpec(template kafka.TopicSpec, prefix string) kafka.TopicSpec {
	s := template
	s.Name = Topic(prefix)
	s.Partitions = 1
	return s
}

// Entry is the value of an erasure record: when, and optionally by whom and why. It must hold
// no personal data of the erased person (the id is in the key).
type Entry struct {
	ErasedAt time.Time `json:"erased_at"`
	By       string    `json:"by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// HeaderErased is the header every erasure tombstone carries (value "true"), next to tenant
// and entity.
const HeaderErased = "erased"

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// maxIDLen bounds a person id: Personio's are short numbers.
const maxIDLen = 200

// Key returns the erasure key of a person, "<tenant>:<person id>", after checking both.
func Key(tenant, person string) (string, error) {
	if !tenantRE.MatchString(tenant) {
		return "", fmt.Errorf("%w: tenant %q must be 1-63 letters, digits, '.', '_' or '-'", ErrBadArgument, tenant)
	}
	if person == "" || len(person) > maxIDLen || strings.TrimSpace(person) != person ||
		strings.ContainsFunc(person, unicode.IsControl) {
		return "", fmt.Errorf("%w: person id must be 1-%d characters without surrounding spaces or control characters", ErrBadArgument, maxIDLen)
	}
	return change.Key(tenant, person), nil
}

// Mark returns the record that erases a person, for the erasures topic.
func Mark(topic, tenant, person string, e Entry) (kafka.Message, error) {
	key, err := Key(tenant, person)
	if err != nil {
		return kafka.Message{}, err
	}
	if e.ErasedAt.IsZero() {
		return kafka.Message{}, fmt.Errorf("%w: erasure time is required", ErrBadArgument)
	}
	e.ErasedAt = e.ErasedAt.UTC()
	value, err := json.Marshal(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("erasure: encode entry: %w", err)
	}
	return kafka.Message{Topic: topic, Key: []byte(key), Value: value,
		Headers: []kafka.Header{{Key: "tenant", Value: []byte(tenant)}}}, nil
}

// Lift returns the record that lifts a person's erasure: a tombstone for its key.
func Lift(topic, tenant, person string) (kafka.Message, error) {
	key, err := Key(tenant, person)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{Topic: topic, Key: []byte(key),
		Headers: []kafka.Header{{Key: "tenant", Value: []byte(tenant)}}}, nil
}

// List is the set of erased persons, by erasure key. The zero List and a nil *List are empty.
// A List is not changed after Read returned it: it is safe to share.
type List struct {
	entries map[string]Entry
	// Ignored counts records whose key is not "<tenant>:<person id>": they can name no person.
	Ignored int
}

// Erased reports whether the person is erased.
func (l *List) Erased(tenant, person string) bool {
	if l == nil {
		return false
	}
	_, ok := l.entries[change.Key(tenant, person)]
	return ok
}

// Len returns the number of erased persons.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.entries)
}

// Keys returns the erasure keys, sorted.
func (l *List) Keys() []string {
	if l == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(l.entries))
}

// Entry returns the entry of an erasure key.
func (l *List) Entry(key string) (Entry, bool) {
	if l == nil {
		return Entry{}, false
	}
	e, ok := l.entries[key]
	return e, ok
}

// Since returns the erasures of l that prev does not hold: the persons erased since prev was
// read (a person erased, lifted and erased again in between is not among them).
func (l *List) Since(prev *List) *List {
	out := &List{entries: map[string]Entry{}}
	if l == nil {
		return out
	}
	for k, e := range l.entries {
		if _, ok := prev.Entry(k); !ok {
			out.entries[k] = e
		}
	}
	return out
}

// Reader reads a topic from its first offset to the end it had when the call started.
// *kafka.Client satisfies it.
type Reader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
}

// Read reads the erasures topic to its end: the last record per key wins, a tombstone lifts
// the erasure. A topic that does not exist holds no erasure. A value that is not a valid Entry
// still erases its key: the list fails closed.
func Read(ctx context.Context, r Reader, topic string) (*List, error) {
	l := &List{entries: map[string]Entry{}}
	err := r.ReadToEnd(ctx, topic, func(rec kafka.Record) error {
		key := string(rec.Key)
		tenant, person, ok := change.SplitKey(key)
		if !ok || tenant == "" || person == "" {
			l.Ignored++
			return nil
		}
		if rec.Value == nil {
			delete(l.entries, key)
			return nil
		}
		var e Entry
		_ = json.Unmarshal(rec.Value, &e) // fail closed: the key is erased whatever the value
		l.entries[key] = e
		return nil
	})
	switch {
	case err == nil:
		return l, nil
	case kafka.UnknownTopic(err):
		return &List{entries: map[string]Entry{}}, nil
	}
	return nil, fmt.Errorf("erasure: read %s: %w", topic, err)
}
