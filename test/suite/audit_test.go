//go:build integration

package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// epoch is a stretch of the topics during which the simulator's truth did not change: it
// starts at the end offsets recorded just before a churn. Every event at or after those
// offsets (and before the next epoch's) was published while truth was the company.
type epoch struct {
	start offsets
	// keys are the keys of each entity (change.Entities) in the truth: every person, every
	// employment of every person, every compensation whatever its window.
	keys map[change.Entity]map[string]bool
}

func newEpoch(t testing.TB, start offsets, tr personiotest.Truth) epoch {
	t.Helper()
	return newTenantEpoch(t, tenant, start, tr)
}

// newTenantEpoch is newEpoch for the keys of tenant name (one company of many on shared topics).
func newTenantEpoch(t testing.TB, name string, start offsets, tr personiotest.Truth) epoch {
	t.Helper()
	want, err := expectedFor(tr, name, nil) // no windows: compensations are added below
	if err != nil {
		t.Fatal(err)
	}
	e := epoch{start: start, keys: map[change.Entity]map[string]bool{}}
	for _, ent := range change.Entities() {
		e.keys[ent] = map[string]bool{}
		for k := range want[ent] {
			e.keys[ent][k] = true
		}
	}
	for _, c := range tr.Compensations {
		rec, err := change.NewCompensation(c)
		if err != nil {
			t.Fatal(err)
		}
		e.keys[change.Compensations][change.Key(name, rec.RecordID())] = true
	}
	return e
}

// tally is what an audit counted.
type tally struct {
	Records    int // every record, tombstones included
	Events     int
	Tombstones int
	Duplicates int // an event whose key and version an earlier event already carried
	Creates    int
	Updates    int
	Deletes    int
	Snapshots  int // "r" events
	Befores    int // u and d events whose before was compared with the previous after
	Keys       int // live keys after the replay
}

func (a *tally) add(b tally) {
	a.Records += b.Records
	a.Events += b.Events
	a.Tombstones += b.Tombstones
	a.Duplicates += b.Duplicates
	a.Creates += b.Creates
	a.Updates += b.Updates
	a.Deletes += b.Deletes
	a.Snapshots += b.Snapshots
	a.Befores += b.Befores
	a.Keys += b.Keys
}

func (a tally) String() string {
	return fmt.Sprintf("%d records: %d events (c %d, u %d, d %d, r %d), %d tombstones, %d duplicates, %d befores checked; %d live keys",
		a.Records, a.Events, a.Creates, a.Updates, a.Deletes, a.Snapshots, a.Tombstones, a.Duplicates, a.Befores, a.Keys)
}

// audit replays every topic of c (one per entity, change.Entities) from offset 0 with the independent Python consumer and checks
// every rule of the event contract against the truth at the end and at the time of each event:
//
//   - the rebuilt state (last event per key, "d" and tombstones remove) is the truth: the same
//     keys, the payroll fields equal, decimals compared exactly; and the service's own replay
//     (oracle.ReplayTopic) has every record's content hash equal to the truth's;
//   - a repeated key+version carries the same event_id and the same content;
//   - per key, versions start at 1 and rise by exactly 1 between distinct events (a key
//     created again after a delete may continue or restart at 1, pipeline/diff);
//   - c only for a key that is not live, u and d only for a live one (r, a re-snapshot read,
//     for either), and every d is followed by a tombstone of its key;
//   - no event_id names two different events;
//   - the before of a u or d event is the after of the key's previous event;
//   - zero false deletes: a "d" names a key absent from the truth of its epoch, a person "d"
//     names a person the churn deleted, and an employment "d" an employment of one (the
//     churn removes employments only with their person).
func audit(t *testing.T, c *cdc, epochs []epoch, churnDeleted map[string]bool, final personiotest.Truth) tally {
	t.Helper()
	tl, _ := auditRecords(t, c, epochs, churnDeleted, final)
	return tl
}

