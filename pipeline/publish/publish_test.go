package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

const tenant = "acme"

var ts = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// recorder is a Producer that keeps what it was given and fails on demand.
type recorder struct {
	calls  [][]kafka.Message
	failAt int // call number (1-based) that fails; 0 never
}

func (r *recorder) Publish(_ context.Context, msgs []kafka.Message) error {
	// A copy: the Publisher reuses the messages' memory once this returns.
	c := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		c[i] = kafka.Message{Topic: m.Topic, Key: bytes.Clone(m.Key), Value: bytes.Clone(m.Value)}
		for _, h := range m.Headers {
			c[i].Headers = append(c[i].Headers, kafka.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
	}
	r.calls = append(r.calls, c)
	if len(r.calls) == r.failAt {
		return &kafka.PublishError{Failed: map[int]error{0: errors.New("broker gone")}, Total: len(msgs)}
	}
	return nil
}

func (r *recorder) all() []kafka.Message {
	var out []kafka.Message
	for _, c := range r.calls {
		out = append(out, c...)
	}
	return out
}

func str(s string) *string { return &s }

func person(id, email string) *change.Person {
	return &change.Person{ID: id, Email: str(email)}
}

func compensation(id, amount string) *change.Compensation {
	a, ok := new(big.Rat).SetString(amount)
	if !ok {
		panic(amount)
	}
	return &change.Compensation{ID: id, PersonID: "1", Amount: a, Currency: "EUR", EffectiveFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func event(op change.Op, version int64, before, after change.Record) change.Event {
	r := after
	if r == nil {
		r = before
	}
	ev := change.Event{Entity: r.Entity(), Key: change.Key(tenant, r.RecordID()), ID: r.RecordID(), Op: op,
		Before: before, After: after, Version: version, TS: ts,
		Source: change.Source{Tenant: tenant, System: change.System, SyncID: "s1", SyncKind: string(change.Full), ExtractedAt: ts}}
	if after != nil {
		// A record the encoder refuses has no hash; the publisher must refuse it too.
		if h, err := change.ContentHash(after); err == nil {
			ev.Hash = h
		}
	}
	ev.EventID = change.EventID(ev.Key, ev.Entity, version, op, ev.Hash)
	return ev
}

func newPublisher(t *testing.T, prod Producer, batch int) (*Publisher, *codec.Codec) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := codec.NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(reg)
	p, err := New(Config{TopicPrefix: "personio", Encoder: c, Registry: reg, Producer: prod, BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p, c
}

func header(m kafka.Message, k string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestPublishMessagesAndState(t *testing.T) {
	rec := &recorder{}
	p, c := newPublisher(t, rec, 0)
	store := state.NewMemory()
	p1, p2 := person("1", "a@example.com"), person("2", "b@example.com")
	events := []change.Event{
		event(change.Create, 1, nil, p1),
		event(change.Create, 1, nil, p2),
		event(change.Create, 1, nil, compensation("c1", "4200.5")),
	}
	counts, err := p.Publish(t.Context(), store, events)
	if err != nil {
		t.Fatal(err)
	}
	if counts[change.Create] != 3 || store.Len(change.Persons) != 2 || store.Len(change.Compensations) != 1 {
		t.Fatalf("counts %v, state persons=%d compensations=%d", counts, store.Len(change.Persons), store.Len(change.Compensations))
	}

	p2b := person("2", "b2@example.com")
	events = []change.Event{event(change.Update, 2, p2, p2b), event(change.Delete, 2, p1, nil)}
	counts, err = p.Publish(t.Context(), store, events)
	if err != nil {
		t.Fatal(err)
	}
	if counts[change.Update] != 1 || counts[change.Delete] != 1 {
		t.Errorf("counts = %v", counts)
	}
	if _, ok := store.Get(change.Persons, "acme:1"); ok || store.LastVersion(change.Persons, "acme:1") != 2 {
		t.Errorf("deleted key still live or lost its version")
	}
	if e, _ := store.Get(change.Persons, "acme:2"); e.Version != 2 {
		t.Errorf("updated key version = %d, want 2", e.Version)
	}

	msgs := rec.calls[1]
	if len(msgs) != 3 {
		t.Fatalf("second batch has %d messages, want update, delete, tombstone", len(msgs))
	}
	tomb := msgs[2]
	if tomb.Value != nil || string(tomb.Key) != "acme:1" || tomb.Topic != "personio.persons" {
		t.Errorf("tombstone = %+v", tomb)
	}
	if _, ok := header(tomb, "event_id"); ok {
		t.Error("tombstone carries an event_id header")
	}
	for i, m := range msgs[:2] {
		ev := events[i]
		for k, want := range map[string]string{"event_id": ev.EventID, "op": string(ev.Op), "tenant": tenant, "entity": "persons"} {
			if got, _ := header(m, k); got != want {
				t.Errorf("message %d header %s = %q, want %q", i, k, got, want)
			}
		}
		reader, err := schemas.Parse("persons")
		if err != nil {
			t.Fatal(err)
		}
		var env change.PersonChange
		if err := c.Decode(t.Context(), m.Value, reader, &env); err != nil {
			t.Fatal(err)
		}
		if env.EventID != ev.EventID || env.Op != string(ev.Op) || env.Version != ev.Version {
			t.Errorf("decoded %+v, want event %s", env, ev)
		}
	}
	if m := rec.calls[0][2]; m.Topic != "personio.compensations" || string(m.Key) != "acme:c1" {
		t.Errorf("compensation message to %s key %s", m.Topic, m.Key)
	}
}

func TestPublishFailure(t *testing.T) {
	rec := &recorder{failAt: 2}
	p, _ := newPublisher(t, rec, 2)
	store := state.NewMemory()
	var events []change.Event
	for i := range 5 {
		events = append(events, event(change.Create, 1, nil, person(fmt.Sprint(i), "x@example.com")))
	}
	counts, err := p.Publish(t.Context(), store, events)
	if !errors.Is(err, ErrStateUnknown) {
		t.Fatalf("err = %v, want ErrStateUnknown", err)
	}
	var pe *kafka.PublishError
	if !errors.As(err, &pe) {
		t.Errorf("err %v does not carry the producer's error", err)
	}
	if counts[change.Create] != 2 || store.Len(change.Persons) != 2 {
		t.Errorf("counts %v, state %d: want only the first, acknowledged batch applied", counts, store.Len(change.Persons))
	}
	if len(rec.calls) != 2 {
		t.Errorf("producer called %d times, want to stop after the failure", len(rec.calls))
	}
}

func TestPublishEncodeError(t *testing.T) {
	rec := &recorder{}
	p, _ := newPublisher(t, rec, 0)
	store := state.NewMemory()
	bad := event(change.Create, 1, nil, compensation("c1", "0.12345")) // 5 places, scale is 4
	_, err := p.Publish(t.Context(), store, []change.Event{event(change.Create, 1, nil, person("1", "a@example.com")), bad})
	if err == nil || errors.Is(err, ErrStateUnknown) {
		t.Fatalf("err = %v, want an encode error that leaves the state known", err)
	}
	if !errors.Is(err, codec.ErrInexactDecimal) {
		t.Errorf("err = %v, want ErrInexactDecimal", err)
	}
	if len(rec.calls) != 0 || store.Len(change.Persons) != 0 {
		t.Errorf("sent %d batches, state %d: want nothing", len(rec.calls), store.Len(change.Persons))
	}
}

func TestPublishNotRegistered(t *testing.T) {
	p, err := New(Config{TopicPrefix: "x", Encoder: codec.New(nil), Registry: failingRegistry{}, Producer: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(t.Context()); err == nil {
		t.Error("Register succeeded against a failing registry")
	}
	_, err = p.Publish(t.Context(), state.NewMemory(), []change.Event{event(change.Create, 1, nil, person("1", "a@example.com"))})
	if !errors.Is(err, ErrNotRegistered) {
		t.Errorf("err = %v, want ErrNotRegistered", err)
	}
}

type failingRegistry struct{}

func (failingRegistry) Register(context.Context, string, avro.Schema) (int, error) {
	return 0, errors.New("registry down")
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
	if _, err := New(Config{TopicPrefix: "x", Encoder: codec.New(nil), Registry: failingRegistry{}, Producer: &recorder{}, Entities: []change.Entity{"nope"}}); err == nil {
		t.Error("New accepted an entity without schema")
	}
}

// TestPublishKafka runs the publisher against an in-process Kafka through the real adapter and
// reads the topic back: the delete's tombstone follows it and reads back as a nil value.
func TestPublishKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "personio.persons", "personio.compensations"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	client, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	p, _ := newPublisher(t, client, 0)
	store := state.NewMemory()
	p1 := person("1", "a@example.com")
	for _, evs := range [][]change.Event{
		{event(change.Create, 1, nil, p1), event(change.Create, 1, nil, person("2", "b@example.com"))},
		{event(change.Delete, 2, p1, nil)},
	} {
		if _, err := p.Publish(t.Context(), store, evs); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err = client.ReadToEnd(t.Context(), "personio.persons", func(r kafka.Record) error {
		if string(r.Key) == "acme:1" {
			got = append(got, fmt.Sprintf("nil=%v", r.Value == nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[nil=false nil=false nil=true]" {
		t.Errorf("records of acme:1 = %v, want create, delete, tombstone", got)
	}
}

// personEvents returns creates of persons 0..n-1, then for every third an update and for every
// fifth a delete, so that keys recur across batches.
func personEvents(n int) []change.Event {
	var events []change.Event
	recs := make([]*change.Person, n)
	for i := range n {
		recs[i] = person(fmt.Sprint(i), fmt.Sprintf("p%d@example.com", i))
		events = append(events, event(change.Create, 1, nil, recs[i]))
	}
	for i := 0; i < n; i += 3 {
		next := person(fmt.Sprint(i), fmt.Sprintf("p%d-2@example.com", i))
		events = append(events, event(change.Update, 2, recs[i], next))
		recs[i] = next
	}
	for i := 0; i < n; i += 5 {
		events = append(events, event(change.Delete, 3, recs[i], nil))
	}
	return events
}

func TestPublishBatchesKeepOrderAndMatchApply(t *testing.T) {
	events := personEvents(600) // 920 events: several batches, the larger encoded in parts
	for _, batch := range []int{1, 7, 300, 0} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			rec := &recorder{}
			p, _ := newPublisher(t, rec, batch)
			store := state.NewMemory()
			counts, err := p.Publish(t.Context(), store, events)
			if err != nil {
				t.Fatal(err)
			}
			if counts[change.Create] != 600 || counts[change.Update] != 200 || counts[change.Delete] != 120 {
				t.Errorf("counts = %v", counts)
			}
			// One message per event in event order, a tombstone right after every delete.
			msgs := rec.all()
			k := 0
			for i, ev := range events {
				if k >= len(msgs) {
					t.Fatalf("%d messages for %d events", len(msgs), len(events))
				}
				if id, _ := header(msgs[k], "event_id"); id != ev.EventID || string(msgs[k].Key) != ev.Key {
					t.Fatalf("message %d is %s/%s, want event %d %s", k, msgs[k].Key, id, i, ev)
				}
				k++
				if ev.Op == change.Delete {
					if msgs[k].Value != nil || string(msgs[k].Key) != ev.Key {
						t.Fatalf("message %d after delete %s is not its tombstone", k, ev)
					}
					k++
				}
			}
			if k != len(msgs) {
				t.Errorf("%d messages, want %d", len(msgs), k)
			}
			want := state.NewMemory()
			if err := state.Apply(want, events); err != nil {
				t.Fatal(err)
			}
			if store.Len(change.Persons) != want.Len(change.Persons) {
				t.Fatalf("state holds %d persons, Apply %d", store.Len(change.Persons), want.Len(change.Persons))
			}
			want.Range(change.Persons, func(key string, w state.Entry) bool {
				got, ok := store.Get(change.Persons, key)
				if !ok || got.Version != w.Version || got.Hash != w.Hash || !bytes.Equal(got.Data, w.Data) {
					t.Errorf("entry of %s = %+v, want %+v", key, got, w)
				}
				return true
			})
			for i := 0; i < 600; i += 5 {
				key := change.Key(tenant, fmt.Sprint(i))
				if store.LastVersion(change.Persons, key) != 3 {
					t.Errorf("deleted %s: last version %d, want 3", key, store.LastVersion(change.Persons, key))
				}
			}
		})
	}
}

// cancelling is a Producer that acknowledges everything and cancels the caller's context
// during call number at.
type cancelling struct {
	recorder
	at     int
	cancel context.CancelFunc
}

func (c *cancelling) Publish(ctx context.Context, msgs []kafka.Message) error {
	err := c.recorder.Publish(ctx, msgs)
	if len(c.calls) == c.at {
		c.cancel()
	}
	return err
}

func TestPublishCancelled(t *testing.T) {
	events := personEvents(10) // 10 creates, 4 updates, 2 deletes
	tests := []struct {
		name     string
		cancelAt int // producer call that cancels; 0: cancelled before Publish
		calls    int
		applied  int
	}{
		{name: "before", cancelAt: 0, calls: 0, applied: 0},
		{name: "during first batch", cancelAt: 1, calls: 1, applied: 4},
		{name: "during second batch", cancelAt: 2, calls: 2, applied: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			prod := &cancelling{at: tt.cancelAt, cancel: cancel}
			if tt.cancelAt == 0 {
				cancel()
			}
			p, _ := newPublisher(t, prod, 4)
			store := state.NewMemory()
			counts, err := p.Publish(ctx, store, events)
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStateUnknown) {
				t.Fatalf("err = %v, want context.Canceled with the state known", err)
			}
			if len(prod.calls) != tt.calls {
				t.Errorf("producer called %d times, want %d", len(prod.calls), tt.calls)
			}
			if n := counts[change.Create] + counts[change.Update] + counts[change.Delete]; n != tt.applied || store.Len(change.Persons) != min(tt.applied, 10) {
				t.Errorf("counts %v, state %d persons: want the %d acknowledged events applied", counts, store.Len(change.Persons), tt.applied)
			}
		})
	}
}

func TestPublishEncodeErrorInLaterBatch(t *testing.T) {
	rec := &recorder{}
	p, _ := newPublisher(t, rec, 2)
	store := state.NewMemory()
	events := []change.Event{
		event(change.Create, 1, nil, person("1", "a@example.com")),
		event(change.Create, 1, nil, person("2", "b@example.com")),
		event(change.Create, 1, nil, person("3", "c@example.com")),
		event(change.Create, 1, nil, compensation("c1", "0.12345")), // 5 places, scale is 4
		event(change.Create, 1, nil, person("4", "d@example.com")),
	}
	counts, err := p.Publish(t.Context(), store, events)
	if !errors.Is(err, codec.ErrInexactDecimal) || errors.Is(err, ErrStateUnknown) {
		t.Fatalf("err = %v, want ErrInexactDecimal with the state known", err)
	}
	if len(rec.calls) != 1 || counts[change.Create] != 2 || store.Len(change.Persons) != 2 {
		t.Errorf("%d producer calls, counts %v, state %d: want only the first batch sent and applied", len(rec.calls), counts, store.Len(change.Persons))
	}
}

// rawEncoder encodes nothing: every value is the same bytes.
type rawEncoder struct{}

func (rawEncoder) AppendSpliced(dst []byte, _ int, _ avro.Schema, _ any, _ ...codec.Spliced) ([]byte, error) {
	return append(dst, 0, 0, 0, 0, 1), nil
}

type okRegistry struct{}

func (okRegistry) Register(context.Context, string, avro.Schema) (int, error) { return 1, nil }

func TestPublishStateEntryErrorAfterSend(t *testing.T) {
	rec := &recorder{}
	p, err := New(Config{TopicPrefix: "personio", Encoder: rawEncoder{}, Registry: okRegistry{}, Producer: rec, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	bad := event(change.Create, 1, nil, compensation("c1", "1"))
	bad.After.(*change.Compensation).Amount = nil // the state entry cannot be encoded
	events := []change.Event{
		event(change.Create, 1, nil, person("1", "a@example.com")),
		event(change.Create, 1, nil, person("2", "b@example.com")),
		event(change.Create, 1, nil, person("3", "c@example.com")),
		bad,
		event(change.Create, 1, nil, person("4", "d@example.com")),
		event(change.Create, 1, nil, person("5", "e@example.com")),
	}
	store := state.NewMemory()
	counts, err := p.Publish(t.Context(), store, events)
	// The entries of the second batch are computed while it is on its way: it may or may not
	// have reached the producer by then.
	switch len(rec.calls) {
	case 1:
		if err == nil || errors.Is(err, ErrStateUnknown) {
			t.Errorf("second batch not sent: err = %v, want an error with the state known", err)
		}
	case 2:
		if !errors.Is(err, ErrStateUnknown) {
			t.Errorf("second batch sent: err = %v, want ErrStateUnknown", err)
		}
	default:
		t.Errorf("producer called %d times, want no batch after the failed one", len(rec.calls))
	}
	if counts[change.Create] != 2 || store.Len(change.Persons) != 2 || store.Len(change.Compensations) != 0 {
		t.Errorf("counts %v, state %d persons: want only the first batch applied", counts, store.Len(change.Persons))
	}
}

// limited is a recorder that refuses, as too large, messages with a value of more than limit
// bytes, like a kafka.Client whose topics take little.
type limited struct {
	recorder
	limit      int
	limitCalls [][]string // the topics of each MessageLimits call
}

func (l *limited) MessageLimits(_ context.Context, topics ...string) (map[string]int, error) {
	l.limitCalls = append(l.limitCalls, topics)
	out := map[string]int{}
	for _, t := range topics {
		out[t] = l.limit
	}
	return out, nil
}

func (l *limited) CheckSize(m kafka.Message) error {
	if len(m.Value) > l.limit {
		return &kafka.TooLargeError{Topic: m.Topic, Size: len(m.Value), Limit: l.limit, MaxMessageBytes: l.limit + 61}
	}
	return nil
}

// An event too large for its topic is left out and reported; the others are published and
// applied; the left-out key keeps its state. Many events spread the big ones over several
// encoding chunks.
func TestPublishSkipsEventTooLargeForTopic(t *testing.T) {
	huge := strings.Repeat("x", 5000) + "@example.com"
	events := personEvents(700)
	big := map[string]bool{}
	for _, i := range []int{2, 299, 511, 650} { // creates
		events[i] = event(change.Create, 1, nil, person(fmt.Sprint(i), huge))
		big[events[i].EventID] = true
	}
	// A delete whose before image is too large: neither it nor its tombstone goes out.
	var bigDelete change.Event
	for i, ev := range events {
		if ev.Op == change.Delete && ev.Key == change.Key(tenant, "10") {
			ev = event(change.Delete, 3, person("10", huge), nil)
			events[i], bigDelete = ev, ev
			big[ev.EventID] = true
		}
	}
	if bigDelete.EventID == "" {
		t.Fatal("no delete of person 10 in the events")
	}
	for _, batch := range []int{0, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			prod := &limited{limit: 2000}
			p, _ := newPublisher(t, prod, batch)
			store := state.NewMemory()
			counts, err := p.Publish(t.Context(), store, events)
			se, ok := err.(*SkipError)
			if !ok {
				t.Fatalf("err = %v, want a *SkipError alone", err)
			}
			if len(se.Skipped) != len(big) {
				t.Fatalf("%d skipped, want %d: %v", len(se.Skipped), len(big), se)
			}
			for _, s := range se.Skipped {
				if s.Entity != change.Persons || s.Reason != ReasonTooLarge || s.Size <= s.Limit || s.Limit != 2000 {
					t.Errorf("skip %+v", s)
				}
			}
			if strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), "acme:") {
				t.Errorf("the error holds content or a key: %.200s", err)
			}
			if len(prod.limitCalls) != 1 || len(prod.limitCalls[0]) != len(change.Entities()) {
				t.Errorf("MessageLimits calls %v, want one for every topic", prod.limitCalls)
			}
			// Every other event went out, in order, with its tombstone after a delete.
			var want []string
			for _, ev := range events {
				if big[ev.EventID] {
					continue
				}
				want = append(want, ev.EventID)
				if ev.Op == change.Delete {
					want = append(want, "tombstone "+ev.Key)
				}
			}
			var got []string
			for _, m := range prod.all() {
				if m.Value == nil {
					got = append(got, "tombstone "+string(m.Key))
					continue
				}
				id, _ := header(m, "event_id")
				got = append(got, id)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("sent %d messages, want %d in event order without the big ones", len(got), len(want))
			}
			if n := counts[change.Create] + counts[change.Update] + counts[change.Delete]; n != len(events)-len(big) {
				t.Errorf("counts %v, want %d events", counts, len(events)-len(big))
			}
			// The big creates left no state; the big delete left the person as it was (its create).
			for _, id := range []string{"2", "299", "511", "650"} {
				if _, ok := store.Get(change.Persons, change.Key(tenant, id)); ok {
					t.Errorf("person %s, left out, is in the state", id)
				}
			}
			if e, ok := store.Get(change.Persons, bigDelete.Key); !ok || e.Version != 1 {
				t.Errorf("person 10, whose delete was left out: state %+v %v, want version 1 kept", e, ok)
			}

			// The next call does not read the limits again.
			if _, err := p.Publish(t.Context(), store, []change.Event{event(change.Create, 1, nil, person("x", "x@example.com"))}); err != nil {
				t.Fatal(err)
			}
			if len(prod.limitCalls) != 1 {
				t.Errorf("MessageLimits called %d times, want once", len(prod.limitCalls))
			}
		})
	}
}
