//go:build integration

package integration

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestIntegrationEmploymentsVerifier writes an employments topic as the contract says
// (schemas/employments.avsc registered with Apicurio, the Confluent wire format, key
// "<tenant>:<employment id>"): a create for every employment of the simulator's company, then
// after churn (employment-only changes, cost center changes, terminations, a deletion) the
// updates, deletes and tombstones. The independent Python consumer must decode every record
// with the registered schema and rebuild exactly the truth's employments, field by field.
// The topic is written here, not by the pipeline, so that the schema and the verifier are
// checked on their own.
func TestIntegrationEmploymentsVerifier(t *testing.T) {
	topic, tr := writeEmploymentsTopic(t)
	live := verifiedState(t, RunVerifier(t, topic))
	CompareEmployments(t, pipelineTenant, live, tr)
	want, err := oracle.Employments(tr, pipelineTenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != len(want) {
		t.Errorf("verifier rebuilt %d employments, the oracle expects %d", len(live), len(want))
	}
	t.Logf("verifier: %d employments match the truth", len(live))
}

// employmentLead is the start of an employment's after image in a FileStream sink's line.
var employmentLead = []leadField{{"id", 's'}, {"person_id", 's'}, {"status", 's'}, {"type", 's'}, {"position_title", 's'}}

// TestIntegrationKafkaConnectEmployments reads the employments topic written as above with
// stock Kafka Connect (Apicurio's converter in Confluent mode) and Debezium's
// ExtractNewRecordState, as TestIntegrationKafkaConnect does for the other topics: the
// envelope is unwrapped (its connect.name ends in .Envelope) into the flat employment.
func TestIntegrationKafkaConnectEmployments(t *testing.T) {
	topic, _ := writeEmploymentsTopic(t)
	env := Env(t)
	checkRegisteredConnectName(t, env.RegistryURL, topic)
	recs := RunVerifier(t, topic)
	if n := countOps(recs); n["c"] == 0 || n["u"] == 0 || n["d"] == 0 || n["tombstone"] != n["d"] {
		t.Fatalf("topic holds %v, want creates, updates, deletes and their tombstones", n)
	}
	cs := []connector{{name: "employments-rewrite-with-tombstone", topic: topic, mode: "rewrite-with-tombstone"}}
	want := map[string][]string{cs[0].name: expectedLines(t, recs, employmentLead, cs[0].mode)}
	got := runConnect(t, env, t.TempDir(), strings.TrimSuffix(topic, ".employments"), cs, want)
	matchLines(t, cs[0].name, got[cs[0].name], want[cs[0].name])
}

// writeEmploymentsTopic writes <unique prefix>.employments and returns its name and the truth
// it must hold.
func writeEmploymentsTopic(t *testing.T) (string, personiotest.Truth) {
	t.Helper()
	env := Env(t)
	ctx := t.Context()
	sim := personiotest.NewTestServer(t, personiotest.Options{Persons: 40, Seed: 9, NoRateLimit: true})
	topic := UniqueTopic(t, "emp") + ".employments"
	CreateTopic(t, topic, 3, map[string]string{"cleanup.policy": "compact"})

	reg, err := codec.NewRegistry(env.RegistryURL)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := schemas.Parse(schemas.Employments)
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(ctx, codec.Subject(topic), schema)
	if err != nil {
		t.Fatal(err)
	}
	enc := codec.New(reg)
	kc, err := kafka.New(kafka.Config{Brokers: env.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Close() })

	records := func(tr personiotest.Truth) map[string]*change.EmploymentRecord {
		out := map[string]*change.EmploymentRecord{}
		for _, p := range tr.Persons {
			for _, e := range tr.Employments[p.ID] {
				rec, err := change.NewEmployment(p.ID, e)
				if err != nil {
					t.Fatal(err)
				}
				out[change.Key(pipelineTenant, rec.ID)] = rec
			}
		}
		return out
	}
	versions := map[string]int64{}
	publish := func(before, after map[string]*change.EmploymentRecord) int {
		var msgs []kafka.Message
		now := time.Now().UTC().Truncate(time.Millisecond)
		keys := slicesSortedKeys(before, after)
		for _, key := range keys {
			b, a := before[key], after[key]
			ev := change.Event{Entity: change.Employments, Key: key, TS: now,
				Source: change.Source{Tenant: pipelineTenant, System: change.System, SyncID: "verifier", SyncKind: string(change.Full), ExtractedAt: now}}
			switch {
			case b == nil:
				ev.Op, ev.ID, ev.After = change.Create, a.ID, a
			case a == nil:
				ev.Op, ev.ID, ev.Before = change.Delete, b.ID, b
			default:
				hb, _ := change.ContentHash(b)
				ha, _ := change.ContentHash(a)
				if ha == hb {
					continue
				}
				ev.Op, ev.ID, ev.Before, ev.After = change.Update, a.ID, b, a
				ev.ChangedFields = change.ChangedFields(b, a)
			}
			if ev.After != nil {
				ev.Hash, _ = change.ContentHash(ev.After)
				ev.Source.EntityUpdatedAt = ev.After.EntityUpdatedAt()
			}
			versions[key]++
			ev.Version = versions[key]
			ev.EventID = change.EventID(key, ev.Entity, ev.Version, ev.Op, ev.Hash)
			v, err := ev.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			value, err := enc.Encode(id, schema, v)
			if err != nil {
				t.Fatal(err)
			}
			var headers []kafka.Header
			for _, h := range ev.Headers() {
				headers = append(headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
			}
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(key), Value: value, Headers: headers})
			if ev.Op == change.Delete {
				msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(key)})
			}
		}
		if err := kc.Publish(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}

	tr0 := sim.Truth()
	st0 := records(tr0)
	if n := publish(nil, st0); n != len(st0) || n == 0 {
		t.Fatalf("published %d creates for %d employments", n, len(st0))
	}
	res := sim.Churn(personiotest.Churn{EmploymentChanges: 4, CostCenterChanges: 4, Terminations: 3, Deletions: 1, Hires: 2})
	tr1 := sim.Truth()
	if n := publish(st0, records(tr1)); n < 4+4+3+2 {
		t.Fatalf("churn %+v gave only %d records", res, n)
	}

	return topic, tr1
}

// slicesSortedKeys returns the keys of both maps, sorted, each once.
func slicesSortedKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
