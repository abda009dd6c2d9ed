package publish

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// Encoder encodes a value in the Confluent wire format under a registered schema id.
// *codec.Codec satisfies it.
type Encoder interface {
	Encode(id int, schema avro.Schema, v any) ([]byte, error)
}

// Registry registers a schema under a subject and returns its id. *codec.Registry satisfies it.
type Registry interface {
	Register(ctx context.Context, subject string, schema avro.Schema) (int, error)
}

// Producer writes messages in order and returns once all are acknowledged, or with an error.
// *kafka.Client satisfies it.
type Producer interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
}

// DefaultBatchSize is how many events one producer call carries by default.
const DefaultBatchSize = 5000

// Config configures a Publisher.
type Config struct {
	// TopicPrefix is the topic prefix: events of entity e go to <TopicPrefix>.<e>. Required.
	TopicPrefix string
	// Entities are the entities published; default persons and compensations.
	Entities []change.Entity
	Encoder  Encoder  // required
	Registry Registry // required
	Producer Producer // required
	// BatchSize is the number of events per producer call (default DefaultBatchSize).
	BatchSize int
}

type topic struct {
	name   string
	schema avro.Schema
	id     int // 0 until registered
}

// Publisher publishes change events and applies them to a state store. Publish calls must not
// overlap.
type Publisher struct {
	enc       Encoder
	reg       Registry
	prod      Producer
	batchSize int
	topics    map[change.Entity]*topic
}

