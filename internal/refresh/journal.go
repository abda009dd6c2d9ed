package refresh

import (
	"context"
	"fmt"
	"slices"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// Producer writes messages and returns once all are acknowledged. *kafka.Client is one.
type Producer interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
}

// Reader reads a topic to its end. *kafka.Client is one.
type Reader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
}

// Admin creates topics. *kafka.Client is one.
type Admin interface {
	EnsureTopics(ctx context.Context, specs []kafka.TopicSpec) error
}

// Journal keeps the verification records of one tenant on the compacted topic
// <prefix>.employments.verified (see the package doc).
type Journal struct {
	Tenant string
	Prefix string
	// Spec is the template of the topic's settings (the service's topic template); the topic
	// has one partition, like the erasures topic: its records are few and small.
	Spec     kafka.TopicSpec
	Producer Producer
	Reader   Reader
	// Admin creates the topic before the first read; nil leaves it to the operator.
	Admin Admin
}

// TopicSpec returns the topic's settings from the service's template.
func TopicSpec(template kafka.TopicSpec, prefix string) kafka.TopicSpec {
	s := template
	s.Name = Topic(prefix)
	s.Partitions = 1
	return s
}

// Read returns the last verification of every person on the topic (a tombstone forgets the
// person), creating the topic first when an Admin is set. A record that cannot be read is an
// error: the service then waits and tries again rather than re-reading everyone.
func (j *Journal) Read(ctx context.Context) ([]Record, error) {
	if j.Admin != nil {
		if err := j.Admin.EnsureTopics(ctx, []kafka.TopicSpec{TopicSpec(j.Spec, j.Prefix)}); err != nil {
			return nil, fmt.Errorf("refresh: create the verification topic: %w", err)
		}
	}
	last := make(map[string]Verification)
	topic := Topic(j.Prefix)
	err := j.Reader.ReadToEnd(ctx, topic, func(r kafka.Record) error {
		id, ok := ParseKey(j.Tenant, string(r.Key))
		if !ok {
			return nil // another tenant's record
		}
		if r.Value == nil {
			delete(last, id)
			return nil
		}
		v, err := Decode(r.Value)
		if err != nil {
			return fmt.Errorf("%s offset %d: %w", topic, r.Offset, err)
		}
		last[id] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refresh: read verifications: %w", err)
	}
	out := make([]Record, 0, len(last))
	for id, v := range last {
		out = append(out, Record{PersonID: id, Verification: v})
	}
	slices.SortFunc(out, func(a, b Record) int { return a.VerifiedAt.Compare(b.VerifiedAt) })
	return out, nil
}

// Write appends verification records.
func (j *Journal) Write(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		v, err := r.Encode()
		if err != nil {
			return err
		}
		msgs[i] = kafka.Message{Topic: Topic(j.Prefix), Key: []byte(Key(j.Tenant, r.PersonID)), Value: v,
			Headers: []kafka.Header{{Key: "tenant", Value: []byte(j.Tenant)}}}
	}
	if err := j.Producer.Publish(ctx, msgs); err != nil {
		return fmt.Errorf("refresh: write verifications: %w", err)
	}
	return nil
}

// Forget tombstones the records of persons gone from the rotation.
func (j *Journal) Forget(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(ids))
	for i, id := range ids {
		msgs[i] = kafka.Message{Topic: Topic(j.Prefix), Key: []byte(Key(j.Tenant, id)),
			Headers: []kafka.Header{{Key: "tenant", Value: []byte(j.Tenant)}}}
	}
	if err := j.Producer.Publish(ctx, msgs); err != nil {
		return fmt.Errorf("refresh: tombstone verifications: %w", err)
	}
	return nil
}
