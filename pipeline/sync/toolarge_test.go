package sync

import (
	"context"
	"encoding/json"
	"strings"
	gosync "sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// inflating is a Source that gives one person a last name of the given size.
type inflating struct {
	extract.Source
	mu   gosync.Mutex
	id   string
	name string
}

func (s *inflating) set(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id, s.name = id, name
}

func (s *inflating) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
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

// A person whose event is larger than the topic accepts (here a 1 MiB last name against
// Kafka's default limit of about 1 MiB per record batch) is skipped and reported, sync after
// sync, while every other change is published; its state stays, so the event is tried again.
func TestRunSkipsEventTooLargeForTopic(t *testing.T) {
	h := newHarness(t, 20)
	src := &inflating{Source: h.client}
	reg := prometheus.NewRegistry()
	r := h.runner(func(c *Config) { c.Source = src; c.Registerer = reg })
	run(t, r, Full)

	big := h.sim.Truth().Persons[3]
	huge := strings.Repeat("Ü", 1<<19) // 1 MiB of UTF-8
	src.set(big.ID, huge)
	churn := h.sim.Churn(personiotest.Churn{Renames: 3})
	renamed := map[string]bool{}
	for _, id := range churn.Renames {
		if id != big.ID {
			renamed[id] = true
		}
	}
	if len(renamed) == 0 {
		t.Fatal("the churn renamed no other person")
	}
	before := h.replay(change.Persons)
	bigKey := change.Key(tenant, big.ID)

	for round := 1; round <= 2; round++ {
		res, err := r.Run(t.Context(), Full)
		if err != nil {
			t.Fatalf("sync %d: %v (a skipped event is not a failure)", round, err)
		}
		pr := res.Entity(string(change.Persons))
		t.Logf("sync %d: persons %s, skipped %+v, errors %q", round, pr.Outcome, pr.Skipped, pr.Errors)
		if res.Outcome != Partial || pr.Outcome != Partial {
			t.Fatalf("sync %d: outcome %s, persons %s, want partial; errors %v", round, res.Outcome, pr.Outcome, res.Errors)
		}
		wantU := len(renamed)
		if round == 2 {
			wantU = 0
		}
		if got := changes(res, change.Persons); got["u"] != wantU || len(got) > 1 {
			t.Errorf("sync %d: persons changes %v, want %d updates (the renames, not the big one)", round, got, wantU)
		}
		text := strings.Join(res.Errors, "\n")
		if !strings.Contains(text, "persons") || !strings.Contains(text, "too_large") {
			t.Errorf("sync %d: errors %q do not report the skipped persons event", round, text)
		}
		if strings.Contains(text, big.ID) || strings.Contains(text, "ÜÜ") {
			t.Errorf("sync %d: errors name the person or hold the name: %.200q", round, text)
		}
		after := h.replay(change.Persons)
		if got, want := after.State[change.Persons][bigKey], before.State[change.Persons][bigKey]; got != want || got.IsZero() {
			t.Errorf("sync %d: the big person's state on the topic changed (%v, was %v)", round, got, want)
		}
		for id := range renamed {
			if key := change.Key(tenant, id); after.State[change.Persons][key] == before.State[change.Persons][key] {
				t.Errorf("sync %d: renamed person %s not published", round, id)
			}
		}
		if got := counterValue(t, reg, "personio_cdc_events_skipped_total", map[string]string{"entity": "persons", "reason": "too_large"}); got != float64(round) {
			t.Errorf("sync %d: personio_cdc_events_skipped_total{persons,too_large} = %v, want %d", round, got, round)
		}
		st, err := json.Marshal(r.Status())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(st), "too_large") || strings.Contains(string(st), "ÜÜ") {
			t.Errorf("sync %d: /status does not report the skipped event (or holds the name): %.400s", round, st)
		}
	}

	// Once the name is back to a sane size, the person's change goes out.
	src.set("", "")
	res := run(t, r, Full)
	if res.Outcome != Complete {
		t.Errorf("sync after the fix: outcome %s, errors %v", res.Outcome, res.Errors)
	}
	h.checkTopics(h.expected())
}
