//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestIntegrationRegistryResetStaleIDs is issue 11.2 against the real Apicurio: a running
// service has published under the schema ids it got at start-up; the registry restarts empty
// (it keeps schemas in memory) and hands those very ids to other schemas first. The same
// runner's next sync must not publish under the old ids: it registers its schemas again and
// every record it publishes decodes, with the schema its id names in the registry, into the
// right event — checked with the project's decoder and with the independent Python consumer.
//
// The records published before the restart carry ids that now name other schemas: nothing
// the service does can make them decodable again (docs/SAFETY.md), so the Python consumer
// reads a byte-for-byte copy of the records published after the restart.
//
// It restarts the registry: every subject registered before it is gone afterwards.
func TestIntegrationRegistryResetStaleIDs(t *testing.T) {
	env := Env(t)
	p := newPipelineEnv(t, 25)
	r := p.runner()
	p.sync(r, sync.Full)
	topics := []string{p.prefix + ".persons", p.prefix + ".compensations", p.prefix + ".employments"}
	before := map[string]bool{}
	oldIDs := map[int]bool{}
	for _, rec := range readTopics(t, p.kafka, topics) {
		before[rec.pos()] = true
		if id := rec.schemaID(); id != 0 {
			oldIDs[id] = true
		}
	}
	if len(oldIDs) != len(topics) {
		t.Fatalf("the first sync used schema ids %v, want one per entity", oldIDs)
	}

	restartRegistryEmpty(t, env)
	taken := occupySchemaIDs(t, env.RegistryURL, oldIDs)
	for id := range oldIDs {
		if namesOurs(t, env.RegistryURL, id) {
			t.Fatalf("after the restart id %d still names one of our schemas; the test proves nothing", id)
		}
	}
	t.Logf("registry restarted empty; %d unrelated schemas registered so that ids %v name other schemas", taken, oldIDs)

	p.sim.Churn(personiotest.Churn{Hires: 2, Renames: 2, SalaryChanges: 2, Bonuses: 1})
	res := p.sync(r, sync.Resnapshot) // the running service: same runner, same registry client

	fresh, err := codec.NewRegistry(env.RegistryURL) // a consumer that knows only the registry
	if err != nil {
		t.Fatal(err)
	}
	dec := codec.New(fresh)
	var after []wireRecord
	for _, rec := range readTopics(t, p.kafka, topics) {
		if before[rec.pos()] {
			continue
		}
		after = append(after, rec)
		if rec.value == nil {
			continue
		}
		if oldIDs[rec.schemaID()] {
			t.Errorf("%s was published under schema id %d, which the registry now gives to another schema", rec.pos(), rec.schemaID())
		}
		if err := decodeEvent(t, dec, rec, res.SyncID); err != nil {
			t.Errorf("%s (schema id %d): %v", rec.pos(), rec.schemaID(), err)
		}
	}
	if len(after) == 0 || len(after) < res.Published() {
		t.Fatalf("%d records after the restart, the sync reports %d published", len(after), res.Published())
	}

	// The independent consumer: a copy of what was published after the restart holds every
	// current person and compensation (a re-snapshot), and must decode into the truth.
	scratch := copyRecords(t, env, after, p.prefix)
	persons := verifiedState(t, RunVerifier(t, scratch[topics[0]]))
	ComparePersons(t, pipelineTenant, persons, p.sim.Truth())
	comps := verifiedState(t, RunVerifier(t, scratch[topics[1]]))
	CompareCompensations(t, pipelineTenant, comps, p.sim.Truth(), extract.Windows(time.Now(), sync.DefaultLookbackMonths))
	emps := verifiedState(t, RunVerifier(t, scratch[topics[2]]))
	CompareEmployments(t, pipelineTenant, emps, p.sim.Truth())
	t.Logf("verifier: %d records published after the restart decode into %d persons, %d compensations and %d employments matching the truth",
		len(after), len(persons), len(comps), len(emps))

	// Once more, and this time the registry refuses the schema: another one is in the persons
	// subject already, under BACKWARD compatibility, and unrelated schemas hold the ids. The
	// sync must fail before it publishes anything.
	var ids map[int]bool
	ids, oldIDs = map[int]bool{}, map[int]bool{}
	for _, rec := range after {
		if id := rec.schemaID(); id != 0 {
			ids[id] = true
		}
	}
	restartRegistryEmpty(t, env)
	subject := codec.Subject(topics[0])
	putConfig(t, env.RegistryURL, subject, "BACKWARD")
	registerSchema(t, env.RegistryURL, subject,
		`{"type":"record","name":"PersonChange","namespace":"someone.else","fields":[{"name":"note","type":"string"}]}`)
	taken = occupySchemaIDs(t, env.RegistryURL, ids)
	t.Logf("registry restarted empty; another schema in %s and %d unrelated schemas so that ids %v name other schemas", subject, taken, ids)
	records := len(readTopics(t, p.kafka, topics))
	p.sim.Churn(personiotest.Churn{Hires: 1, Renames: 1, SalaryChanges: 1})
	res, err = r.Run(t.Context(), sync.Full)
	if err == nil || !errors.Is(err, codec.ErrSchemaIDMismatch) {
		t.Fatalf("sync with a registry that refuses the schema: outcome %s, err %v; want codec.ErrSchemaIDMismatch", res.Outcome, err)
	}
	t.Logf("refused: %v", err)
	if n := len(readTopics(t, p.kafka, topics)) - records; n != 0 || res.Published() != 0 {
		t.Errorf("the refused sync published %d records (reports %d), want none", n, res.Published())
	}
}

