package sync

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// eraser is what `personio-cdc erase` runs, on the harness' Kafka and registry.
func (h *harness) eraser() *erasure.Eraser {
	h.t.Helper()
	x, err := erasure.New(erasure.Config{TopicPrefix: DefaultTopicPrefix, Entities: Entities(), Admin: h.kafka,
		TopicSpec: kafka.TopicSpec{Partitions: 3}, Producer: h.kafka, Reader: h.kafka, Codec: h.codec})
	if err != nil {
		h.t.Fatal(err)
	}
	return x
}

// personWithCompensations returns the id of a person of the simulator who is paid in the
// listed months.
func (h *harness) personWithCompensations() string {
	h.t.Helper()
	windows := extract.Windows(time.Now(), DefaultLookbackMonths)
	for _, c := range h.sim.Truth().Compensations {
		d, err := time.Parse(time.DateOnly, c.EffectiveFrom)
		if err != nil || c.Person.ID == "" {
			continue
		}
		for _, w := range windows {
			if !d.Before(w.Start) && d.Before(w.End) {
				return c.Person.ID
			}
		}
	}
	h.t.Fatal("no person with a compensation in the listed months")
	return ""
}

// ofPerson returns, per entity, the keys of rp's events whose record belongs to person (live
// or not) and which of them are live; and the events of the person published after the
// first skip messages.
func ofPerson(rps map[change.Entity]oracle.Replay, person string) (keys, live map[string]bool, events []change.Event) {
	keys, live = map[string]bool{}, map[string]bool{}
	for e, rp := range rps {
		for _, m := range rp.Messages {
			for _, r := range []change.Record{m.Event.After, m.Event.Before} {
				if r != nil && r.SubjectID() == person {
					keys[m.Key] = true
				}
			}
		}
		for k := range rp.State[e] {
			if keys[k] {
				live[k] = true
			}
		}
		for _, m := range rp.Messages {
			if !m.Tombstone && keys[m.Key] {
				events = append(events, m.Event)
			}
		}
	}
	return keys, live, events
}

func (h *harness) replays() map[change.Entity]oracle.Replay {
	out := map[change.Entity]oracle.Replay{}
	for _, e := range change.Entities() {
		out[e] = h.replay(e)
	}
	return out
}

// withoutPerson is want less every key of keys.
func withoutPerson(want oracle.State, keys map[string]bool) oracle.State {
	out := oracle.State{}
	for e, m := range want {
		out[e] = map[string]change.Hash{}
		for k, h := range m {
			if !keys[k] {
				out[e][k] = h
			}
		}
	}
	return out
}

