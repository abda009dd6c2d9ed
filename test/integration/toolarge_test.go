//go:build integration

package integration

import (
	"context"
	"strings"
	gosync "sync"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// bigName is a Source that gives one person a very long last name while it is set.
type bigName struct {
	extract.Source
	mu   gosync.Mutex
	id   string
	name string
}

func (s *bigName) set(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id, s.name = id, name
}

func (s *bigName) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	return s.Source.ListPersons(ctx, f, func(page []personio.Person) error {
		s.mu.Lock()
		id, name := s.id, s.name
		s.mu.Unlock()
		for i := range page {
			if page[i].ID == id {
				page[i].LastName = name
			}
		}
		return fn(page)
	})
}

// TestIntegrationEventTooLargeForTopic runs syncs against a persons topic that takes at most
// 64 KiB per record batch, with one person whose last name alone is 100 KB: the runner reads
// the topic's max.message.bytes from the real broker, leaves that person's event out and reports
// it, publishes every other person, and publishes the person once the name fits again. The
// independent consumer checks the topics.
func TestIntegrationEventTooLargeForTopic(t *testing.T) {
	const limit = 65536
	p := newPipelineEnv(t, 30)
	for _, e := range []change.Entity{change.Persons, change.Compensations} {
		CreateTopic(t, publish.Topic(p.prefix, e), 3, map[string]string{"cleanup.policy": "compact", "max.message.bytes": "65536"})
	}
	src := &bigName{Source: p.client}
	r := p.runner(func(c *sync.Config) { c.Source = src })

	big := p.sim.Truth().Persons[7]
	huge := strings.Repeat("Zyx", 100_000/3)
	src.set(big.ID, huge)
	for round := 1; round <= 2; round++ {
		res, err := r.Run(t.Context(), sync.Full)
		if err != nil {
			t.Fatalf("sync %d: %v", round, err)
		}
		pr := res.Entity(string(change.Persons))
		t.Logf("sync %d: outcome %s, persons %v, skipped %+v, errors %q", round, res.Outcome, pr.Changes, pr.Skipped, pr.Errors)
		if res.Outcome != sync.Partial || pr.Outcome != sync.Partial || res.Entity(string(change.Compensations)).Outcome != sync.Complete {
			t.Fatalf("sync %d: outcome %s (persons %s), want partial persons only", round, res.Outcome, pr.Outcome)
		}
		want := 29
		if round == 2 {
			want = 0
		}
		if pr.Changes["c"] != want {
			t.Errorf("sync %d: %d persons created, want %d (all but the big one)", round, pr.Changes["c"], want)
		}
		if len(pr.Skipped) != 1 || pr.Skipped[0].Reason != publish.ReasonTooLarge || pr.Skipped[0].Size < 100_000 ||
			pr.Skipped[0].Limit >= limit || pr.Skipped[0].Limit < limit*9/10 {
			t.Errorf("sync %d: skipped %+v, want one too_large event of over 100 KB against a limit just under %d", round, pr.Skipped, limit)
		}
		text := strings.Join(pr.Errors, " ")
		if !strings.Contains(text, "too_large") || strings.Contains(text, "ZyxZyx") || strings.Contains(text, big.ID) {
			t.Errorf("sync %d: errors %.300q, want the skip reported without name or id", round, text)
		}
		persons := verifiedState(t, RunVerifier(t, p.prefix+".persons"))
		if _, ok := persons[pipelineTenant+":"+big.ID]; ok || len(persons) != 29 {
			t.Errorf("sync %d: the persons topic holds %d persons (the big one: %v), want the 29 others", round, len(persons), ok)
		}
	}

	src.set("", "")
	res := p.sync(r, sync.Full)
	if pr := res.Entity(string(change.Persons)); pr.Changes["c"] != 1 || len(pr.Skipped) != 0 {
		t.Errorf("sync after the name was shortened: persons %v, skipped %v; want the one create", pr.Changes, pr.Skipped)
	}
	p.verify()
}
