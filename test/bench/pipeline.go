package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	"github.com/personio-cdc/personio-cdc/schemas"
)

const benchTenant = "acme"

// company is a simulated company in memory: persons with their employments, as Personio sends
// them.
type company struct {
	persons []personio.Person
	emps    map[string][]personio.Employment
}

func newCompany(n int) (company, error) {
	sim, err := personiotest.New(personiotest.Options{Persons: n, Seed: 11, NoRateLimit: true})
	if err != nil {
		return company{}, err
	}
	defer sim.Close()
	t := sim.Truth()
	return company{persons: t.Persons, emps: t.Employments}, nil
}

func (c company) emp(id string) []personio.Employment {
	if e, ok := c.emps[id]; ok {
		return e
	}
	return []personio.Employment{}
}

// diffRun is one listing going through the differ as a sync feeds it: each person in normal
// form (change.Normalizer.Person) added to a diff run.
type diffRun struct {
	run  *diff.Run
	norm change.Normalizer
}

func newDiffRun(st diff.Reader) (*diffRun, error) {
	d, err := diff.New()
	if err != nil {
		return nil, err
	}
	run, err := d.Begin(st, change.Persons, change.Source{Tenant: benchTenant, SyncID: "bench", SyncKind: string(change.Full), ExtractedAt: time.Now()})
	if err != nil {
		return nil, err
	}
	return &diffRun{run: run}, nil
}

func (r *diffRun) add(persons []personio.Person, emps func(id string) []personio.Employment) error {
	for _, p := range persons {
		rec, err := r.norm.Person(p, emps(p.ID))
		if err != nil {
			return err
		}
		if _, err := r.run.AddOne(rec); err != nil {
			return err
		}
	}
	return nil
}

// finishEncode ends the run and encodes every event in the Confluent wire format under
// schema id id, as the publisher does (the envelope with the entity's schema), into one
// reused buffer; wireValues returns them to keep.
func (r *diffRun) finishEncode(id int) ([]change.Event, error) {
	res, err := r.run.Finish(diff.Scope{Complete: true})
	if err != nil {
		return nil, err
	}
	var buf []byte
	for _, ev := range res.Events {
		if buf, err = appendValue(buf[:0], ev, id); err != nil {
			return nil, err
		}
	}
	return res.Events, nil
}

// diffEncode is the hot path of an initial sync over a company in memory: normal form, diff
// (every person a create) and the Avro encoding of every event (finishEncode).
func diffEncode(c company, st diff.Reader, id int) ([]change.Event, error) {
	r, err := newDiffRun(st)
	if err != nil {
		return nil, err
	}
	if err := r.add(c.persons, c.emp); err != nil {
		return nil, err
	}
	return r.finishEncode(id)
}