// auditRecords is audit that also returns the records it read, every topic in order.
func auditRecords(t *testing.T, c *cdc, epochs []epoch, churnDeleted map[string]bool, final personiotest.Truth) (tally, []integration.VerifiedRecord) {
	t.Helper()
	// How each entity's live records are compared with the truth, field by field.
	compare := map[change.Entity]func(live map[string]map[string]any){
		change.Persons: func(live map[string]map[string]any) { integration.ComparePersons(t, tenant, live, final) },
		change.Compensations: func(live map[string]map[string]any) {
			integration.CompareCompensations(t, tenant, live, final, windows())
		},
		change.Employments: func(live map[string]map[string]any) { integration.CompareEmployments(t, tenant, live, final) },
	}
	var total tally
	var all []integration.VerifiedRecord
	topics := c.topics()
	for i, entity := range change.Entities() {
		topic := topics[i]
		recs := integration.RunVerifier(t, topic)
		all = append(all, recs...)
		tl, live := checkTopic(t.Errorf, topic, tenant, entity, recs, epochs, churnDeleted)
		tl.Keys = len(live)
		total.add(tl)
		if cmp := compare[entity]; cmp != nil {
			cmp(live)
		} else {
			t.Errorf("the audit has no field comparison with the truth for %s: add one", entity)
		}
	}
	compareHashes(t, c, final)
	return total, all
}

type seen struct {
	eventID string
	content string
}

