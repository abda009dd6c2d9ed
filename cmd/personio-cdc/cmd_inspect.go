package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/inspect"
	"github.com/personio-cdc/personio-cdc/internal/progress"
	"github.com/personio-cdc/personio-cdc/internal/service"
)

// topicList turns --topic values (comma-separated, may be empty) into topic names: by default
// every entity topic under the configured prefix; an entity name stands for its topic.
func topicList(cfg config.Config, flagValue string) []string {
	if flagValue == "" {
		return service.Topics(cfg)
	}
	var out []string
	for _, t := range strings.Split(flagValue, ",") {
		t = strings.TrimSpace(t)
		if slices.Contains(service.Entities, t) {
			t = cfg.Kafka.Topic(t)
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

const replayExamples = `  personio-cdc replay                                   # counts for every topic
  personio-cdc replay --topic personio.persons --output json > persons.jsonl
  personio-cdc replay --topic compensations --kafka-brokers kafka:9092
`

// cmdReplay reads topics from offset 0 to their end and shows the current state: the last
// event per key, tombstones removing keys.
func cmdReplay(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "replay", "replay [--topic T[,T]] [--output counts|json] [flags]", replayExamples,
		config.GroupKafka|config.GroupRegistry|config.GroupLog)
	topic := f.String("topic", "", "topics or entities to read (default: every entity topic)")
	output := f.String("output", "counts", "counts (per topic) or json (one current event per line)")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	if *output != "counts" && *output != "json" {
		fmt.Fprintf(a.stderr, "personio-cdc replay: --output %q must be counts or json\n", *output)
		return exitConfig
	}
	a, logger := redacted(a, cfg)
	kc, dec, err := readers(ctx, cfg, logger)
	if err != nil {
		return fail(a, "replay", err)
	}
	defer kc.Close()

	topics := topicList(cfg, *topic)
	var n atomic.Int64
	stop := progress.Watch(progress.Options{Title: "replay", Terminal: a.stderrTTY, Writer: a.stderr, Logger: logger},
		func() progress.Snapshot {
			c := n.Load()
			return progress.Snapshot{Count: c, Detail: "records read"}
		})
	st, err := inspect.Replay(ctx, kc, dec, topics, func(c int) { n.Store(int64(c)) })
	stop()
	if err != nil {
		if ctx.Err() != nil {
			// It printed nothing: exit 0 would read as topics that hold nothing.
			fmt.Fprintln(a.stderr, "personio-cdc replay: interrupted before reading the topics to their end; nothing printed")
			return exitError
		}
		return fail(a, "replay", err)
	}
	if *output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		for _, ts := range st.Topics() {
			for _, m := range ts.Current() {
				if err := enc.Encode(m); err != nil {
					return fail(a, "replay", err)
				}
			}
		}
		return exitOK
	}
	fmt.Fprintf(a.stdout, "%-32s %8s %8s %8s  %s\n", "TOPIC", "RECORDS", "KEYS", "LIVE", "EVENTS BY OP")
	for _, ts := range st.Topics() {
		var ops []string
		for _, op := range []string{"c", "u", "d", "r"} {
			if ts.ByOp[op] > 0 {
				ops = append(ops, fmt.Sprintf("%s=%d", op, ts.ByOp[op]))
			}
		}
		if ts.Tombstones > 0 {
			ops = append(ops, fmt.Sprintf("tombstones=%d", ts.Tombstones))
		}
		fmt.Fprintf(a.stdout, "%-32s %8d %8d %8d  %s\n", ts.Topic, ts.Records, ts.Keys(), ts.Live(), strings.Join(ops, " "))
	}
	return exitOK
}

const tailExamples = `  personio-cdc tail                                      # new events of every topic
  personio-cdc tail --from-beginning --output json | jq .value.op
  personio-cdc tail --topic compensations --schema-registry-url http://sr:8081
`

// cmdTail follows topics and prints every event decoded, until interrupted.
func cmdTail(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "tail", "tail [--topic T[,T]] [--from-beginning] [--output text|json] [flags]", tailExamples,
		config.GroupKafka|config.GroupRegistry|config.GroupLog)
	topic := f.String("topic", "", "topics or entities to follow (default: every entity topic)")
	fromBeginning := f.Bool("from-beginning", false, "start at offset 0 instead of the end")
	output := f.String("output", "text", "text (one readable line per event) or json (one JSON object per line)")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(a.stderr, "personio-cdc tail: --output %q must be text or json\n", *output)
		return exitConfig
	}
	a, logger := redacted(a, cfg)
	kc, dec, err := readers(ctx, cfg, logger)
	if err != nil {
		return fail(a, "tail", err)
	}
	defer kc.Close()
	print := eventPrinter(a, *output)
	err = inspect.Tail(ctx, kc, dec, topicList(cfg, *topic), *fromBeginning, print)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fail(a, "tail", err)
	}
	return exitOK
}

// eventPrinter writes one line per event: JSON, or a readable summary.
func eventPrinter(a *app, output string) func(inspect.Message) error {
	if output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		return func(m inspect.Message) error { return enc.Encode(m) }
	}
	style := inspect.Style{Color: a.color(), People: inspect.NewPeople()}
	return func(m inspect.Message) error {
		style.People.Observe(m)
		_, err := fmt.Fprintln(a.stdout, style.Summary(m))
		return err
	}
}

// readers builds the Kafka client and the registry-backed decoder of replay and tail, and fails
// when Kafka or the registry refuses the credential or certificate (service.CheckAccess).
func readers(ctx context.Context, cfg config.Config, logger *slog.Logger) (interface {
	inspect.Reader
	Close() error
}, *inspect.Decoder, error) {
	kc, err := service.NewKafka(cfg, nil, logger)
	if err != nil {
		return nil, nil, err
	}
	reg, err := service.NewRegistry(cfg, logger)
	if err != nil {
		kc.Close()
		return nil, nil, err
	}
	if err := service.CheckAccess(ctx, cfg, kc, reg); err != nil {
		kc.Close()
		return nil, nil, err
	}
	return kc, inspect.NewDecoder(reg), nil
}
