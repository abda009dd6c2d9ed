//go:build integration

package integration

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Compaction settings of seconds, so that the bound an erasure relies on passes within the test.
const (
	erasureSegmentRoll = 2 * time.Second
	erasureMaxLag      = 4 * time.Second
	erasureRetention   = 2 * time.Second
)

// rawValues returns every value on topic from its first offset, as bytes, lower-cased.
func (p *pipelineEnv) rawValues(ctx context.Context, topic string) [][]byte {
	p.t.Helper()
	var out [][]byte
	if err := p.kafka.ReadToEnd(ctx, topic, func(r kafka.Record) error {
		if r.Value != nil {
			out = append(out, bytes.ToLower(r.Value))
		}
		return nil
	}); err != nil {
		p.t.Fatalf("read %s: %v", topic, err)
	}
	return out
}

// readable returns the markers found in any raw value of the topics.
func (p *pipelineEnv) readable(ctx context.Context, topics []string, markers []string) map[string]bool {
	p.t.Helper()
	found := map[string]bool{}
	for _, topic := range topics {
		for _, v := range p.rawValues(ctx, topic) {
			for _, m := range markers {
				if bytes.Contains(v, []byte(strings.ToLower(m))) {
					found[m] = true
				}
			}
		}
	}
	return found
}

// TestIntegrationErasure erases a person on the real broker, with topic settings of seconds:
// once the bound (segment roll + max compaction lag + the cleaner's backoff) has passed and the
// partitions were written to again, the person's e-mail and compensation ids are in no raw
// value of the topics read from their first offset, while every other person's e-mail still
// is; syncs meanwhile (full and incremental, Personio still listing the person) publish nothing
// of them; after `--lift` the next full sync publishes them again.
func TestIntegrationErasure(t *testing.T) {
	p := newPipelineEnv(t, 20)
	ctx := t.Context()
	spec := kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1,
		Configs: kafka.CompactedTopicConfigs(0, erasureMaxLag, erasureSegmentRoll, erasureRetention)}
	withSpec := func(c *sync.Config) { c.TopicSpec, c.SegmentRoll = spec, erasureSegmentRoll }
	r := p.runner(withSpec)
	p.sync(r, sync.Full)

	topics := []string{p.prefix + ".persons", p.prefix + ".compensations"}
	cfgs, err := p.kafka.TopicConfigs(ctx, topics[0], "segment.ms", "max.compaction.lag.ms", "delete.retention.ms")
	if err != nil {
		t.Fatal(err)
	}
	if cfgs["segment.ms"] != "2000" || cfgs["max.compaction.lag.ms"] != "4000" || cfgs["delete.retention.ms"] != "2000" {
		t.Fatalf("persons topic configs %v", cfgs)
	}

	// The person to erase: one with a compensation on the topic; the markers are their e-mail
	// and the ids of their compensations.
	truth := p.sim.Truth()
	comps := map[string][]string{}
	if err := p.kafka.ReadToEnd(ctx, topics[1], func(rec kafka.Record) error {
		if rec.Value == nil {
			return nil
		}
		var env change.CompensationChange
		if err := p.codec.Decode(ctx, rec.Value, nil, &env); err == nil && env.After != nil {
			comps[env.After.PersonID] = append(comps[env.After.PersonID], env.After.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var person string
	var markers, others []string
	for _, pr := range truth.Persons {
		if person == "" && len(comps[pr.ID]) > 0 && pr.Email != "" {
			person = pr.ID
			markers = append([]string{pr.Email}, comps[pr.ID]...)
		} else if pr.Email != "" {
			others = append(others, pr.Email)
		}
	}
	if person == "" {
		t.Fatal("no person with an e-mail and a compensation")
	}
	if got := p.readable(ctx, topics, markers); len(got) != len(markers) {
		t.Fatalf("before the erasure %d of %d markers are readable", len(got), len(markers))
	}

	x, err := erasure.New(erasure.Config{TopicPrefix: p.prefix, Entities: sync.Entities(), Admin: p.kafka,
		TopicSpec: spec, Producer: p.kafka, Reader: p.kafka, Codec: p.codec})
	if err != nil {
		t.Fatal(err)
	}
	n, err := x.Erase(ctx, pipelineTenant, person, erasure.Entry{ErasedAt: time.Now(), By: "integration test"})
	if err != nil {
		t.Fatal(err)
	}
	if n[change.Persons] != 1 || n[change.Compensations] != len(markers)-1 {
		t.Fatalf("erase tombstoned %v, want 1 person and %d compensations", n, len(markers)-1)
	}
	erased := time.Now()

	// Syncs go on while the cleaner works: they write to every partition (churn), which rolls
	// the active segments, and must publish nothing of the erased person.
	deadline := erased.Add(2 * time.Minute)
	var left map[string]bool
	for i := 0; ; i++ {
		p.sim.Churn(personiotest.Churn{Renames: 2, SalaryChanges: 2})
		kind := sync.Full
		if i%2 == 1 {
			kind = sync.Incremental
		}
		p.sync(r, kind)
		left = p.readable(ctx, topics, markers)
		if len(left) == 0 && time.Since(erased) > erasureSegmentRoll+erasureMaxLag {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d erased values still readable %s after the erasure (bound %s + cleaner backoff)",
				len(left), len(markers), time.Since(erased).Round(time.Second), erasureSegmentRoll+erasureMaxLag)
		}
		time.Sleep(time.Second)
	}
	t.Logf("erased values unreadable %s after the erasure", time.Since(erased).Round(100*time.Millisecond))
	if got := p.readable(ctx, topics, others); len(got) != len(others) {
		t.Errorf("only %d of the %d other persons' e-mails are still readable", len(got), len(others))
	}

	// Personio still lists the person: a restarted service (state and erasures rebuilt from the
	// compacted topics) publishes nothing of them either.
	p.sync(p.runner(withSpec), sync.Full)
	if got := p.readable(ctx, topics, markers); len(got) > 0 {
		t.Fatalf("a full sync after the erasure published the person again: %d markers readable", len(got))
	}

	// Lifted, the next full sync publishes them again.
	if err := x.LiftErasure(ctx, pipelineTenant, person); err != nil {
		t.Fatal(err)
	}
	res := p.sync(r, sync.Full)
	if c := res.Entity(string(change.Persons)).Changes["c"]; c != 1 {
		t.Errorf("full sync after the lift: persons changes %v, want c=1", res.Entity(string(change.Persons)).Changes)
	}
	if got := p.readable(ctx, topics, markers[:1]); !got[markers[0]] {
		t.Error("the person's e-mail is not on the topic again after the lift")
	}
}
