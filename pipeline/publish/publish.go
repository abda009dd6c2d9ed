package publish

import (
	"context"
	"errors"
	"fmt"

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
const DefaultBatchSize = 500

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

// Publish sends events in order, in batches, and applies each batch to store once Kafka
// acknowledged all of it. It returns the counts of what was acknowledged and applied. On error
// nothing more is sent; when some messages may have reached Kafka without being applied, the
// error matches ErrStateUnknown.
func (p *Publisher) Publish(ctx context.Context, store state.Store, events []change.Event) (Counts, error) {
	counts := Counts{}
	if len(events) == 0 {
		return counts, nil
	}
	if !p.Registered() {
		return counts, ErrNotRegistered
	}
	for start := 0; start < len(events); start += p.batchSize {
		batch := events[start:min(start+p.batchSize, len(events))]
		msgs, err := p.messages(batch)
		if err != nil {
			return counts, err // nothing of this batch was sent
		}
		if err := ctx.Err(); err != nil {
			return counts, err
		}
		if err := p.prod.Publish(ctx, msgs); err != nil {
			return counts, fmt.Errorf("publish: %w: %w", ErrStateUnknown, err)
		}
		if err := state.Apply(store, batch); err != nil {
			return counts, fmt.Errorf("publish: %w: %w", ErrStateUnknown, err)
		}
		for _, ev := range batch {
			counts[ev.Op]++
		}
	}
	return counts, nil
}

// messages encodes a batch: one message per event, plus a tombstone after every delete.
func (p *Publisher) messages(events []change.Event) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, 0, len(events)+len(events)/8)
	for _, ev := range events {
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
		key := []byte(ev.Key)
		var headers []kafka.Header
		for _, h := range ev.Headers() {
			headers = append(headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
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