// checkTopic checks the records of one topic, in partition and offset order, reporting every
// violation through errorf; it returns what it counted and the live keys' "after" records.
// The records are those of tenant name (keys "<name>:<id>"; auditTenants splits shared topics).
func checkTopic(errorf func(format string, args ...any), topic, name string, entity change.Entity, recs []integration.VerifiedRecord,
	epochs []epoch, churnDeleted map[string]bool) (tally, map[string]map[string]any) {
	var tl tally
	live := map[string]map[string]any{}
	versions := map[string]map[int64]seen{} // key -> version -> first event
	last := map[string]int64{}              // key -> highest version
	lastOp := map[string]string{}           // key -> op of the last event
	wantTombstone := map[string]bool{}      // key -> a "d" awaits its tombstone
	ids := map[string]string{}              // event_id -> key/version/content
	violations := 0
	fail := func(format string, args ...any) {
		violations++
		if violations <= 30 {
			errorf(topic+": "+format, args...)
		}
	}
	for _, r := range recs {
		tl.Records++
		if r.Key == nil {
			fail("partition %d offset %d has no key", r.Partition, r.Offset)
			continue
		}
		key := *r.Key
		at := fmt.Sprintf("%s[%d]@%d", key, r.Partition, r.Offset)
		if r.Value == nil {
			tl.Tombstones++
			if !wantTombstone[key] {
				fail("%s: tombstone without a preceding d", at)
			}
			wantTombstone[key] = false
			delete(live, key)
			continue
		}
		tl.Events++
		if wantTombstone[key] {
			fail("%s: event after a d without its tombstone", at)
			wantTombstone[key] = false
		}
		op, _ := r.Value["op"].(string)
		id, _ := r.Value["event_id"].(string)
		version, err := r.Value["version"].(json.Number).Int64()
		if err != nil {
			fail("%s: version %v: %v", at, r.Value["version"], err)
			continue
		}
		if id == "" || r.Headers["event_id"] != id || r.Headers["op"] != op {
			fail("%s: headers %v do not match event_id %q op %q", at, r.Headers, id, op)
		}
		content := contentOf(r.Value)
		sig := fmt.Sprintf("%s|%d|%s", key, version, content)
		if prev, ok := ids[id]; ok && prev != sig {
			fail("%s: event_id %s names two different events", at, id)
		}
		ids[id] = sig

		if versions[key] == nil {
			versions[key] = map[int64]seen{}
		}
		if prev, dup := versions[key][version]; dup {
			tl.Duplicates++
			if prev.eventID != id {
				fail("%s: duplicate of version %d with event_id %s, first was %s", at, version, id, prev.eventID)
			}
			if prev.content != content {
				fail("%s: duplicate of version %d with different content:\n first %s\n again %s", at, version, prev.content, content)
			}
			if version != last[key] {
				fail("%s: version %d repeated after version %d: the replay's last event is stale", at, version, last[key])
			}
			if op == "d" {
				wantTombstone[key] = true
			}
			continue
		}
		versions[key][version] = seen{eventID: id, content: content}
		prevV, existed := last[key]
		switch {
		case !existed && version != 1:
			fail("%s: first version %d, want 1", at, version)
		case existed && version != prevV+1 && !(lastOp[key] == "d" && (op == "c" || op == "r") && version == 1):
			fail("%s: version %d after %d (op %s after %s)", at, version, prevV, op, lastOp[key])
		}
		last[key] = version
		prevAfter, isLive := live[key]
		if before, ok := r.Value["before"].(map[string]any); ok && (op == "u" || op == "d") && isLive {
			tl.Befores++
			if b, a := canonical(before), canonical(prevAfter); b != a {
				fail("%s: %s event's before is not the key's previous after:\n before %s\n after  %s", at, op, b, a)
			}
		}
		switch op {
		case "c":
			tl.Creates++
			if isLive {
				fail("%s: c for a live key", at)
			}
		case "r":
			tl.Snapshots++ // a re-snapshot read: for a live key, or the first of a new one
		case "u":
			tl.Updates++
			if !isLive {
				fail("%s: u for a key that is not live", at)
			}
		case "d":
			tl.Deletes++
			if !isLive {
				fail("%s: d for a key that is not live", at)
			}
			ep := epochOf(epochs, r.Topic, r.Partition, r.Offset)
			if epochs[ep].keys[entity][key] {
				fail("%s: FALSE DELETE: the key is in the truth of epoch %d", at, ep)
			}
			if entity == change.Persons && !churnDeleted[strings.TrimPrefix(key, name+":")] {
				fail("%s: FALSE DELETE: the churn never deleted this person", at)
			}
			if entity == change.Employments {
				before, _ := r.Value["before"].(map[string]any)
				if pid, _ := before["person_id"].(string); !churnDeleted[pid] {
					fail("%s: FALSE DELETE: the churn never deleted the employment's person %q", at, pid)
				}
			}
			wantTombstone[key] = true
		default:
			fail("%s: unexpected op %q", at, op)
		}
		lastOp[key] = op
		if op == "d" {
			delete(live, key)
			continue
		}
		after, ok := r.Value["after"].(map[string]any)
		if !ok {
			fail("%s: op %s without an after record", at, op)
			continue
		}
		live[key] = after
	}
	for key, w := range wantTombstone {
		if w {
			fail("%s: d without its tombstone at the end of the topic", key)
		}
	}
	if violations > 30 {
		errorf("%s: %d violations in all", topic, violations)
	}
	return tl, live
}

func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// contentOf renders what must be identical between two copies of one event: everything but
// the time it was sent and the sync that sent it.
func contentOf(v map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"event_id": v["event_id"], "op": v["op"], "version": v["version"],
		"before": v["before"], "after": v["after"], "changed_fields": v["changed_fields"],
	})
	return string(b)
}

// epochOf returns the epoch an offset belongs to: the last one that started at or before it.
func epochOf(epochs []epoch, topic string, partition int, offset int64) int {
	for i := len(epochs) - 1; i > 0; i-- {
		if offset >= epochs[i].start[topic][partition] {
			return i
		}
	}
	return 0
}

func windows() []personio.Window { return extract.Windows(time.Now(), lookback) }