func putConfig(t *testing.T, registry, subject, level string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"compatibility": level})
	req, err := http.NewRequest(http.MethodPut, registry+"/config/"+url.PathEscape(subject), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /config/%s: %s", subject, resp.Status)
	}
}

func registerSchema(t *testing.T, registry, subject, schema string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": schema})
	resp, err := http.Post(registry+"/subjects/"+url.PathEscape(subject)+"/versions",
		"application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID int `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("register %s: %s %v", subject, resp.Status, err)
	}
	return out.ID
}

// wireRecord is one record of an output topic as Kafka holds it.
type wireRecord struct {
	topic     string
	partition int
	offset    int64
	key       []byte
	value     []byte
	headers   []kafka.Header
}

func (w wireRecord) pos() string { return fmt.Sprintf("%s/%d@%d", w.topic, w.partition, w.offset) }

// schemaID returns the id of the record's wire header; 0 for a tombstone.
func (w wireRecord) schemaID() int {
	if len(w.value) < 5 {
		return 0
	}
	return int(binary.BigEndian.Uint32(w.value[1:5]))
}

func readTopics(t *testing.T, kc *kafka.Client, topics []string) []wireRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []wireRecord
	for _, topic := range topics {
		err := kc.ReadToEnd(ctx, topic, func(r kafka.Record) error {
			out = append(out, wireRecord{topic: topic, partition: r.Partition, offset: r.Offset,
				key: bytes.Clone(r.Key), value: bytes.Clone(r.Value), headers: r.Headers})
			return nil
		})
		if err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
	}
	return out
}

// decodeEvent decodes rec with the writer schema its id names (through dec) into the
// entity's envelope and checks that it is an event of the given sync.
func decodeEvent(t *testing.T, dec *codec.Codec, rec wireRecord, syncID string) error {
	t.Helper()
	entity := change.Entity(rec.topic[strings.LastIndexByte(rec.topic, '.')+1:])
	reader, err := schemas.Parse(string(entity))
	if err != nil {
		t.Fatal(err)
	}
	env, err := change.NewEnvelope(entity)
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(t.Context(), rec.value, reader, env); err != nil {
		return err
	}
	ev, err := env.Event()
	if err != nil {
		return err
	}
	eventID, tenant, sid := ev.EventID, ev.Source.Tenant, ev.Source.SyncID
	if eventID == "" || tenant != pipelineTenant || sid != syncID {
		return fmt.Errorf("decoded into event %q of tenant %q, sync %q; want an event of sync %s", eventID, tenant, sid, syncID)
	}
	return nil
}

// restartRegistryEmpty stops the environment's registry and starts it again on the same port:
// it comes back without any schema.
func restartRegistryEmpty(t *testing.T, env Environment) {
	t.Helper()
	run := func(cmd string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, env.TestenvScript, cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("scripts/testenv %s: %v\n%s", cmd, err, out)
		}
		t.Logf("scripts/testenv %s: %s", cmd, bytes.TrimSpace(out))
	}
	run("stop-registry")
	started := false
	t.Cleanup(func() {
		if !started {
			run("start-registry")
		}
	})
	run("start-registry")
	started = true
}

// occupySchemaIDs registers unrelated Avro schemas until the registry has handed out every id
// in ids (at most 1000 schemas); it returns how many it registered.
func occupySchemaIDs(t *testing.T, registry string, ids map[int]bool) int {
	t.Helper()
	top := 0
	for id := range ids {
		top = max(top, id)
	}
	n := 0
	for last := 0; last < top && n < 1000; n++ {
		schema := fmt.Sprintf(`{"type":"record","name":"Unrelated%d","namespace":"someone.else","fields":[{"name":"note","type":"string"}]}`, n)
		last = registerSchema(t, registry, fmt.Sprintf("someone.else.%d-value", n), schema)
	}
	return n
}

// namesOurs reports whether the registry's schema under id is one of the service's schemas.
func namesOurs(t *testing.T, registry string, id int) bool {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/schemas/ids/%d", registry, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var out struct {
		Schema string `json:"schema"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return bytes.Contains([]byte(out.Schema), []byte("io.personio.cdc"))
}

// copyRecords writes records, byte for byte (key, value, headers), to new topics, one per
// source topic, keeping each partition's order; it returns the copy of each source topic.
func copyRecords(t *testing.T, env Environment, recs []wireRecord, base string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string]string{}
	byTopic := map[string][]kafkago.Message{}
	for _, r := range recs {
		if _, ok := out[r.topic]; !ok {
			out[r.topic] = UniqueTopic(t, base+".copy")
			CreateTopic(t, out[r.topic], 3, nil)
		}
		byTopic[r.topic] = append(byTopic[r.topic], kafkago.Message{Key: r.key, Value: r.value, Headers: r.headers})
	}
	for src, msgs := range byTopic {
		w := &kafkago.Writer{Addr: kafkago.TCP(env.Brokers...), Topic: out[src], Balancer: &kafkago.Murmur2Balancer{},
			RequiredAcks: kafkago.RequireAll, BatchTimeout: 10 * time.Millisecond, MaxAttempts: 10}
		err := w.WriteMessages(ctx, msgs...)
		_ = w.Close()
		if err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
	}
	return out
}
