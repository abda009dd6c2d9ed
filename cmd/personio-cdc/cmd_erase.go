package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/erasure"
	"github.com/personio-cdc/personio-cdc/internal/service"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

const eraseExamples = `  personio-cdc erase --tenant acme --person 1000426 --by dpo@example.com --reason "GDPR art. 17 request"
  personio-cdc erase --lift --tenant acme --person 1000426
`

// cmdErase erases a person (tombstones every key of theirs and keeps syncs from publishing them
// again) or lifts an erasure.
func cmdErase(ctx context.Context, a *app, args []string) int {
	f := newFlags(a, "erase", "erase [--lift] --tenant T --person ID [--by WHO] [--reason WHY] [flags]", eraseExamples,
		config.GroupKafka|config.GroupRegistry|config.GroupLog|config.GroupTopics)
	tenant := f.String("tenant", a.getenv("PERSONIO_TENANT"), "tenant of the person (default: PERSONIO_TENANT)")
	person := f.String("person", "", "Personio id of the person")
	lift := f.Bool("lift", false, "lift the erasure: the next full sync publishes the person again")
	by := f.String("by", "", "who asked for the erasure (kept on the erasures topic; no personal data of the person)")
	reason := f.String("reason", "", "why (kept on the erasures topic; no personal data of the person)")
	cfg, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	if _, err := erasure.Key(*tenant, *person); err != nil {
		fmt.Fprintf(a.stderr, "personio-cdc erase: --tenant and --person: %v\n", err)
		return exitConfig
	}
	if *lift && (*by != "" || *reason != "") {
		fmt.Fprintln(a.stderr, "personio-cdc erase: --by and --reason go with an erasure, not with --lift")
		return exitConfig
	}
	a, logger := redacted(a, cfg)
	kc, err := service.NewKafka(cfg, nil, logger)
	if err != nil {
		return fail(a, "erase", err)
	}
	defer kc.Close()
	reg, err := service.NewRegistry(cfg, logger)
	if err != nil {
		return fail(a, "erase", err)
	}
	if err := service.CheckAccess(ctx, cfg, kc, reg); err != nil {
		return fail(a, "erase", err)
	}
	x, err := service.NewEraser(cfg, kc, reg)
	if err != nil {
		return fail(a, "erase", err)
	}
	if *lift {
		if err := x.LiftErasure(ctx, *tenant, *person); err != nil {
			return fail(a, "erase", err)
		}
		fmt.Fprintln(a.stdout, "erasure lifted: the next full sync publishes the person again if Personio lists them")
		return exitOK
	}
	n, err := x.Erase(ctx, *tenant, *person, erasure.Entry{ErasedAt: time.Now(), By: *by, Reason: *reason})
	if err != nil {
		if errors.Is(err, erasure.ErrBadArgument) {
			fmt.Fprintf(a.stderr, "personio-cdc erase: %v\n", err)
			return exitConfig
		}
		return fail(a, "erase", err)
	}
	var parts []string
	for _, e := range service.Entities {
		parts = append(parts, fmt.Sprintf("%s=%d", e, n[change.Entity(e)]))
	}
	fmt.Fprintf(a.stdout, "erased: tombstoned %s; later syncs leave the person out until `erase --lift`\n",
		strings.Join(parts, " "))
	return exitOK
}