// expected is oracle.Expected, except that the employments are every one of tr.Employments,
// whether or not their person is in tr.Persons: a hostile case's expectation may leave a
// person out of the persons topic (a record too large to publish) but not their employments.
func expected(tr personiotest.Truth, ws []personio.Window) (oracle.State, error) {
	return expectedFor(tr, tenant, ws)
}

// expectedFor is expected for the keys of tenant name.
func expectedFor(tr personiotest.Truth, name string, ws []personio.Window) (oracle.State, error) {
	st, err := oracle.Expected(tr, name, ws)
	if err != nil {
		return nil, err
	}
	emps := map[string]change.Hash{}
	for personID, es := range tr.Employments {
		for _, e := range es {
			rec, err := change.NewEmployment(personID, e)
			if err != nil {
				return nil, err
			}
			h, err := change.ContentHash(rec)
			if err != nil {
				return nil, err
			}
			emps[change.Key(name, rec.RecordID())] = h
		}
	}
	st[change.Employments] = emps
	return st, nil
}

// checkConverged checks, right after a sync of kind completed, that the topics hold the truth:
// every record of every entity with the truth's content hash. A full sync or a re-snapshot
// leaves nothing else; an incremental sync may leave keys that a full sync will delete (it
// publishes no deletes), but only keys absent from the truth. An incremental sync reads the
// employments of the persons it lists only, and an employment can change without its person's
// updated_at (Churn.EmploymentChanges): after one, the employments topic may lag the truth
// until the next full sync (or the rolling refresh), which is logged, not failed.
func checkConverged(t *testing.T, c *cdc, tr personiotest.Truth, kind string) {
	t.Helper()
	want, err := expected(tr, windows())
	if err != nil {
		t.Fatal(err)
	}
	for e, got := range replayHashes(t, c) {
		if kind != "incremental" {
			if d := oracle.Diff(got, want[e]); d != "" {
				t.Errorf("after a complete %s sync, %s differ from the truth: %s", kind, e, d)
			}
			continue
		}
		for k := range got {
			if _, ok := want[e][k]; !ok {
				delete(got, k) // a delete the next full sync publishes
			}
		}
		d := oracle.Diff(got, want[e])
		switch {
		case d == "":
		case e == change.Employments:
			t.Logf("after a complete incremental sync, employments lag the truth (a full sync catches up): %s", d)
		default:
			t.Errorf("after a complete incremental sync, %s differ from the truth: %s", e, d)
		}
	}
}

// replayHashes replays every topic with the service's own reader and codec.
func replayHashes(t *testing.T, c *cdc) map[change.Entity]map[string]change.Hash {
	t.Helper()
	return replayTopics(t, c.topics())
}

// replayTopics replays topics (one per entity, in change.Entities order) with the service's
// own reader (read_committed) and codec: every key's content hash, by entity.
func replayTopics(t *testing.T, topics []string) map[change.Entity]map[string]change.Hash {
	t.Helper()
	env := integration.Env(t)
	kc, err := kafka.New(kafka.Config{Brokers: env.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	reg, err := codec.NewRegistry(env.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[change.Entity]map[string]change.Hash{}
	for i, e := range change.Entities() {
		rp, err := oracle.ReplayTopic(ctx, kc, codec.New(reg), topics[i], e)
		if err != nil {
			t.Fatalf("replay %s: %v", e, err)
		}
		out[e] = rp.State[e]
	}
	return out
}

// compareHashes replays every topic with the service's own reader and codec and checks that
// every live record's content hash (all of its fields) equals the truth's.
func compareHashes(t *testing.T, c *cdc, tr personiotest.Truth) {
	t.Helper()
	want, err := expected(tr, windows())
	if err != nil {
		t.Fatal(err)
	}
	for e, got := range replayHashes(t, c) {
		if d := oracle.Diff(got, want[e]); d != "" {
			t.Errorf("%s content hashes differ from the truth: %s", e, d)
		}
	}
}
