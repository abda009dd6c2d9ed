package publish

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// callSignal is a Producer that passes calls on and reports on calls when call number at
// (1-based) begins.
type callSignal struct {
	Producer
	n     atomic.Int32
	at    int32
	calls chan struct{}
}

func (s *callSignal) Publish(ctx context.Context, msgs []kafka.Message) error {
	if s.n.Add(1) == s.at {
		close(s.calls)
	}
	return s.Producer.Publish(ctx, msgs)
}

// creates returns a create event for each of n persons with ids from first on.
func creates(first, n int, email string) []change.Event {
	out := make([]change.Event, n)
	for i := range out {
		id := fmt.Sprint(first + i)
		out[i] = event(change.Create, 1, nil, person(id, fmt.Sprintf(email, id)))
	}
	return out
}

// A batch whose producer call ended without a verdict (the call was cancelled and Kafka did
// not answer within the write timeout) may still be sent by kafka-go: its memory must not be
// reused for the next batch. Kafka holds every produce request here until the next Publish
// has encoded its batch and handed it over; then every record on the topic must still be the
// event of its own key.
func TestPublishWithoutVerdictKeepsItsMemory(t *testing.T) {
	// One P, so that the buffer pool hands the next batch what the last one gave back.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const topic = "personio.persons"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, "personio.compensations"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	gate := make(chan struct{})
	arrived := make(chan struct{})
	var once, released sync.Once
	release := func() { released.Do(func() { close(gate) }) }
	t.Cleanup(release)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		once.Do(func() { close(arrived) })
		cluster.SleepControl(func() { <-gate })
		return nil, nil, false
	})
	// Small produce batches, so that most of a call's messages wait in kafka-go's queue behind
	// the held request; a short write timeout so that the cancelled call gives up quickly.
	client, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs(), BatchSize: 10,
		WriteTimeout: 200 * time.Millisecond, MaxAttempts: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	prod := &callSignal{Producer: client, at: 2, calls: make(chan struct{})}
	p, c := newPublisher(t, prod, 0)

	// Different id and e-mail lengths: the second batch lays its bytes out differently.
	first := creates(1, 100, "p%s@example.com")
	second := creates(200000, 100, "someone.else.%s@example.org")

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := p.Publish(ctx, state.NewMemory(), first); !errors.Is(err, ErrStateUnknown) || !errors.Is(err, context.Canceled) {
		t.Fatalf("first Publish = %v, want the cancel with the state unknown", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(t.Context(), state.NewMemory(), second)
		done <- err
	}()
	select {
	case <-prod.calls: // the second batch is encoded and on its way
	case err := <-done:
		t.Fatalf("second Publish returned %v before Kafka answered anything", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("second Publish = %v", err)
	}

	want := map[string]string{} // event id → key
	for _, ev := range append(first, second...) {
		want[ev.EventID] = ev.Key
	}
	reader, err := schemas.Parse(string(change.Persons))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	seen := map[string]bool{}
	err = client.ReadToEnd(t.Context(), topic, func(r kafka.Record) error {
		var id string
		for _, h := range r.Headers {
			if h.Key == "event_id" {
				id = string(h.Value)
			}
		}
		var env change.PersonChange
		switch err := c.Decode(t.Context(), r.Value, reader, &env); {
		case err != nil:
			bad = append(bad, fmt.Sprintf("offset %d, key %q: value does not decode: %v", r.Offset, r.Key, err))
		case env.After == nil || change.Key(tenant, env.After.ID) != string(r.Key) || env.EventID != id || want[id] != string(r.Key):
			got := "<nil>"
			if env.After != nil {
				got = env.After.ID
			}
			bad = append(bad, fmt.Sprintf("offset %d, key %q, event_id header %q: value is person %q, event %q", r.Offset, r.Key, id, got, env.EventID))
		default:
			seen[id] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%d records are not the event of their own key; the first ones:\n%s", len(bad), strings.Join(bad[:min(3, len(bad))], "\n"))
	}
	for _, ev := range second {
		if !seen[ev.EventID] {
			t.Errorf("event of %s (acknowledged) is not on the topic", ev.Key)
			break
		}
	}
}