// New checks cfg and parses the entity schemas. Call Register before the first Publish.
func New(cfg Config) (*Publisher, error) {
	var errs []error
	if cfg.TopicPrefix == "" {
		errs = append(errs, errors.New("publish: topic prefix is required"))
	}
	if cfg.Encoder == nil {
		errs = append(errs, errors.New("publish: encoder is required"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("publish: registry is required"))
	}
	if cfg.Producer == nil {
		errs = append(errs, errors.New("publish: producer is required"))
	}
	if cfg.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("publish: batch size must be > 0, got %d", cfg.BatchSize))
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if len(cfg.Entities) == 0 {
		cfg.Entities = []change.Entity{change.Persons, change.Compensations}
	}
	p := &Publisher{enc: cfg.Encoder, reg: cfg.Registry, prod: cfg.Producer, batchSize: cfg.BatchSize,
		topics: make(map[change.Entity]*topic, len(cfg.Entities))}
	for _, e := range cfg.Entities {
		s, err := schemas.Parse(string(e))
		if err != nil {
			errs = append(errs, fmt.Errorf("publish: schema of %s: %w", e, err))
			continue
		}
		p.topics[e] = &topic{name: Topic(cfg.TopicPrefix, e), schema: s}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Topic returns the topic of an entity: <prefix>.<entity>.
func Topic(prefix string, e change.Entity) string { return prefix + "." + string(e) }

// Topic returns the topic the Publisher writes an entity's events to.
func (p *Publisher) Topic(e change.Entity) string {
	if t, ok := p.topics[e]; ok {
		return t.name
	}
	return ""
}

// Register registers every entity schema under its subject (<topic>-value). It is idempotent;
// call it at start-up and again after a failure.
func (p *Publisher) Register(ctx context.Context) error {
	for e, t := range p.topics {
		if t.id != 0 {
			continue
		}
		id, err := p.reg.Register(ctx, codec.Subject(t.name), t.schema)
		if err != nil {
			return fmt.Errorf("publish: register schema of %s: %w", e, err)
		}
		t.id = id
	}
	return nil
}

// Registered reports whether every schema has an id.
func (p *Publisher) Registered() bool {
	for _, t := range p.topics {
		if t.id == 0 {
			return false
		}
	}
	return true
}

// Counts are acknowledged events by op.
type Counts map[change.Op]int

// prepared is a batch ready to send: its messages, and the state entry each event leaves
// behind, computed before the send and applied only once Kafka acknowledged the batch.
type prepared struct {
	events  []change.Event
	msgs    []kafka.Message
	entries []state.Entry
}

// Publish sends events in order, in batches, and applies each batch to store once Kafka
// acknowledged all of it. It returns the counts of what was acknowledged and applied. On error
// nothing more is sent; when some messages may have reached Kafka without being applied, the
// error matches ErrStateUnknown.
//
// Batches go to the producer one after another, never two at once, so messages keep their
// order. While a batch is in flight the next one is encoded and the one acknowledged before
// is applied to store.
func (p *Publisher) Publish(ctx context.Context, store state.Store, events []change.Event) (Counts, error) {
	counts := Counts{}
	if len(events) == 0 {
		return counts, nil
	}
	if !p.Registered() {
		return counts, ErrNotRegistered
	}
	// stop ends encoding and sending early after a failure; a producer call already made
	// runs to its end under ctx so that its outcome is known.
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan prepared, 1) // encoded, not yet sent
	acked := make(chan prepared, 1) // acknowledged, not yet applied
	var encErr, sendErr error
	go func() {
		defer close(ready)
		for start := 0; start < len(events); start += p.batchSize {
			b, err := p.prepare(events[start:min(start+p.batchSize, len(events))])
			if err != nil {
				encErr = err // nothing of this batch was sent
				return
			}
			select {
			case ready <- b:
			case <-stop.Done():
				return
			}
		}
	}()
	go func() {
		defer close(acked)
		for b := range ready {
			if sendErr != nil {
				continue // drain so that the encoder ends
			}
			if err := ctx.Err(); err != nil {
				sendErr = err // nothing of this batch was sent
				cancel()
				continue
			}
			if err := p.prod.Publish(ctx, b.msgs); err != nil {
				sendErr = fmt.Errorf("publish: %w: %w", ErrStateUnknown, err)
				cancel()
				continue
			}
			acked <- b // the loop below takes every batch
		}
	}()
	applied := 0
	for b := range acked {
		applied += len(b.events)
		for i, ev := range b.events {
			if ev.Op == change.Delete {
				store.Delete(ev.Entity, ev.Key, ev.Version)
			} else {
				store.Put(ev.Entity, ev.Key, b.entries[i])
			}
			counts[ev.Op]++
		}
	}
	// Both goroutines have ended: acked is closed once ready was drained, and ready is
	// closed when the encoder returns.
	if sendErr != nil {
		return counts, sendErr
	}
	if encErr != nil {
		return counts, encErr
	}
	if applied < len(events) {
		// The encoder stopped on a cancelled ctx between two batches.
		return counts, context.Cause(stop)
	}
	return counts, nil
}

// prepare encodes a batch and computes the entries it leaves in the state, split over the
// available cores.
func (p *Publisher) prepare(events []change.Event) (prepared, error) {
	b := prepared{events: events, entries: make([]state.Entry, len(events))}
	workers := min(runtime.GOMAXPROCS(0), (len(events)+minChunk-1)/minChunk)
	if workers <= 1 {
		msgs, err := p.messages(events, b.entries)
		b.msgs = msgs
		return b, err
	}
	parts := make([][]kafka.Message, workers)
	errs := make([]error, workers)
	chunk := (len(events) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(events))
		wg.Go(func() { parts[w], errs[w] = p.messages(events[lo:hi], b.entries[lo:hi]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return b, err // the first failing chunk is the earliest failing event
		}
	}
	n := 0
	for _, m := range parts {
		n += len(m)
	}
	b.msgs = make([]kafka.Message, 0, n)
	for _, m := range parts {
		b.msgs = append(b.msgs, m...)
	}
	return b, nil
}

// minChunk is the fewest events worth encoding on a goroutine of their own.
const minChunk = 256

// messages encodes events: one message per event, plus a tombstone after every delete. It
// sets entries[i] to the state entry event i leaves behind.
func (p *Publisher) messages(events []change.Event, entries []state.Entry) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, 0, len(events)+len(events)/8)
	for i, ev := range events {
		t, ok := p.topics[ev.Entity]
		if !ok {
			return nil, fmt.Errorf("publish: no topic for entity %q", ev.Entity)
		}
		env, err := ev.Envelope()
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		value, err := p.enc.Encode(t.id, t.schema, env)
		if err != nil {
			return nil, fmt.Errorf("publish: encode %s: %w", ev, err)
		}
		if ev.Op != change.Delete {
			if entries[i], err = state.EntryFromEvent(ev); err != nil {
				return nil, fmt.Errorf("publish: state entry of %s: %w", ev, err)
			}
		}
		// The key and the header values share one allocation.
		hs := ev.Headers()
		n := len(ev.Key)
		for _, h := range hs {
			n += len(h[1])
		}
		buf := append(make([]byte, 0, n), ev.Key...)
		key := buf[:len(ev.Key):len(ev.Key)]
		headers := make([]kafka.Header, len(hs))
		for j, h := range hs {
			at := len(buf)
			buf = append(buf, h[1]...)
			headers[j] = kafka.Header{Key: h[0], Value: buf[at:len(buf):len(buf)]}
		}
		msgs = append(msgs, kafka.Message{Topic: t.name, Key: key, Value: value, Headers: headers})
		if ev.Op == change.Delete {
			msgs = append(msgs, kafka.Message{Topic: t.name, Key: key, Headers: []kafka.Header{
				{Key: "tenant", Value: []byte(ev.Source.Tenant)},
				{Key: "entity", Value: []byte(ev.Entity)},
			}})
		}
	}
	return msgs, nil
}
