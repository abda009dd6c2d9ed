package sync

import (
	"context"
	"errors"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// halfWritten writes only the first half of one batch of persons and then fails, as a crash
// or a broker failure between two batches (or partitions) leaves the topic.
type halfWritten struct {
	publish.Producer
	entity change.Entity // the entity whose batches fail; default persons
	mu     gosync.Mutex
	fails  int
}

func (h *halfWritten) Publish(ctx context.Context, msgs []kafka.Message) error {
	h.mu.Lock()
	entity := h.entity
	if entity == "" {
		entity = change.Persons
	}
	fail := h.fails > 0 && len(msgs) > 1 && strings.HasSuffix(msgs[0].Topic, "."+string(entity))
	if fail {
		h.fails--
	}
	h.mu.Unlock()
	if !fail {
		return h.Producer.Publish(ctx, msgs)
	}
	if err := h.Producer.Publish(ctx, msgs[:len(msgs)/2]); err != nil {
		return err
	}
	return errors.New("broker gone after half the batch")
}

// A persons listing whose events reached Kafka only in part must not move the high-water mark:
// an incremental sync after it, by the same runner or by a restarted one, lists every person
// it may have missed (DESIGN.md §4: what Kafka did not acknowledge is detected again on the
// next sync). The persons of the simulator were updated over years, so a high-water mark taken
// from the half that was written would skip most of the other half.
func TestRunIncrementalAfterPartialPublish(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "same runner"
		if restart {
			name = "restarted runner"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 60)
			prod := &halfWritten{Producer: h.kafka, fails: 1}
			r := h.runner(func(c *Config) { c.Producer = prod })
			res, err := r.Run(t.Context(), Full)
			if err == nil || res.Outcome != Failed {
				t.Fatalf("err %v outcome %s, want the first sync to fail", err, res.Outcome)
			}
			if got := len(h.replay(change.Persons).State[change.Persons]); got == 0 || got >= 60 {
				t.Fatalf("%d persons on the topic after the failed sync, want some but not all", got)
			}
			if restart {
				r = h.runner()
			}
			res = run(t, r, Incremental)
			if got := changes(res, change.Persons)["c"]; got == 0 {
				t.Errorf("incremental sync after the partial publish created no person")
			}
			h.checkTopics(h.expected())
		})
	}
}

// futureSource gives one person (the first it lists, by id) an updated_at in 2099, as a
// person whose record Personio stamped wrongly, or a clock far ahead, would.
type futureSource struct {
	extract.Source
	id string // the person stamped in the future; set on the first listing
	mu gosync.Mutex
}

var farFuture = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *futureSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	return s.Source.ListPersons(ctx, f, func(ps []personio.Person) error {
		s.mu.Lock()
		for i := range ps {
			if s.id == "" {
				s.id = ps[i].ID
			}
			if ps[i].ID == s.id {
				ps[i].UpdatedAt = farFuture.Format(time.RFC3339)
			}
		}
		s.mu.Unlock()
		return fn(ps)
	})
}

// One person with an updated_at in 2099 must not move the high-water mark past every real
// change: the mark never goes beyond the start of the listing that saw it, so the next
// incremental sync asks from at most that start minus the skew margin and sees a change made
// after it.
func TestRunFutureUpdatedAtDoesNotBlindIncremental(t *testing.T) {
	h := newHarness(t, 30)
	rec := &recordingSource{Source: &futureSource{Source: h.client}}
	r := h.runner(func(c *Config) { c.Source = rec })
	full := run(t, r, Full)
	if hwm := r.HighWaterMark(); hwm.After(full.Started) {
		t.Errorf("high-water mark %s after the full sync that started at %s", hwm, full.Started)
	}
	rec.take()

	churn := h.sim.Churn(personiotest.Churn{Renames: 1})
	if len(churn.Renames) != 1 {
		t.Fatalf("churn renamed %v, want one person", churn.Renames)
	}
	res := run(t, r, Incremental)
	filters := rec.take()
	if len(filters) == 0 {
		t.Fatal("the incremental sync listed no persons")
	}
	for _, f := range filters {
		if limit := full.Started.Add(-DefaultSkewMargin); f.UpdatedAfter.IsZero() || f.UpdatedAfter.After(limit) {
			t.Errorf("incremental listing asks for updated_at > %s, want a filter at or before %s (the full listing's start minus the skew margin)",
				f.UpdatedAfter, limit)
		}
	}
	if got := changes(res, change.Persons)["u"]; got != 1 {
		t.Errorf("incremental sync after a rename published %d person updates, want 1 (changes %v)", got, changes(res, change.Persons))
	}
}
