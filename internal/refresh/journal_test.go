package refresh

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// memTopic is a one-partition topic in memory: a Producer, Reader and Admin.
type memTopic struct {
	recs    map[string][]kafka.Record
	created []string
}

func (m *memTopic) Publish(_ context.Context, msgs []kafka.Message) error {
	if m.recs == nil {
		m.recs = map[string][]kafka.Record{}
	}
	for _, msg := range msgs {
		m.recs[msg.Topic] = append(m.recs[msg.Topic], kafka.Record{Offset: int64(len(m.recs[msg.Topic])), Key: msg.Key, Value: msg.Value})
	}
	return nil
}

func (m *memTopic) ReadToEnd(_ context.Context, topic string, fn func(kafka.Record) error) error {
	for _, r := range m.recs[topic] {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memTopic) EnsureTopics(_ context.Context, specs []kafka.TopicSpec) error {
	for _, s := range specs {
		m.created = append(m.created, s.Name)
	}
	return nil
}

func TestJournalRoundTrip(t *testing.T) {
	ctx := context.Background()
	topic := &memTopic{}
	j := &Journal{Tenant: "acme", Prefix: "personio", Producer: topic, Reader: topic, Admin: topic}
	other := &Journal{Tenant: "other", Prefix: "personio", Producer: topic, Reader: topic}
	v := func(h int) Verification {
		return Verification{VerifiedAt: t0.Add(time.Duration(h) * time.Hour), UpdatedAt: t0}
	}
	steps := []error{
		j.Write(ctx, []Record{{"1", v(1)}, {"2", v(2)}, {"3", v(3)}}),
		other.Write(ctx, []Record{{"1", v(9)}}),
		j.Write(ctx, []Record{{"1", v(4)}}),
		j.Forget(ctx, []string{"2"}),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	got, err := j.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{"3", v(3)}, {"1", v(4)}}
	if !slices.Equal(got, want) {
		t.Fatalf("Read = %+v, want %+v", got, want)
	}
	if !slices.Equal(topic.created, []string{"personio.employments.verified"}) {
		t.Fatalf("created topics %v", topic.created)
	}
	// A record that cannot be read fails the read, naming its offset.
	_ = topic.Publish(ctx, []kafka.Message{{Topic: Topic("personio"), Key: []byte("acme:4"), Value: []byte("{")}})
	if _, err := j.Read(ctx); !errors.Is(err, ErrRecord) {
		t.Fatalf("Read with a bad record = %v, want ErrRecord", err)
	}
}
