package erasure

import (
	"context"
	"errors"
	"fmt"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// Codec decodes a topic value in the Confluent wire format. *codec.Codec satisfies it.
type Codec interface {
	Decode(ctx context.Context, data []byte, reader codec.Schema, into any) error
}

// TopicAdmin creates topics. *kafka.Client satisfies it.
type TopicAdmin interface {
	EnsureTopics(ctx context.Context, specs []kafka.TopicSpec) error
}

// Config configures an Eraser.
type Config struct {
	// TopicPrefix names the topics: <prefix>.<entity> and <prefix>.erasures. Required.
	TopicPrefix string
	// Entities are the entity topics erased keys are tombstoned on. Required.
	Entities []change.Entity
	// Admin, when set, creates the erasures topic from TopicSpec when it is missing.
	Admin     TopicAdmin
	TopicSpec kafka.TopicSpec
	Producer  Producer // required (*kafka.Client)
	Reader    Reader   // required (*kafka.Client)
	Codec     Codec    // required (*codec.Codec)
	// NewStore returns an empty state store; default state.NewMemory.
	NewStore func() state.Store
}

// Eraser erases persons and lifts erasures: what `personio-cdc erase` does.
type Eraser struct {
	cfg     Config
	readers map[change.Entity]codec.Schema
}

// New validates cfg and returns an Eraser. It does no I/O.
func New(cfg Config) (*Eraser, error) {
	var errs []error
	if cfg.TopicPrefix == "" {
		errs = append(errs, errors.New("erasure: topic prefix is required"))
	}
	if len(cfg.Entities) == 0 {
		errs = append(errs, errors.New("erasure: entities are required"))
	}
	if cfg.Producer == nil || cfg.Reader == nil || cfg.Codec == nil {
		errs = append(errs, errors.New("erasure: producer, reader and codec are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.NewStore == nil {
		cfg.NewStore = func() state.Store { return state.NewMemory() }
	}
	readers := map[change.Entity]codec.Schema{}
	for _, e := range cfg.Entities {
		s, err := schemas.Parse(string(e))
		if err != nil {
			return nil, fmt.Errorf("erasure: schema of %s: %w", e, err)
		}
		readers[e] = s
	}
	return &Eraser{cfg: cfg, readers: readers}, nil
}

// Topic returns the topic of an entity: the publisher's, so erasing tombstones the topics a
// sync writes.
func (x *Eraser) Topic(e change.Entity) string { return publish.Topic(x.cfg.TopicPrefix, e) }

// Erase erases a person: it writes the erasure record first (from then on every sync leaves
// the person out and tombstones what it finds of them), then rebuilds the state from the
// entity topics and tombstones every live key of the person (Enforce). Calling it again for
// an erased person tombstones whatever was published of them since.
func (x *Eraser) Erase(ctx context.Context, tenant, person string, e Entry) (Tombstoned, error) {
	mark, err := Mark(Topic(x.cfg.TopicPrefix), tenant, person, e)
	if err != nil {
		return nil, err
	}
	if err := x.ensureTopic(ctx); err != nil {
		return nil, err
	}
	if err := x.cfg.Producer.Publish(ctx, []kafka.Message{mark}); err != nil {
		return nil, fmt.Errorf("erasure: write the erasure record: %w", err)
	}
	store := x.cfg.NewStore()
	for _, ent := range x.cfg.Entities {
		src := kafka.TopicReplay{Reader: x.cfg.Reader, Topic: x.Topic(ent)}
		reader := x.readers[ent]
		dec := state.EnvelopeDecoder(func(value []byte) (any, error) {
			env, err := change.NewEnvelope(ent)
			if err != nil {
				return nil, err
			}
			return env, x.cfg.Codec.Decode(ctx, value, reader, env)
		})
		if _, err := state.Rebuild(ctx, store, ent, src, dec); err != nil && !kafka.UnknownTopic(err) {
			return nil, fmt.Errorf("erasure: %w", err)
		}
	}
	list := &List{entries: map[string]Entry{change.Key(tenant, person): e}}
	return Enforce(ctx, Target{Topic: x.Topic, Producer: x.cfg.Producer}, store, x.cfg.Entities, list)
}

// LiftErasure lifts a person's erasure: a tombstone on the erasures topic. The next full sync
// publishes the person again if Personio still lists them.
func (x *Eraser) LiftErasure(ctx context.Context, tenant, person string) error {
	msg, err := Lift(Topic(x.cfg.TopicPrefix), tenant, person)
	if err != nil {
		return err
	}
	if err := x.ensureTopic(ctx); err != nil {
		return err
	}
	if err := x.cfg.Producer.Publish(ctx, []kafka.Message{msg}); err != nil {
		return fmt.Errorf("erasure: write the lift: %w", err)
	}
	return nil
}

func (x *Eraser) ensureTopic(ctx context.Context) error {
	if x.cfg.Admin == nil {
		return nil
	}
	if err := x.cfg.Admin.EnsureTopics(ctx, []kafka.TopicSpec{TopicSpec(x.cfg.TopicSpec, x.cfg.TopicPrefix)}); err != nil {
		return fmt.Errorf("erasure: create the erasures topic: %w", err)
	}
	return nil
}
