// Package oracle computes, from the simulator's ground truth, what the pipeline's topics must
// hold, and replays a topic the way an independent consumer would. Tests of the sync runner
// (unit and integration) compare the two.
package oracle

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// State maps each entity's Kafka keys to the content hash of the current record.
type State map[change.Entity]map[string]change.Hash

// Len returns the number of keys of an entity.
func (s State) Len(e change.Entity) int { return len(s[e]) }

// Expected returns the state the topics must hold after a complete full sync of truth: every
// person (its employments as ids), every employment of every person (Employments) and every
// compensation effective inside one of windows, in normal form, keyed "<tenant>:<id>".
func Expected(truth personiotest.Truth, tenant string, windows []personio.Window) (State, error) {
	st := State{}
	for _, e := range change.Entities() {
		st[e] = map[string]change.Hash{}
	}
	for _, p := range truth.Persons {
		rec, err := change.NewPerson(p, nil) // employments as ids: the employments topic has them
		if err != nil {
			return nil, err
		}
		if err := st.put(tenant, rec); err != nil {
			return nil, err
		}
	}
	emps, err := Employments(truth, tenant)
	if err != nil {
		return nil, err
	}
	st[change.Employments] = emps
	var comps []*change.Compensation
	for _, c := range truth.Compensations {
		rec, err := change.NewCompensation(c)
		if err != nil {
			return nil, err
		}
		if !inWindows(rec.EffectiveFrom, windows) {
			continue
		}
		comps = append(comps, rec)
	}
	change.NumberCompensations(comps)
	for _, rec := range comps {
		if err := st.put(tenant, rec); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Employments returns the keys and content hashes the employments topic must hold after every
// person's employments were listed completely: every employment of every person in truth, in
// normal form (change.NewEmployment), keyed "<tenant>:<employment id>".
func Employments(truth personiotest.Truth, tenant string) (map[string]change.Hash, error) {
	st := State{change.Employments: {}}
	for _, p := range truth.Persons {
		for _, e := range truth.Employments[p.ID] {
			rec, err := change.NewEmployment(p.ID, e)
			if err != nil {
				return nil, err
			}
			if err := st.put(tenant, rec); err != nil {
				return nil, err
			}
		}
	}
	return st[change.Employments], nil
}

func (s State) put(tenant string, rec change.Record) error {
	h, err := change.ContentHash(rec)
	if err != nil {
		return err
	}
	key := change.Key(tenant, rec.RecordID())
	if _, dup := s[rec.Entity()][key]; dup {
		return fmt.Errorf("oracle: %s key %s twice in the truth", rec.Entity(), key)
	}
	s[rec.Entity()][key] = h
	return nil
}

func inWindows(d time.Time, ws []personio.Window) bool {
	for _, w := range ws {
		if !d.Before(w.Start) && !d.After(w.End) {
			return true
		}
	}
	return false
}

// Changes returns, per entity and key, the op a full sync must publish to get from before to
// after: c for a new key, u for a changed hash, d for a removed key. The result has an entry
// for every synced entity (change.Entities) and for any other entity either state holds (an
// entity described but not synced yet, such as Employments gives).
func Changes(before, after State) map[change.Entity]map[string]change.Op {
	out := map[change.Entity]map[string]change.Op{}
	entities := change.Entities()
	for _, st := range []State{before, after} {
		for e := range st {
			if !slices.Contains(entities, e) {
				entities = append(entities, e)
			}
		}
	}
	for _, e := range entities {
		m := map[string]change.Op{}
		for k, h := range after[e] {
			if old, ok := before[e][k]; !ok {
				m[k] = change.Create
			} else if old != h {
				m[k] = change.Update
			}
		}
		for k := range before[e] {
			if _, ok := after[e][k]; !ok {
				m[k] = change.Delete
			}
		}
		out[e] = m
	}
	return out
}

// Count returns the number of changes per op.
func Count(changes map[string]change.Op) map[string]int {
	out := map[string]int{}
	for _, op := range changes {
		out[string(op)]++
	}
	return out
}

// Decoder decodes a wire-format value with a reader schema; *codec.Codec is one.
type Decoder interface {
	Decode(ctx context.Context, data []byte, reader codec.Schema, into any) error
}

// Reader reads a topic to its end; *kafka.Client is one.
type Reader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
}

// Message is one record of a topic, decoded.
type Message struct {
	Key       string
	Event     change.Event // zero for a tombstone
	Tombstone bool
	Headers   map[string]string
}

// Replay is what an independent consumer gets from a topic.
type Replay struct {
	Messages []Message          // in offset order per partition
	State    State              // last event per key; d and tombstones remove
	Versions map[string][]int64 // per key, versions in offset order
}

// ReplayTopic reads an entity's topic from offset 0 and folds it: last event per key wins, a
// "d" event or a tombstone removes the key. It checks that every value decodes.
func ReplayTopic(ctx context.Context, r Reader, dec Decoder, topic string, entity change.Entity) (Replay, error) {
	reader, err := schemas.Parse(string(entity))
	if err != nil {
		return Replay{}, err
	}
	rp := Replay{State: State{entity: {}}, Versions: map[string][]int64{}}
	err = r.ReadToEnd(ctx, topic, func(rec kafka.Record) error {
		m := Message{Key: string(rec.Key), Headers: map[string]string{}}
		for _, h := range rec.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
		if rec.Value == nil {
			m.Tombstone = true
			delete(rp.State[entity], m.Key)
			rp.Messages = append(rp.Messages, m)
			return nil
		}
		env, err := change.NewEnvelope(entity)
		if err != nil {
			return err
		}
		if err := dec.Decode(ctx, rec.Value, reader, env); err != nil {
			return fmt.Errorf("decode %s offset %d: %w", topic, rec.Offset, err)
		}
		ev, err := change.FromEnvelope(env)
		if err != nil {
			return err
		}
		if ev.Key != m.Key {
			return fmt.Errorf("%s offset %d: event key %s under record key %s", topic, rec.Offset, ev.Key, m.Key)
		}
		m.Event = ev
		rp.Messages = append(rp.Messages, m)
		rp.Versions[m.Key] = append(rp.Versions[m.Key], ev.Version)
		if ev.Op == change.Delete {
			delete(rp.State[entity], m.Key)
		} else {
			rp.State[entity][m.Key] = ev.Hash
		}
		return nil
	})
	return rp, err
}

// Diff describes how two states of one entity differ (empty when equal), naming keys only.
func Diff(got, want map[string]change.Hash) string {
	var missing, extra, differ []string
	for k, h := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != h:
			differ = append(differ, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	slices.Sort(differ)
	return fmt.Sprintf("missing %v, unexpected %v, different %v", head(missing), head(extra), head(differ))
}

func head(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], fmt.Sprintf("… %d more", len(s)-10))
	}
	return s
}

// Keys returns the sorted keys of a state's entity.
func Keys(m map[string]change.Hash) []string { return slices.Sorted(maps.Keys(m)) }
