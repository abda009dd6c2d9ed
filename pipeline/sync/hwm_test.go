package sync

import (
	"context"
	"errors"
	"strings"
	gosync "sync"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// halfWritten writes only the first half of one batch of persons and then fails, as a crash
// or a broker failure between two batches (or partitions) leaves the topic.
type halfWritten struct {
	publish.Producer
	mu    gosync.Mutex
	fails int
}

func (h *halfWritten) Publish(ctx context.Context, msgs []kafka.Message) error {
	h.mu.Lock()
	fail := h.fails > 0 && len(msgs) > 1 && strings.HasSuffix(msgs[0].Topic, "."+string(change.Persons))
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
