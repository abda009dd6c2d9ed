package inspect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// Reader reads topics. *kafka.Client is one.
type Reader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
	Tail(ctx context.Context, topic string, fromBeginning bool, fn func(kafka.Record) error) error
}

// Message decodes one record of topic.
func (d *Decoder) Message(ctx context.Context, topic string, r kafka.Record) (Message, error) {
	m := Message{Topic: topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Timestamp: r.Time.UTC()}
	if len(r.Headers) > 0 {
		m.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	if r.Value == nil {
		return m, nil
	}
	id, obj, err := d.Decode(ctx, r.Value)
	if err != nil {
		return m, fmt.Errorf("%s/%d@%d: %w", topic, r.Partition, r.Offset, err)
	}
	m.SchemaID, m.Value = id, obj
	return m, nil
}

// Replay reads every topic from offset 0 to its current end and folds the records into a
// State. progress, when set, is called after each record with the running count.
func Replay(ctx context.Context, r Reader, d *Decoder, topics []string, progress func(records int)) (*State, error) {
	st := NewState()
	n := 0
	for _, topic := range topics {
		err := r.ReadToEnd(ctx, topic, func(rec kafka.Record) error {
			m, err := d.Message(ctx, topic, rec)
			if err != nil {
				return err
			}
			st.Apply(m)
			n++
			if progress != nil {
				progress(n)
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("replay %s: %w", topic, explain(err))
		}
	}
	return st, nil
}

// Tail follows every topic until ctx ends (then it returns ctx.Err()) and hands each decoded
// record to fn, one at a time. With fromBeginning it starts at offset 0, else at the end.
func Tail(ctx context.Context, r Reader, d *Decoder, topics []string, fromBeginning bool, fn func(Message) error) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, topic := range topics {
		g.Go(func() error {
			return explain(r.Tail(gctx, topic, fromBeginning, func(rec kafka.Record) error {
				m, err := d.Message(gctx, topic, rec)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				return fn(m)
			}))
		})
	}
	return g.Wait()
}

// explain adds a hint to the errors a user meets first.
func explain(err error) error {
	if errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return fmt.Errorf("%w (the topic does not exist: has the service run a sync yet? is TOPIC_PREFIX right?)", err)
	}
	return err
}
