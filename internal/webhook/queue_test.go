package webhook

import (
	"context"
	"errors"
	"testing"
)

func TestQueueNextAndClose(t *testing.T) {
	q := NewQueue(2)
	if got := q.Offer(Target{PersonID: "1"}); got != Queued {
		t.Fatalf("Offer = %s", got)
	}
	q.Offer(Target{PersonID: "2"})
	if got := q.Offer(Target{PersonID: "3"}); got != Full {
		t.Errorf("third person in a queue of 2: %s", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// What is queued is served even to a cancelled context; an empty queue waits on it.
	if tg, err := q.Next(ctx); err != nil || tg.PersonID != "1" {
		t.Errorf("Next = %+v, %v", tg, err)
	}
	q.Close()
	if got := q.Offer(Target{PersonID: "4"}); got != Full {
		t.Errorf("Offer after Close: %s", got)
	}
	if tg, err := q.Next(t.Context()); err != nil || tg.PersonID != "2" {
		t.Errorf("Next drains after Close: %+v, %v", tg, err)
	}
	if _, err := q.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next on a closed, empty queue: %v", err)
	}
	if _, err := NewQueue(1).Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on an empty queue with a cancelled context: %v", err)
	}
}