// wireValues returns the wire-format values of events, as diffEncode encodes them
// (TestDiffEncode checks them against hamba's encoding of the envelopes).
func wireValues(events []change.Event, id int) ([][]byte, error) {
	values := make([][]byte, len(events))
	for i, ev := range events {
		v, err := appendValue(nil, ev, id)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	return values, nil
}

// appendValue appends ev's value as the publisher encodes it: the envelope with the entity's
// schema, the records as the differ encoded them (once, to hash them) spliced in.
func appendValue(dst []byte, ev change.Event, id int) ([]byte, error) {
	if ev.Before != nil && ev.BeforeData == nil || ev.After != nil && ev.AfterData == nil {
		return dst, fmt.Errorf("%s: a record without its bytes", ev)
	}
	schema, err := valueSchema(ev.Entity)
	if err != nil {
		return dst, err
	}
	bare := ev
	bare.Before, bare.After = nil, nil
	env, err := bare.Envelope()
	if err != nil {
		return dst, err
	}
	return valueCodec.AppendSpliced(dst, id, schema, env,
		codec.Spliced{Field: "before", Data: ev.BeforeData}, codec.Spliced{Field: "after", Data: ev.AfterData})
}

// valueCodec encodes the values of the pipeline figures.
var valueCodec = codec.New(nil)

// valueSchemas are the entity schemas appendValue encodes with, parsed once.
var valueSchemas sync.Map // change.Entity → codec.Schema

func valueSchema(e change.Entity) (codec.Schema, error) {
	if s, ok := valueSchemas.Load(e); ok {
		return s.(codec.Schema), nil
	}
	s, err := schemas.Parse(string(e))
	if err != nil {
		return nil, err
	}
	valueSchemas.Store(e, s)
	return s, nil
}

// noChangeDiff diffs the company against a state that already holds it.
func noChangeDiff(c company, st diff.Reader) (int, error) {
	r, err := newDiffRun(st)
	if err != nil {
		return 0, err
	}
	if err := r.add(c.persons, c.emp); err != nil {
		return 0, err
	}
	res, err := r.run.Finish(diff.Scope{Complete: true})
	return len(res.Events), err
}

// perCore runs fn with GOMAXPROCS=1 and returns the items per second.
func perCore(n int, fn func() error) (float64, error) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC()
	start := time.Now()
	if err := fn(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// env is the broker and registry of scripts/testenv.
type env struct {
	brokers  []string
	registry string
}

func envFromOS() (env, error) {
	b, r := os.Getenv("KAFKA_BROKERS"), os.Getenv("SCHEMA_REGISTRY_URL")
	if b == "" || r == "" {
		return env{}, fmt.Errorf("KAFKA_BROKERS and SCHEMA_REGISTRY_URL must be set: run scripts/testenv up and source .testenv/env")
	}
	return env{brokers: strings.Split(b, ","), registry: r}, nil
}

// pipelineFigures measures diff + encode per core, publishing against a bare kafka-go writer,
// the no-change diff, and the state rebuild and its memory in a child process (re-executing
// this program with -child-rebuild).
func pipelineFigures(ctx context.Context, e env, n, publishBatch int, logf func(string, ...any)) ([]Figure, error) {
	c, r, err := setUp(ctx, e, n, publishBatch, logf)
	if err != nil {
		return nil, err
	}
	defer r.kc.Close()

	var figs []Figure
	// A sync takes the persons listing as one snapshot holding every person decoded (the
	// extractor's chains are merged first), then normalises and diffs them one by one.
	var events []change.Event
	rate, err := perCore(n, func() error {
		var err error
		events, err = diffEncode(c, state.NewMemory(), r.id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("diff+encode: %w", err)
	}
	if len(events) != n {
		return nil, fmt.Errorf("diff+encode: %d events for %d persons", len(events), n)
	}
	values, err := wireValues(events, r.id)
	if err != nil {
		return nil, err
	}
	logf("diff+encode: %.0f persons/s per core", rate)
	figs = append(figs, Figure{Name: "diff_encode_per_sec", Value: rate,
		Note: fmt.Sprintf("information (cpu_seconds_per_10k_sync is the goal): initial sync of %d simulator persons with employments, decoded in memory as the extractor's one persons snapshot holds them, GOMAXPROCS=1: normal form, content hash, diff (all creates), envelope, Avro in the Confluent wire format", n)})

	pf, err := r.publishFigure(ctx, e, events, values, logf)
	if err != nil {
		return nil, err
	}
	figs = append(figs, pf)

	// The publisher folded every event into this store, as the service does.
	st := state.NewMemory()
	if err := state.Apply(st, events); err != nil {
		return nil, err
	}
	st.Compact(change.Persons)
	var published int
	rate, err = perCore(n, func() error {
		var err error
		published, err = noChangeDiff(c, st)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("no-change diff: %w", err)
	}
	if published != 0 {
		return nil, fmt.Errorf("no-change diff produced %d events", published)
	}
	logf("no-change diff: %.0f persons/s per core", rate)
	figs = append(figs, Figure{Name: "nochange_diff_per_sec", Value: rate,
		Note: fmt.Sprintf("information: full sync of the same %d persons, decoded in memory, against the state holding them, GOMAXPROCS=1: normal form, content hash, lookup", n)})

	logf("rebuilding the state from %s in a child process ...", r.prefix)
	rb, err := rebuildChild(ctx, e, r.prefix)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	if rb.Live != n {
		return nil, fmt.Errorf("rebuild found %d persons, want %d", rb.Live, n)
	}
	figs = append(figs,
		Figure{Name: "rebuild_100k_seconds", Value: rb.Seconds, Unit: " s", Goal: "<= 5",
			Note: fmt.Sprintf("%d persons read back from the real topic, decoded and hashed into a fresh state (child process)", rb.Live)},
		Figure{Name: "rss_100k_after_gc_mb", Value: rb.RSSMB, Unit: " MB",
			Note: fmt.Sprintf("information (peak_rss_100k_mb is the goal): VmRSS of the child holding the state after the rebuild, a GC and debug.FreeOSMemory (%.0f MB before returning the rebuild's garbage); live heap %.0f MB, of which %.0f MB compressed records; GOMEMLIMIT=%s", rb.AfterGCMB, rb.HeapMB, rb.DataMB, rb.MemLimit)},
		Figure{Name: "rebuild_100k_peak_mb", Value: rb.HWMMB, Unit: " MB",
			Note: "VmHWM of that child: the peak of the rebuild alone"},
	)
	return figs, nil
}

// publishRounds is how many times each side of publish_vs_raw sends all the events.
const publishRounds = 3

// publishVsRaw sends all the events with each of three sides, publishRounds times, rotating
// which side goes first in each round, and returns the bare writer's time ÷ ours (our
// throughput as a share of the bare writer's). ours is the Publisher as the service calls it:
// one Publish with the whole listing, into a fresh state (it sends producer calls of its
// batch size and folds each into the state after its acknowledgement). bare is a kafka-go
// Writer given the encoded values, producer our kafka adapter alone with the same messages
// (to tell the adapter's cost from ours); both send calls of perCall messages.
func publishVsRaw(ctx context.Context, e env, kc *kafka.Client, pub *publish.Publisher, rawTopic string, events []change.Event, values [][]byte) (float64, error) {
	raw := &kafkago.Writer{
		Addr:         kafkago.TCP(e.brokers...),
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		// The settings internal/kafka uses by default.
		BatchSize:    1000,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  5,
		WriteTimeout: 10 * time.Second,
		Transport:    &kafkago.Transport{ClientID: "bench-raw"},
	}
	defer raw.Close()
	msgs := make([]kafkago.Message, len(events))
	for i, ev := range events {
		var hs []kafkago.Header
		for _, h := range ev.Headers() {
			hs = append(hs, kafkago.Header{Key: h[0], Value: []byte(h[1])})
		}
		msgs[i] = kafkago.Message{Topic: rawTopic, Key: []byte(ev.Key), Value: values[i], Headers: hs}
	}
	// Warm both paths alike: one message each to the raw topic opens the connections and
	// fetches metadata.
	if err := raw.WriteMessages(ctx, msgs[:1]...); err != nil {
		return 0, err
	}
	kmsgs := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		kmsgs[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers}
	}
	if err := kc.Publish(ctx, kmsgs[:1]); err != nil {
		return 0, err
	}
	const perCall = publish.DefaultBatchSize
	inCalls := func(fn func(i, j int) error) error {
		for i := 0; i < len(events); i += perCall {
			if err := fn(i, min(i+perCall, len(events))); err != nil {
				return err
			}
		}
		return nil
	}
	var ours, bare, producer time.Duration
	timed := func(d *time.Duration, fn func() error) func() error {
		return func() error {
			start := time.Now()
			err := fn()
			*d += time.Since(start)
			return err
		}
	}
	sides := []func() error{
		timed(&ours, func() error { _, err := pub.Publish(ctx, state.NewMemory(), events); return err }),
		timed(&bare, func() error { return inCalls(func(i, j int) error { return raw.WriteMessages(ctx, msgs[i:j]...) }) }),
		timed(&producer, func() error { return inCalls(func(i, j int) error { return kc.Publish(ctx, kmsgs[i:j]) }) }),
	}
	for k := range publishRounds {
		for s := range sides {
			if err := sides[(s+k)%len(sides)](); err != nil {
				return 0, err
			}
		}
	}
	fmt.Fprintf(os.Stderr, "publish: %d rounds of %d events: publisher %.3f s, bare writer %.3f s, kafka adapter alone %.3f s (%.3f of the bare writer)\n",
		publishRounds, len(events), ours.Seconds(), bare.Seconds(), producer.Seconds(), bare.Seconds()/producer.Seconds())
	return bare.Seconds() / ours.Seconds(), nil
}

// rebuildReport is what the child process prints.
type rebuildReport struct {
	Seconds  float64 `json:"seconds"`
	Live     int     `json:"live"`
	RSSMB    float64 `json:"rss_mb"`
	HWMMB    float64 `json:"hwm_mb"`
	MemLimit string  `json:"mem_limit"`
	HeapMB   float64 `json:"heap_mb"`
	// AfterGCMB is VmRSS right after the rebuild and a GC, before memory is returned.
	AfterGCMB float64 `json:"after_gc_mb"`
	DataMB    float64 `json:"data_mb"`
}

func rebuildChild(ctx context.Context, e env, prefix string) (rebuildReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return rebuildReport{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-child-rebuild", prefix)
	cmd.Env = os.Environ()
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return rebuildReport{}, err
	}
	var r rebuildReport
	if err := json.Unmarshal(out, &r); err != nil {
		return rebuildReport{}, fmt.Errorf("child said %q: %w", out, err)
	}
	return r, nil
}

// childRebuild is the child process: it rebuilds the state of both topics of prefix as the
// service does at start-up, keeps it, and prints the time and its memory.
func childRebuild(ctx context.Context, prefix string) error {
	e, err := envFromOS()
	if err != nil {
		return err
	}
	kc, err := kafka.New(kafka.Config{Brokers: e.brokers})
	if err != nil {
		return err
	}
	defer kc.Close()
	reg, err := codec.NewRegistry(e.registry)
	if err != nil {
		return err
	}
	cd := codec.New(reg)
	st := state.NewMemory()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, ent := range []change.Entity{change.Persons, change.Compensations} {
		reader, err := schemas.Parse(string(ent))
		if err != nil {
			return err
		}
		g.Go(func() error {
			dec := state.EnvelopeDecoder(func(value []byte) (any, error) {
				var env any = new(change.PersonChange)
				if ent == change.Compensations {
					env = new(change.CompensationChange)
				}
				return env, cd.Decode(gctx, value, reader, env)
			})
			_, err := state.Rebuild(gctx, st, ent, kafka.TopicReplay{Reader: kc, Topic: publish.Topic(prefix, ent)}, dec)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	runtime.GC()
	afterGC := procStatus("VmRSS")
	// Return the rebuild's garbage to the OS now rather than wait for the scavenger, which
	// does the same within minutes: what is left is what the process holds to keep the state.
	debug.FreeOSMemory()
	rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	limit := os.Getenv("GOMEMLIMIT")
	if limit == "" {
		limit = "unset"
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var data int
	st.Range(change.Persons, func(_ string, e state.Entry) bool { data += len(e.Data); return true })
	rep := rebuildReport{Seconds: secs, Live: st.Len(change.Persons), RSSMB: rss, HWMMB: hwm, AfterGCMB: afterGC, MemLimit: limit,
		HeapMB: float64(ms.HeapAlloc) / (1 << 20), DataMB: float64(data) / (1 << 20)}
	runtime.KeepAlive(st)
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// procStatus returns a memory line of /proc/self/status in MB (0 when unavailable).
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// setUp generates the company of n persons and the rig; the caller closes r.kc.
func setUp(ctx context.Context, e env, n, publishBatch int, logf func(string, ...any)) (company, *rig, error) {
	logf("generating %d persons ...", n)
	c, err := newCompany(n)
	if err != nil {
		return company{}, nil, err
	}
	r, err := newRig(ctx, e, publishBatch)
	if err != nil {
		return company{}, nil, err
	}
	return c, r, nil
}

// publishFigures measures publish_vs_raw alone (-only publish): the same set-up as
// pipelineFigures without the per-core, diff and rebuild figures.
func publishFigures(ctx context.Context, e env, n, publishBatch int, logf func(string, ...any)) ([]Figure, error) {
	c, r, err := setUp(ctx, e, n, publishBatch, logf)
	if err != nil {
		return nil, err
	}
	defer r.kc.Close()
	events, err := diffEncode(c, state.NewMemory(), r.id)
	if err != nil {
		return nil, fmt.Errorf("diff+encode: %w", err)
	}
	values, err := wireValues(events, r.id)
	if err != nil {
		return nil, err
	}
	pf, err := r.publishFigure(ctx, e, events, values, logf)
	if err != nil {
		return nil, err
	}
	return []Figure{pf}, nil
}

// rig is what the pipeline figures publish with: the real broker and registry, our Publisher
// on fresh topics, the raw writer's topic, and the registered persons schema.
type rig struct {
	kc       *kafka.Client
	cd       *codec.Codec
	pub      *publish.Publisher
	timing   *publish.Publisher // on topics of their own: publish_vs_raw sends every event several times
	prefix   string
	rawTopic string
	schema   codec.Schema
	id       int
	batch    int
}

// newRig connects to the environment, creates the topics and registers the schemas. The
// caller closes r.kc.
func newRig(ctx context.Context, e env, publishBatch int) (*rig, error) {
	kc, err := kafka.New(kafka.Config{Brokers: e.brokers})
	if err != nil {
		return nil, err
	}
	r, err := setUpRig(ctx, e, kc, publishBatch)
	if err != nil {
		kc.Close()
		return nil, err
	}
	return r, nil
}

func setUpRig(ctx context.Context, e env, kc *kafka.Client, publishBatch int) (*rig, error) {
	reg, err := codec.NewRegistry(e.registry)
	if err != nil {
		return nil, err
	}
	cd := codec.New(reg)
	prefix := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pub, err := publish.New(publish.Config{TopicPrefix: prefix, Encoder: cd, Registry: reg, Producer: kc, BatchSize: publishBatch})
	if err != nil {
		return nil, err
	}
	timing, err := publish.New(publish.Config{TopicPrefix: prefix + ".timing", Encoder: cd, Registry: reg, Producer: kc, BatchSize: publishBatch})
	if err != nil {
		return nil, err
	}
	rawTopic := prefix + ".raw"
	var specs []kafka.TopicSpec
	for _, t := range []string{pub.Topic(change.Persons), pub.Topic(change.Compensations), timing.Topic(change.Persons), timing.Topic(change.Compensations), rawTopic} {
		specs = append(specs, kafka.TopicSpec{Name: t, Partitions: 6, ReplicationFactor: 1})
	}
	if err := kc.EnsureTopics(ctx, specs); err != nil {
		return nil, err
	}
	for _, p := range []*publish.Publisher{pub, timing} {
		if err := p.Register(ctx); err != nil {
			return nil, err
		}
	}
	schema, err := schemas.Parse(string(change.Persons))
	if err != nil {
		return nil, err
	}
	id, err := reg.Register(ctx, codec.Subject(pub.Topic(change.Persons)), schema)
	if err != nil {
		return nil, err
	}
	return &rig{kc: kc, cd: cd, pub: pub, timing: timing, prefix: prefix, rawTopic: rawTopic, schema: schema, id: id,
		batch: cmp.Or(publishBatch, publish.DefaultBatchSize)}, nil
}

// publishFigure measures publish_vs_raw with the encoded events, then publishes them once
// more, untimed, to the rig's own topics, which the rebuild figures read back.
func (r *rig) publishFigure(ctx context.Context, e env, events []change.Event, values [][]byte, logf func(string, ...any)) (Figure, error) {
	logf("publishing %d events %d times, alternating with a bare kafka-go writer ...", len(events), publishRounds)
	ratio, err := publishVsRaw(ctx, e, r.kc, r.timing, r.rawTopic, events, values)
	if err != nil {
		return Figure{}, fmt.Errorf("publish: %w", err)
	}
	if _, err := r.pub.Publish(ctx, state.NewMemory(), events); err != nil {
		return Figure{}, fmt.Errorf("publish: %w", err)
	}
	return Figure{Name: "publish_vs_raw", Value: ratio, Goal: ">= 0.8",
		Note: fmt.Sprintf("our throughput (one Publish of the listing: %d events per producer call, each folded into the state after its acknowledgement) ÷ a bare kafka-go Writer's with the same encoded payloads in calls of %d, same broker, %d rounds alternating", r.batch, publish.DefaultBatchSize, publishRounds)}, nil
}
