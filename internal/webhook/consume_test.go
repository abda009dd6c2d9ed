package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestConsumeBatchesAndRequeues(t *testing.T) {
	r, _ := newTestReceiver(t, Options{})
	h := r.Handler()
	for i := range 7 {
		post(h, testPath, testToken, "application/json", delivery("person.updated", fmt.Sprintf(`{"id":"%d"}`, i)))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var batches [][]string
	calls := 0
	err := r.Consume(ctx, 3, func(_ context.Context, batch []Target) error {
		calls++
		var ids []string
		for _, tg := range batch {
			ids = append(ids, tg.PersonID)
		}
		batches = append(batches, ids)
		if calls == 1 {
			// While the first batch is fetched, person 0 changes again.
			post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"0"}`))
		}
		if calls == 2 {
			return errors.New("personio unreachable") // queued again, after a pause
		}
		if r.Queue().Len() == 0 && r.Queue().InFlight() == len(batch) && calls > 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v", err)
	}
	want := [][]string{{"0", "1", "2"}, {"3", "4", "5"}, {"6", "0", "3"}, {"4", "5"}}
	if !slices.EqualFunc(batches, want, slices.Equal) {
		t.Errorf("batches %v, want %v", batches, want)
	}
}
