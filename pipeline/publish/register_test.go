package publish

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// answers is a Registry whose answer can change between calls, as codec.Registry's does when
// the registry lost a schema and it was registered again under a new id.
type answers struct {
	id    int
	err   error
	calls int
}

func (a *answers) Register(context.Context, string, avro.Schema) (int, error) {
	a.calls++
	return a.id, a.err
}

// TestRegisterAsksAgain: Register asks the registry every time and publishes under the id it
// answered last; a failed registration leaves the Publisher without an id, so it refuses to
// publish instead of using the old one.
func TestRegisterAsksAgain(t *testing.T) {
	reg := &answers{id: 1}
	rec := &recorder{}
	p, err := New(Config{TopicPrefix: "personio", Encoder: codec.New(nil), Registry: reg, Producer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	publishedID := func() int {
		t.Helper()
		rec.calls = nil
		ev := []change.Event{event(change.Create, 1, nil, person("1", "a@example.com"))}
		if _, err := p.Publish(ctx, state.NewMemory(), ev); err != nil {
			t.Fatal(err)
		}
		return int(binary.BigEndian.Uint32(rec.calls[0][0].Value[1:5]))
	}
	if err := p.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if id := publishedID(); id != 1 {
		t.Fatalf("published under id %d, want 1", id)
	}
	reg.id = 7
	calls := reg.calls
	if err := p.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if reg.calls == calls {
		t.Fatal("Register did not ask the registry again")
	}
	if id := publishedID(); id != 7 {
		t.Fatalf("published under id %d after the registry answered 7", id)
	}
	reg.err = codec.ErrSchemaIDMismatch
	if err := p.Register(ctx); !errors.Is(err, codec.ErrSchemaIDMismatch) {
		t.Fatalf("Register = %v, want the registry's error", err)
	}
	ev := []change.Event{event(change.Create, 1, nil, person("1", "a@example.com"))}
	if _, err := p.Publish(ctx, state.NewMemory(), ev); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Publish after a failed registration = %v, want ErrNotRegistered", err)
	}
}