// TestRunLeavesErasedPersonOut erases a person Personio goes on listing: the erase command
// tombstones their person and compensation keys, and no later sync of any kind, of the runner
// that knew them nor of a restarted one, publishes them again, nor a "d" with their data; the
// other persons stay. Lifting the erasure makes the next full sync publish them again, with
// versions that continue.
func TestRunLeavesErasedPersonOut(t *testing.T) {
	h := newHarness(t, 30)
	r := h.runner()
	run(t, r, Full)
	person := h.personWithCompensations()
	keys, live, _ := ofPerson(h.replays(), person)
	if len(live) < 2 {
		t.Fatalf("person has %d live keys, want a person and a compensation", len(live))
	}
	before := map[string]int64{} // last version of each key
	for e, rp := range h.replays() {
		for k := range rp.State[e] {
			if vs := rp.Versions[k]; keys[k] && len(vs) > 0 {
				before[k] = vs[len(vs)-1]
			}
		}
	}
	published := func(rps map[change.Entity]oracle.Replay) int { _, _, evs := ofPerson(rps, person); return len(evs) }
	n0 := published(h.replays())

	got, err := h.eraser().Erase(t.Context(), tenant, person, erasure.Entry{ErasedAt: time.Now(), By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Total() != len(live) || got[change.Persons] != 1 {
		t.Errorf("erase tombstoned %v, want %d keys (1 person)", got, len(live))
	}
	want := withoutPerson(h.expected(), keys)
	h.checkTopics(want)

	for i, kind := range []Kind{Full, Incremental, Resnapshot, Full} {
		rr := r
		if i == 3 {
			rr = h.runner() // a restarted service: the state and the erasures come from the topics
		}
		res := run(t, rr, kind)
		if res.Outcome != Complete {
			t.Fatalf("%s sync: %s", kind, res.Outcome)
		}
		rps := h.checkTopics(want)
		if _, l, _ := ofPerson(rps, person); len(l) > 0 {
			t.Fatalf("%s sync (%d) published the erased person again: live keys %v", kind, i, l)
		}
		if n := published(rps); n != n0 {
			t.Fatalf("%s sync (%d) published %d events of the erased person (before the erasure: %d)", kind, i, n-n0, n0)
		}
	}
	if n := testutil.ToFloat64(r.metrics.ItemsSkipped.WithLabelValues(string(change.Persons), "erased")); n < 1 {
		t.Errorf("items skipped as erased = %v, want at least 1", n)
	}

	// Lift: the next full sync publishes the person again, versions continuing.
	if err := h.eraser().LiftErasure(t.Context(), tenant, person); err != nil {
		t.Fatal(err)
	}
	res := run(t, r, Full)
	if c := changes(res, change.Persons)["c"]; c != 1 {
		t.Errorf("full sync after the lift: persons changes %v, want c=1", changes(res, change.Persons))
	}
	rps := h.checkTopicsVersionsFree(h.expected())
	for e, rp := range rps {
		for k := range rp.State[e] {
			if v, ok := before[k]; ok {
				vs := rp.Versions[k]
				if last := vs[len(vs)-1]; last != v+1 {
					t.Errorf("%s %s re-published with version %d, want %d (continuing)", e, k, last, v+1)
				}
			}
		}
	}
}

// checkTopicsVersionsFree replays both topics and compares their state with want; it does not
// check version sequences (an erased key's sequence has a gap of tombstones).
func (h *harness) checkTopicsVersionsFree(want oracle.State) map[change.Entity]oracle.Replay {
	h.t.Helper()
	rps := h.replays()
	for e, rp := range rps {
		if d := oracle.Diff(rp.State[e], want[e]); d != "" {
			h.t.Errorf("%s topic state differs from the truth: %s", e, d)
		}
	}
	return rps
}

// erasingSource erases a person while the run lists persons: after the runner read the
// erasures, before it publishes.
type erasingSource struct {
	extract.Source
	erase func()
	done  bool
}

func (s *erasingSource) ListPersons(ctx context.Context, f personio.PersonFilter, fn func([]personio.Person) error) error {
	if !s.done {
		s.done = true
		s.erase()
	}
	return s.Source.ListPersons(ctx, f, fn)
}

// TestRunErasureDuringRunIsNotUndone erases a person while the very first sync lists them:
// the erase command finds nothing yet to tombstone, the run publishes the person, and must
// then tombstone what it published, so the erasure holds when the run returns.
func TestRunErasureDuringRunIsNotUndone(t *testing.T) {
	h := newHarness(t, 20)
	person := h.personWithCompensations()
	src := &erasingSource{Source: h.client, erase: func() {
		if _, err := h.eraser().Erase(t.Context(), tenant, person, erasure.Entry{ErasedAt: time.Now()}); err != nil {
			t.Error(err)
		}
	}}
	r := h.runner(func(c *Config) { c.Source = src; c.PersonChains = 1 })
	run(t, r, Full)
	if !src.done {
		t.Fatal("the source never listed persons")
	}
	rps := h.replays()
	keys, live, _ := ofPerson(rps, person)
	if len(keys) == 0 {
		t.Fatal("the run published nothing of the person: the test does not test the race")
	}
	if len(live) > 0 {
		t.Fatalf("the erasure made during the run was undone: live keys %v of %v", live, keys)
	}
	if d := oracle.Diff(rps[change.Persons].State[change.Persons], withoutPerson(h.expected(), keys)[change.Persons]); d != "" {
		t.Errorf("persons topic: %s", d)
	}
	if n := testutil.ToFloat64(r.metrics.ErasedKeys.WithLabelValues(string(change.Persons))); n != 1 {
		t.Errorf("erased person keys tombstoned by the runner = %v, want 1", n)
	}
}

// rollTombstones counts, per key, the second erasure tombstones (erased=roll) on both topics.
func (h *harness) rollTombstones() map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, e := range Entities() {
		err := h.kafka.ReadToEnd(h.t.Context(), publish.Topic(DefaultTopicPrefix, e), func(rec kafka.Record) error {
			for _, hd := range rec.Headers {
				if rec.Value == nil && hd.Key == erasure.HeaderErased && string(hd.Value) == erasure.HeaderRoll {
					out[string(rec.Key)]++
				}
			}
			return nil
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

// TestRunRollsErasedSegments: Kafka never compacts a partition's active segment and rolls it
// only when a record arrives after segment.ms, so in a partition no sync writes to an erased
// person's values would stay readable for good. The first sync after SegmentRoll writes each
// erasure tombstone once more (erased=roll), also after a restart (the rebuild finds the
// tombstones still waiting), and never twice.
func TestRunRollsErasedSegments(t *testing.T) {
	h := newHarness(t, 20)
	base := time.Now()
	var now time.Time
	clock := func(d time.Duration) { now = base.Add(d) }
	runner := func() *Runner {
		return h.runner(func(c *Config) { c.SegmentRoll = time.Hour; c.Now = func() time.Time { return now } })
	}
	clock(0)
	r := runner()
	run(t, r, Full)
	person := h.personWithCompensations()
	_, live, _ := ofPerson(h.replays(), person)
	if _, err := h.eraser().Erase(t.Context(), tenant, person, erasure.Entry{ErasedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	clock(time.Minute)
	run(t, r, Full) // learns of the erasure, tombstones the keys it held
	if got := h.rollTombstones(); len(got) != 0 {
		t.Fatalf("second tombstones before the segment roll: %v", got)
	}

	r = runner() // restarted
	clock(2 * time.Minute)
	run(t, r, Full)
	if got := h.rollTombstones(); len(got) != 0 {
		t.Fatalf("second tombstones before the segment roll, after a restart: %v", got)
	}
	clock(2 * time.Hour)
	run(t, r, Incremental)
	got := h.rollTombstones()
	if len(got) != len(live) {
		t.Fatalf("second tombstones for %d keys, want the %d keys of the person", len(got), len(live))
	}
	for k := range live {
		if got[k] != 1 {
			t.Errorf("%s: %d second tombstones, want 1", k, got[k])
		}
	}

	r = runner() // restarted again: the rebuild sees the second copies
	clock(5 * time.Hour)
	run(t, r, Full)
	run(t, r, Full)
	if again := h.rollTombstones(); len(again) != len(live) || again[change.Key(tenant, person)] != 1 {
		t.Errorf("second tombstones after another restart: %v", again)
	}
	if _, l, _ := ofPerson(h.replays(), person); len(l) > 0 {
		t.Errorf("the erased person is live again: %v", l)
	}
}

// countingReader counts the reads of one topic.
type countingReader struct {
	TopicReader
	topic string
	reads int
}

func (c *countingReader) ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error {
	if topic == c.topic {
		c.reads++
	}
	return c.TopicReader.ReadToEnd(ctx, topic, fn)
}

// TestRunReadsErasuresAgainOnlyAfterPublishing: the second read of the erasures topic, after
// a run, tombstones what the run published of a person erased while it ran. A run that
// published nothing has nothing of the kind: it reads the topic once, before listing.
func TestRunReadsErasuresAgainOnlyAfterPublishing(t *testing.T) {
	h := newHarness(t, 12)
	reader := &countingReader{TopicReader: h.kafka, topic: erasure.Topic(DefaultTopicPrefix)}
	r := h.runner(func(c *Config) { c.Reader = reader })
	run(t, r, Full)
	if reader.reads != 2 {
		t.Fatalf("a run that published read the erasures topic %d times, want 2 (before and after)", reader.reads)
	}
	reader.reads = 0
	res := run(t, r, Full) // nothing changed in Personio: no events
	for _, er := range res.Entities {
		for op, n := range er.Changes {
			if n > 0 {
				t.Fatalf("the second run published %d %s events of %s: the test needs a run without events", n, op, er.Entity)
			}
		}
	}
	if reader.reads != 1 {
		t.Errorf("a run that published nothing read the erasures topic %d times, want 1", reader.reads)
	}
}
