// Command bench measures the performance goals of personio-cdc and writes them to
// docs/BENCHMARKS.md. Run it with `make bench` (scripts/testenv must be up for the Kafka
// figures); BENCH_SCALE=small runs a reduced version in under a minute.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		scale   = flag.String("scale", envOr("BENCH_SCALE", "full"), "full or small")
		doc     = flag.String("doc", "docs/BENCHMARKS.md", "document whose results block is replaced (empty: none)")
		only    = flag.String("only", "", "comma list of groups to run: api, process, pipeline, refresh, webhook, tenants (default all; api includes comp, the compensation-limit figures); publish runs only publish_vs_raw; webhook-latency and webhook-kill run one part of webhook; refresh needs no Kafka")
		child   = flag.String("child-rebuild", "", "internal: rebuild the state of this topic prefix and report")
		command = flag.String("command", "make bench", "command recorded in the document")
		batch   = flag.Int("publish-batch", 0, "events per producer call of our publisher (0: the service default)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *child != "" {
		return childRebuild(ctx, *child)
	}

	sc, persons, cpuPersons, notes, err := scaleOf(*scale)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	groups := map[string]bool{"api": true, "pipeline": true, "process": true, "refresh": true, "webhook": true, "tenants": true}
	if *only != "" {
		groups = map[string]bool{}
		for g := range strings.SplitSeq(*only, ",") {
			groups[strings.TrimSpace(g)] = true
		}
	}

	var e env
	if groups["api"] || groups["process"] || groups["pipeline"] || groups["publish"] || groups["webhook"] ||
		groups["webhook-latency"] || groups["webhook-kill"] || groups["tenants"] {
		if e, err = envFromOS(); err != nil {
			return err
		}
	}
	var figs []Figure
	if groups["api"] {
		f, err := apiFigures(ctx, sc, e, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["process"] {
		f, err := processFigures(ctx, e, cpuPersons, persons, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["api"] || groups["comp"] {
		f, err := compLimitFigures(ctx, sc, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["pipeline"] {
		f, err := pipelineFigures(ctx, e, persons, *batch, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["publish"] && !groups["pipeline"] {
		f, err := publishFigures(ctx, e, persons, *batch, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	steady, incr := time.Minute, 15*time.Second
	if *scale != "full" {
		steady, incr = 20*time.Second, 5*time.Second
	}
	if groups["webhook"] || groups["webhook-latency"] {
		f, err := webhookFigures(ctx, sc, e, steady, incr, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["webhook"] {
		f, err := burstFigures(ctx, sc, e, incr, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["webhook"] || groups["webhook-kill"] {
		f, err := lostAfterKillFigures(ctx, sc, e, incr, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["tenants"] {
		ts := tenantsScale{tenants: 100, persons: 1000, factor: 30, idle: time.Minute}
		if *scale != "full" {
			ts = tenantsScale{tenants: 10, persons: 100, factor: 60, idle: 20 * time.Second}
			notes = append(notes, "Tenants figures at small scale: 10 tenants of 100 persons, the CPU figure's schedule compressed by 60; the tenants_100_* figures are for those, not 100 of 1,000.")
		}
		f, err := tenantsFigures(ctx, e, ts, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if groups["refresh"] {
		f, err := refreshFigures(ctx, logf)
		if err != nil {
			return err
		}
		figs = append(figs, f...)
	}
	if err := WriteLines(os.Stdout, figs); err != nil {
		return err
	}
	if *doc == "" {
		return nil
	}
	h := Header{Command: *command, Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), CPU: cpuModel(),
		Cores: runtime.NumCPU(), Go: runtime.Version(), Scale: *scale, Notes: notes}
	if *scale != "full" {
		h.Command = "BENCH_SCALE=" + *scale + " " + h.Command
	}
	var block bytes.Buffer
	if err := WriteTable(&block, h, figs); err != nil {
		return err
	}
	old, err := os.ReadFile(*doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(*doc, []byte(ReplaceBlock(string(old), block.String())), 0o644)
}

// scaleOf returns the API scale, the person count of the pipeline and memory figures, that
// of the CPU figure, and notes for the table.
func scaleOf(name string) (apiScale, int, int, []string, error) {
	real := budget{perSecond: 5, burst: 15}
	realComp := budget{perSecond: 5, burst: 5}
	switch name {
	case "full":
		return apiScale{persons: 10000, api: real, comp: realComp,
				latency: 300 * time.Millisecond, jitter: 200 * time.Millisecond, changed: 10,
				restorePause: 4 * time.Second},
			100000, 10000, []string{
				"API figures: 10,000 simulated persons, Personio's budgets (300/min burst 15; compensations 5/s burst 5), latency 300 ms + U[0, 200 ms); the service as `personio-cdc sync`/`run` build it, with every default (page size 50, 6 created_at chains, 4 sub-windows per month, compensations of the current month and 2 before) except employment details off (SYNC_EMPLOYMENT_DETAILS=false).",
				"Process figures: the built `personio-cdc sync` as a child process, API unthrottled; CPU for 10,000 persons, memory for 100,000. Pipeline figures: 100,000 simulated persons with their employments. Real Kafka and Apicurio Registry from scripts/testenv throughout.",
				"The machine has 2 cores shared with other engineers' builds and tests: wall-clock and CPU figures vary by ±20 % and more from run to run; compare figures measured side by side in one run.",
			}, nil
	case "small":
		// Everything in time is four times faster, so the ratios keep their meaning.
		fast := func(b budget) budget { return budget{perSecond: 4 * b.perSecond, burst: b.burst} }
		return apiScale{persons: 1000, api: fast(real), comp: fast(realComp),
				latency: 75 * time.Millisecond, jitter: 50 * time.Millisecond, changed: 10,
				restorePause: time.Second},
			1000, 1000, []string{
				"SMALL SCALE: 1,000 simulated persons, time scaled by 4 (server and client budgets 1200/min burst 15 and 20/s burst 5, latency 75 ms + U[0, 50 ms)); otherwise the service's defaults with employment details off.",
				"Process and pipeline figures at small scale use 1,000 persons: cpu_seconds_per_10k_sync, peak_rss_100k_mb, rebuild_100k_seconds and rss_100k_after_gc_mb are for 1,000, not 10,000 or 100,000.",
			}, nil
	}
	return apiScale{}, 0, 0, nil, fmt.Errorf("unknown scale %q (full or small)", name)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// cpuModel returns the CPU model name from /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	if out, err := exec.Command("uname", "-m").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.GOARCH
}
