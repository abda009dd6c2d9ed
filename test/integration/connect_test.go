//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// connectWait bounds how long the Connect worker may take to start and sink every record; it
// is a limit for a hung worker, not a measured time.
const connectWait = 4 * time.Minute

// The leading fields of each entity's after image, in schema order, that the FileStream sink's
// line must start with: text ("s") and decimals ("d", written by the verifier with the full
// scale of the schema, which a Connect Decimal keeps).
var (
	personLead = []leadField{{"id", 's'}, {"email", 's'}, {"first_name", 's'}, {"last_name", 's'},
		{"preferred_name", 's'}, {"gender", 's'}, {"status", 's'}, {"profile_picture_url", 's'}}
	compensationLead = []leadField{{"id", 's'}, {"personio_id", 's'}, {"person_id", 's'},
		{"legal_entity_id", 's'}, {"type_id", 's'}, {"type_name", 's'}, {"type_category", 's'},
		{"amount", 'd'}, {"currency", 's'}}
)

type leadField struct {
	name string
	kind byte
}

// TestIntegrationKafkaConnect is issue 13: a payroll team's stock Kafka Connect reads the
// service's topics with Apicurio's Avro converter in Confluent mode (no headers, 4-byte ids) and
// unwraps the envelopes with Debezium's ExtractNewRecordState into FileStream sinks. The topics
// are written by the sync runner against the simulator: a full sync, then a deletion, a rename
// and a salary change, then the erasure of a person. Each sink line must be the after image of
// its event, flat (the person's fields, not the envelope's), decimals with the schema's scale;
// "d" events and tombstones (after a "d" and of the erasure) are handled as the transform's
// delete.tombstone.handling.mode says (see expectedLines), the mode left unset included.
func TestIntegrationKafkaConnect(t *testing.T) {
	p := newPipelineEnv(t, 12)
	r := p.runner()
	p.sync(r, sync.Full)
	ch := p.sim.Churn(personiotest.Churn{Deletions: 1, Renames: 1, SalaryChanges: 1})
	if len(ch.Deletions) != 1 || len(ch.Renames) != 1 || len(ch.SalaryChanges) != 1 {
		t.Fatalf("churn %+v", ch)
	}
	p.sync(r, sync.Full)
	// An erasure: tombstones only, no "d" (README, Erasure).
	erased := ""
	for _, pr := range p.sim.Truth().Persons {
		if pr.ID != ch.Deletions[0] {
			erased = pr.ID
			break
		}
	}
	x, err := erasure.New(erasure.Config{TopicPrefix: p.prefix, Entities: sync.Entities(), Admin: p.kafka,
		TopicSpec: kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1}, Producer: p.kafka, Reader: p.kafka, Codec: p.codec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Erase(t.Context(), pipelineTenant, erased, erasure.Entry{ErasedAt: time.Now(), By: "integration test"}); err != nil {
		t.Fatal(err)
	}

	personsTopic, compsTopic := p.prefix+".persons", p.prefix+".compensations"
	env := Env(t)
	for _, topic := range []string{personsTopic, compsTopic} {
		checkRegisteredConnectName(t, env.RegistryURL, topic)
	}
	persons := RunVerifier(t, personsTopic)
	comps := RunVerifier(t, compsTopic)
	// A tombstone after each "d", and one for the erased person and each of their compensations.
	if pn, cn := countOps(persons), countOps(comps); pn["d"] != 1 || pn["tombstone"] != 2 || cn["d"] == 0 || cn["tombstone"] <= cn["d"] {
		t.Fatalf("topics hold persons %v and compensations %v, want a person deleted with their compensations and one erased",
			countOps(persons), countOps(comps))
	}

	dir := t.TempDir()
	connectors := []connector{
		{name: "persons-unset", topic: personsTopic},
		{name: "persons-tombstone", topic: personsTopic, mode: "tombstone"},
		{name: "persons-rewrite", topic: personsTopic, mode: "rewrite"},
		{name: "persons-rewrite-with-tombstone", topic: personsTopic, mode: "rewrite-with-tombstone"},
		{name: "compensations-rewrite-with-tombstone", topic: compsTopic, mode: "rewrite-with-tombstone"},
	}
	want := map[string][]string{}
	for _, c := range connectors {
		recs, lead := persons, personLead
		if c.topic == compsTopic {
			recs, lead = comps, compensationLead
		}
		want[c.name] = expectedLines(t, recs, lead, c.mode)
	}
	got := runConnect(t, env, dir, p.prefix, connectors, want)
	for _, c := range connectors {
		matchLines(t, c.name, got[c.name], want[c.name])
	}
}

func countOps(recs []VerifiedRecord) map[string]int {
	n := map[string]int{}
	for _, r := range recs {
		if r.Value == nil {
			n["tombstone"]++
			continue
		}
		op, _ := r.Value["op"].(string)
		n[op]++
	}
	return n
}

// checkRegisteredConnectName checks that the registry holds the value schema of topic with the
// connect.name property the converter names the Connect schema after.
func checkRegisteredConnectName(t *testing.T, registry, topic string) {
	t.Helper()
	resp, err := http.Get(registry + "/subjects/" + topic + "-value/versions/latest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Schema string `json:"schema"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	var top map[string]any
	if err := json.Unmarshal([]byte(body.Schema), &top); err != nil {
		t.Fatalf("%s: registered schema: %v", topic, err)
	}
	entity := topic[strings.LastIndexByte(topic, '.')+1:]
	if want := "io.personio.cdc." + entity + ".Envelope"; top["connect.name"] != want {
		t.Errorf("%s: the registry holds connect.name %v, want %q", topic, top["connect.name"], want)
	}
}

// expectedLines returns, per record of the topic the transform keeps, the start of the line the
// FileStream sink writes for it ("null" for a tombstone), in topic order per partition. A line is
// the Connect Struct's text: its non-null fields in schema order, "Struct{id=…,email=…,…}".
// ExtractNewRecordState (Debezium 3.1) handles a "d" event and a tombstone (the one after a
// "d" and an erasure's alike: the transform keeps no state) by delete.tombstone.handling.mode:
//   - unset: the deprecated drop.tombstones and delete.handling.mode apply, whose defaults drop
//     both: a sink never learns of a delete or an erasure;
//   - "tombstone": the "d" becomes a tombstone, the service's tombstones are dropped: a sink sees
//     deletes as tombstones and never sees an erasure;
//   - "rewrite": the "d" becomes its before image with __deleted=true (false on every other
//     record), tombstones are dropped: no erasure either;
//   - "rewrite-with-tombstone": as "rewrite", and tombstones pass: the only mode in which a sink
//     sees erasures.
func expectedLines(t *testing.T, recs []VerifiedRecord, lead []leadField, mode string) []string {
	t.Helper()
	rewrite := mode == "rewrite" || mode == "rewrite-with-tombstone"
	var out []string
	for _, r := range recs {
		if r.Value == nil {
			if mode == "rewrite-with-tombstone" {
				out = append(out, "null")
			}
			continue
		}
		op, _ := r.Value["op"].(string)
		image, deleted := "after", "false"
		if op == "d" {
			switch mode {
			case "":
				continue
			case "tombstone":
				out = append(out, "null")
				continue
			}
			image, deleted = "before", "true"
		}
		rec, ok := r.Value[image].(map[string]any)
		if !ok {
			t.Fatalf("%s offset %d: op %s without %s", r.Topic, r.Offset, op, image)
		}
		line := structLead(t, rec, lead)
		if rewrite {
			line += "\x00__deleted=" + deleted + "}" // \x00: the rest of the line in between
		}
		out = append(out, line)
	}
	return out
}

func structLead(t *testing.T, rec map[string]any, lead []leadField) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Struct{")
	first := true
	for _, f := range lead {
		v, ok := rec[f.name]
		if !ok {
			t.Fatalf("verifier record has no field %s: %v", f.name, rec)
		}
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			t.Fatalf("field %s = %v (%T), want text", f.name, v, v)
		}
		if f.kind == 'd' && !strings.Contains(s, ".") {
			t.Fatalf("decimal %s = %q has no scale", f.name, s)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(f.name + "=" + s)
	}
	b.WriteByte(',')
	return b.String()
}

// matchLines pairs every expected line start with a line of the sink's file, each line used once.
func matchLines(t *testing.T, name string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d", name, len(got), len(want))
	}
	used := make([]bool, len(got))
	for _, w := range want {
		head, tail, _ := strings.Cut(w, "\x00")
		found := false
		for i, g := range got {
			if used[i] {
				continue
			}
			if (w == "null" && g == "null") || (w != "null" && strings.HasPrefix(g, head) && strings.HasSuffix(g, tail)) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("%s: no line starts with %q and ends with %q", name, head, tail)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("%s: unexpected line %.300s", name, g)
		}
		if strings.Contains(g, "event_id=") || strings.Contains(g, "after=") {
			t.Errorf("%s: line is an envelope, not its after image: %.300s", name, g)
		}
	}
	if !t.Failed() && len(got) > 0 {
		t.Logf("%s: %d lines, e.g. %.200s", name, len(got), got[0])
	}
}

type connector struct {
	name  string
	topic string
	mode  string // delete.tombstone.handling.mode; "" leaves the transform's default
}

// runConnect runs a standalone Kafka Connect worker (scripts/connect/connect) with one
// FileStream sink per connector until every sink file holds as many lines as want says, or
// connectWait passed, and returns each file's lines. The worker listens on 127.0.0.1 only and
// is stopped when the test ends.
func runConnect(t *testing.T, env Environment, dir, prefix string, cs []connector, want map[string][]string) map[string][]string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	apicurio, ok := strings.CutSuffix(env.RegistryURL, "/apis/ccompat/v7")
	if !ok {
		t.Fatalf("registry URL %s is not Apicurio's ccompat/v7 API", env.RegistryURL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	restPort := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	worker := filepath.Join(dir, "worker.properties")
	writeProps(t, worker, []string{
		"bootstrap.servers=" + strings.Join(env.Brokers, ","),
		fmt.Sprintf("listeners=http://127.0.0.1:%d", restPort),
		"offset.storage.file.filename=" + filepath.Join(dir, "offsets"),
		"offset.flush.interval.ms=1000",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=io.apicurio.registry.utils.converter.AvroConverter",
		"value.converter.apicurio.registry.url=" + apicurio + "/apis/registry/v3",
		"value.converter.apicurio.registry.headers.enabled=false",
		"value.converter.apicurio.registry.use-id=contentId",
		"consumer.auto.offset.reset=earliest",
	})
	args := []string{"standalone", worker}
	files := map[string]string{}
	for _, c := range cs {
		files[c.name] = filepath.Join(dir, c.name+".txt")
		props := []string{
			"name=" + prefix + "-" + c.name,
			"connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector",
			"tasks.max=1",
			"topics=" + c.topic,
			"file=" + files[c.name],
			"transforms=unwrap",
			"transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState",
		}
		if c.mode != "" {
			props = append(props, "transforms.unwrap.delete.tombstone.handling.mode="+c.mode)
		}
		path := filepath.Join(dir, c.name+".properties")
		writeProps(t, path, props)
		args = append(args, path)
	}

	logPath := filepath.Join(dir, "connect.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(root, "scripts", "connect", "connect"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the worker has exited; waitErr is then its exit status.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	defer stop()
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		return string(b)
	}

	got := map[string][]string{}
	deadline := time.Now().Add(connectWait)
	for {
		done := true
		for _, c := range cs {
			got[c.name] = readLines(t, files[c.name])
			if len(got[c.name]) < len(want[c.name]) {
				done = false
			}
		}
		if done {
			break
		}
		select {
		case <-exited:
			t.Fatalf("the Connect worker exited (%v) before sinking every record; its log:\n%s", waitErr, logTail())
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sinks hold %v lines after %s, want %v; the worker's log:\n%s",
				lineCounts(got), connectWait, lineCounts(want), logTail())
		}
	}
	// A last look after a flush interval: a sink must not write more than its records.
	time.Sleep(2 * time.Second)
	for _, c := range cs {
		got[c.name] = readLines(t, files[c.name])
	}
	stop()
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), " ERROR ") {
		t.Errorf("the Connect worker logged errors:\n%s", logTail())
	}
	return got
}

func lineCounts(m map[string][]string) map[string]int {
	n := map[string]int{}
	for k, v := range m {
		n[k] = len(v)
	}
	return n
}

func writeProps(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readLines returns the complete lines of a sink file (none while it does not exist yet).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
