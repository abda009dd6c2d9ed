package main

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

var benchCompany = sync.OnceValues(func() (company, error) { return newCompany(2000) })

func loadCompany(b *testing.B) company {
	b.Helper()
	c, err := benchCompany()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkDiffEncode measures the initial sync's hot path per person: normal form, content
// hash, diff against an empty state, envelope and Avro encoding in the wire format. Run it
// with -cpu 1 for the per-core figure.
func BenchmarkDiffEncode(b *testing.B) {
	c := loadCompany(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := diffEncode(c, state.NewMemory(), 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.persons)*b.N)/b.Elapsed().Seconds(), "persons/s")
}

// BenchmarkNoChangeDiff measures a full sync that finds nothing changed, per person.
func BenchmarkNoChangeDiff(b *testing.B) {
	c := loadCompany(b)
	events, err := diffEncode(c, state.NewMemory(), 1)
	if err != nil {
		b.Fatal(err)
	}
	st := state.NewMemory()
	if err := state.Apply(st, events); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if n, err := noChangeDiff(c, st); err != nil || n != 0 {
			b.Fatalf("%d events: %v", n, err)
		}
	}
	b.ReportMetric(float64(len(c.persons)*b.N)/b.Elapsed().Seconds(), "persons/s")
}

// BenchmarkApply measures folding created events into the state (what the publisher does
// after Kafka acknowledged them).
func BenchmarkApply(b *testing.B) {
	c := loadCompany(b)
	events, err := diffEncode(c, state.NewMemory(), 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := state.Apply(state.NewMemory(), events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "persons/s")
}

// testDiffEncode checks the figures' hot path on n persons: every person becomes a create
// with a wire-format value, and diffing again against the folded state finds nothing.
func testDiffEncode(t *testing.T, n int) {
	t.Helper()
	c, err := newCompany(n)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemas.Parse(string(change.Persons))
	if err != nil {
		t.Fatal(err)
	}
	events, err := diffEncode(c, state.NewMemory(), 7)
	if err != nil {
		t.Fatal(err)
	}
	values, err := wireValues(events, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != n || len(values) != n {
		t.Fatalf("%d events, %d values, want %d", len(events), len(values), n)
	}
	for i, v := range values {
		if id, _, err := codec.SplitHeader(v); err != nil || id != 7 || events[i].Op != change.Create {
			t.Fatalf("event %d: op %s, schema id %d: %v", i, events[i].Op, id, err)
		}
		env, err := events[i].Envelope()
		if err != nil {
			t.Fatal(err)
		}
		want, err := codec.New(nil).Encode(7, schema, env)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v, want) {
			t.Fatalf("event %d: spliced value differs from the envelope encoding", i)
		}
	}
	st := state.NewMemory()
	if err := state.Apply(st, events); err != nil {
		t.Fatal(err)
	}
	if k, err := noChangeDiff(c, st); err != nil || k != 0 {
		t.Errorf("no-change diff: %d events: %v", k, err)
	}
}

// nopProducer acknowledges every message at once.
type nopProducer struct{}

func (nopProducer) Publish(context.Context, []kafka.Message) error { return nil }

type nopRegistry struct{}

func (nopRegistry) Register(context.Context, string, avro.Schema) (int, error) { return 1, nil }

// BenchmarkPublishCPU measures our publisher without a broker: envelope, encoding, messages
// and folding into the state, per event.
func BenchmarkPublishCPU(b *testing.B) {
	c := loadCompany(b)
	events, err := diffEncode(c, state.NewMemory(), 1)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := publish.New(publish.Config{TopicPrefix: "bench", Encoder: codec.New(nil), Registry: nopRegistry{}, Producer: nopProducer{}})
	if err != nil {
		b.Fatal(err)
	}
	if err := pub.Register(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := pub.Publish(b.Context(), state.NewMemory(), events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}
