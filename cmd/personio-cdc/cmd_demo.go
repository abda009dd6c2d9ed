package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/personio-cdc/personio-cdc/internal/demo"
)

const demoExamples = `  personio-cdc demo                                     # readable, 4 cycles, 25 persons
  personio-cdc demo --cycles 6 --persons 200 --pause 2s
  personio-cdc demo --output json | jq -c '{op: .value.op, key}'
`

// cmdDemo runs the embedded demo: simulated Personio, in-process Kafka and registry.
func cmdDemo(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "demo", "demo [--cycles N] [--persons M] [--output text|json] [--pause D]", demoExamples, 0)
	cycles := f.Int("cycles", 4, "sync cycles to run (the company changes between cycles); a last change then arrives by webhook")
	persons := f.Int("persons", 25, "size of the simulated company")
	seed := f.Int64("seed", 1, "seed of the simulated company and its changes")
	output := f.String("output", "text", "text (one readable line per event) or json (one JSON event per line, nothing else)")
	pause := f.Duration("pause", 0, "wait after each cycle (e.g. 2s) to follow along")
	logLevel := f.String("log-level", "error", "service log level on stderr: debug, info, warn or error")
	if _, code, ok := f.parse(a, args); !ok {
		return code
	}
	var problems []string
	if *cycles < 1 || *cycles > 100 {
		problems = append(problems, "--cycles must be between 1 and 100")
	}
	if *persons < 1 || *persons > 100000 {
		problems = append(problems, "--persons must be between 1 and 100000")
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Sprintf("--output %q must be text or json", *output))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("--log-level %q must be debug, info, warn or error", *logLevel))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "personio-cdc demo: %s\n", p)
		}
		return exitConfig
	}
	_, err := demo.Run(ctx, demo.Options{
		Cycles:  *cycles,
		Persons: *persons,
		Seed:    *seed,
		JSON:    *output == "json",
		Color:   a.color() && *output == "text",
		Pause:   *pause,
		Out:     a.stdout,
		Logger:  slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return exitOK
		}
		return fail(a, "demo", err)
	}
	return exitOK
}
