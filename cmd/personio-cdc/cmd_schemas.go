package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/schemas"
)

const schemasExamples = `  personio-cdc schemas print                      # every schema
  personio-cdc schemas print --entity persons
  personio-cdc schemas check --schema-registry-url http://localhost:8081
  SCHEMA_REGISTRY_URL=https://sr.example.com personio-cdc schemas register
`

// cmdSchemas prints the embedded schemas, registers them (subject <topic>-value,
// BACKWARD_TRANSITIVE) or checks that they are compatible with what the registry holds.
func cmdSchemas(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintf(a.stdout, "Usage: personio-cdc schemas print|register|check [flags]\n\nExamples:\n%s", schemasExamples)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "Usage: personio-cdc schemas print|register|check [flags]\n\nExamples:\n%s", schemasExamples)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	var groups config.Group
	switch sub {
	case "print":
	case "register", "check":
		groups = config.GroupKafka | config.GroupRegistry
	default:
		fmt.Fprintf(a.stderr, "personio-cdc schemas: unknown subcommand %q (want print, register or check)\n", sub)
		return exitConfig
	}
	f := newFlags(a, "schemas "+sub, "schemas "+sub+" [--entity persons|compensations|employments] [flags]", schemasExamples, groups)
	entity := f.String("entity", "", "only this entity (default: all)")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	entities := schemas.Names()
	if *entity != "" {
		if !slices.Contains(entities, *entity) {
			fmt.Fprintf(a.stderr, "personio-cdc schemas: --entity %q must be one of %s\n", *entity, strings.Join(entities, ", "))
			return exitConfig
		}
		entities = []string{*entity}
	}
	if sub == "print" {
		for _, e := range entities {
			fmt.Fprintf(a.stdout, "// %s\n%s\n", e, strings.TrimRight(schemas.MustSource(e), "\n"))
		}
		return exitOK
	}
	a, logger := redacted(a, cfg)
	reg, err := service.NewRegistry(cfg, logger)
	if err != nil {
		return fail(a, "schemas", err)
	}
	if err := service.CheckAccess(ctx, cfg, nil, reg); err != nil {
		return fail(a, "schemas", err)
	}
	failed := false
	for _, e := range entities {
		sch, err := schemas.Parse(e)
		if err != nil {
			return fail(a, "schemas", err)
		}
		subject := codec.Subject(cfg.Kafka.Topic(e))
		if sub == "register" {
			id, err := reg.Register(ctx, subject, sch)
			if err != nil {
				fmt.Fprintf(a.stderr, "%s: %v\n", subject, err)
				failed = true
				continue
			}
			fmt.Fprintf(a.stdout, "%s: registered, id %d\n", subject, id)
			continue
		}
		switch err := reg.CheckCompatible(ctx, subject, sch); {
		case err == nil:
			fmt.Fprintf(a.stdout, "%s: compatible\n", subject)
		case errors.Is(err, codec.ErrIncompatible):
			fmt.Fprintf(a.stdout, "%s: NOT compatible: %v\n", subject, err)
			failed = true
		default:
			fmt.Fprintf(a.stderr, "%s: %v\n", subject, err)
			failed = true
		}
	}
	if failed {
		return exitError
	}
	return exitOK
}
