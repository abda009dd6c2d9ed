package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/personio-cdc/personio-cdc/internal/metrics"
)

func cmdVersion(_ context.Context, a *app, args []string) int {
	f := newFlags(a, "version", "version [--output text|json]", "  personio-cdc version\n", 0)
	output := f.String("output", "text", "text or json")
	if _, code, ok := f.parse(a, args); !ok {
		return code
	}
	bi := metrics.ReadBuildInfo(version)
	switch *output {
	case "json":
		b, _ := json.Marshal(bi)
		fmt.Fprintln(a.stdout, string(b))
	case "text":
		fmt.Fprintf(a.stdout, "personio-cdc %s", bi.Version)
		if bi.Revision != "" {
			fmt.Fprintf(a.stdout, " (%s)", bi.Revision)
		}
		fmt.Fprintf(a.stdout, " %s\n", bi.GoVersion)
	default:
		fmt.Fprintf(a.stderr, "personio-cdc version: --output %q must be text or json\n", *output)
		return exitConfig
	}
	return exitOK
}
