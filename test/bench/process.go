package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// unthrottled is the client budget of the process figures: far above anything the simulator,
// which has its limits off, can serve.
var unthrottled = budget{perSecond: 10000, burst: 500}

// buildService builds cmd/personio-cdc into dir and returns the binary's path.
func buildService(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "personio-cdc")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/personio-cdc").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/personio-cdc: %w\n%s", err, out)
	}
	return bin, nil
}

// serviceRun is one `personio-cdc sync` process, measured by the kernel when it ended.
type serviceRun struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	peakMB float64       // peak resident set (ru_maxrss, the child's VmHWM)
	res    syncrun.Result
}

// runService runs `personio-cdc sync --output json` with exactly the environment vars (no
// GOGC, GOMEMLIMIT or GODEBUG: the Go runtime's defaults, as a user gets them).
func runService(ctx context.Context, bin string, vars map[string]string) (serviceRun, error) {
	cmd := exec.CommandContext(ctx, bin, "sync", "--output", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_LEVEL=warn"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return serviceRun{}, fmt.Errorf("personio-cdc sync: %w\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	r := serviceRun{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakMB = float64(ru.Maxrss) / 1024 // kB on Linux
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.res); err != nil {
		return serviceRun{}, fmt.Errorf("personio-cdc sync printed %q: %w", stdout.Bytes(), err)
	}
	if r.res.Outcome != syncrun.Complete {
		return serviceRun{}, fmt.Errorf("personio-cdc sync: outcome %s: %v", r.res.Outcome, r.res.Errors)
	}
	return r, nil
}

// unthrottledSim starts a simulator of n persons with its rate limits and its compensation
// work limit off (a company of 100,000 persons would otherwise get 422 even for one day of
// compensations); at most 2 compensation requests may still be in flight.
func unthrottledSim(n int, seed int64) (*personiotest.Server, error) {
	sim, err := personiotest.New(personiotest.Options{Persons: n, Seed: seed, NoRateLimit: true, CompensationWorkLimit: -1})
	if err != nil {
		return nil, err
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return sim, nil
}

// cpuRounds is how many times the CPU figures run; the median is taken.
const cpuRounds = 3

// processFigures runs the built `personio-cdc sync` as a child process against a simulator in
// this process and the test environment: its CPU time for a full sync of cpuN persons, and
// its peak memory when it rebuilds the state of rssN persons and then syncs them.
func processFigures(ctx context.Context, e env, cpuN, rssN int, logf func(string, ...any)) ([]Figure, error) {
	dir, err := os.MkdirTemp("", "bench-service-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf("building personio-cdc ...")
	bin, err := buildService(ctx, dir)
	if err != nil {
		return nil, err
	}

	sim, err := unthrottledSim(cpuN, 7)
	if err != nil {
		return nil, err
	}
	var first, again []serviceRun
	for i := range cpuRounds {
		vars := serviceEnv(e, sim.URL(), topicPrefix("bench-cpu"), unthrottled, unthrottled)
		f, err := runService(ctx, bin, vars)
		if err != nil {
			sim.Close()
			return nil, err
		}
		a, err := runService(ctx, bin, vars)
		if err != nil {
			sim.Close()
			return nil, err
		}
		if a.res.Published() != 0 {
			sim.Close()
			return nil, fmt.Errorf("the second sync of an unchanged company published %d events", a.res.Published())
		}
		logf("cpu round %d: first sync %.2f s CPU (%.1f s wall, %d events), again %.2f s CPU (%.1f s wall)", i+1,
			f.cpu.Seconds(), f.wall.Seconds(), f.res.Published(), a.cpu.Seconds(), a.wall.Seconds())
		first, again = append(first, f), append(again, a)
	}
	sim.Close()
	mf, ma := medianCPU(first), medianCPU(again)
	figs := []Figure{
		{Name: "cpu_seconds_per_10k_sync", Value: mf.cpu.Seconds(), Unit: " s", Goal: "<= 2.0",
			Note: fmt.Sprintf("user+system CPU of `personio-cdc sync` (a child process, defaults but employment details off, API unthrottled) for the first full sync of %d persons and %d compensations into fresh topics, median of %d (%s); %.1f s wall",
				mf.res.Entities[0].Extracted, mf.res.Entities[1].Extracted, cpuRounds, cpuList(first), mf.wall.Seconds())},
		{Name: "cpu_seconds_per_10k_nochange_sync", Value: ma.cpu.Seconds(), Unit: " s",
			Note: fmt.Sprintf("the same command again on those topics: state rebuild, full sync, nothing to publish; median of %d (%s)", cpuRounds, cpuList(again))},
	}

	logf("generating %d persons for the memory figure ...", rssN)
	sim, err = unthrottledSim(rssN, 11)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	vars := serviceEnv(e, sim.URL(), topicPrefix("bench-rss"), unthrottled, unthrottled)
	logf("first sync of %d persons ...", rssN)
	firstSync, err := runService(ctx, bin, vars)
	if err != nil {
		return nil, err
	}
	logf("first sync: peak %.0f MB, %.1f s CPU, %.1f s wall; rebuild and full sync ...", firstSync.peakMB, firstSync.cpu.Seconds(), firstSync.wall.Seconds())
	steady, err := runService(ctx, bin, vars)
	if err != nil {
		return nil, err
	}
	if n := steady.res.Entities[0].Extracted; n != rssN {
		return nil, fmt.Errorf("the full sync listed %d persons, want %d", n, rssN)
	}
	logf("rebuild and full sync: peak %.0f MB, %.1f s CPU, %.1f s wall, %d events", steady.peakMB, steady.cpu.Seconds(), steady.wall.Seconds(), steady.res.Published())
	figs = append(figs,
		Figure{Name: "peak_rss_100k_mb", Value: steady.peakMB, Unit: " MB", Goal: "<= 150",
			Note: fmt.Sprintf("peak resident memory (ru_maxrss: VmHWM) of one `personio-cdc sync` that rebuilds the state of %d persons and %d compensations from the real topics and then runs a full sync of them (nothing changed, %d events); no GC forced, no GOMEMLIMIT; %.1f s wall, %.1f s CPU",
				rssN, steady.res.Entities[1].Extracted, steady.res.Published(), steady.wall.Seconds(), steady.cpu.Seconds())},
		Figure{Name: "peak_rss_100k_first_sync_mb", Value: firstSync.peakMB, Unit: " MB",
			Note: fmt.Sprintf("the same for the first sync into empty topics (%d events published)", firstSync.res.Published())},
	)
	return figs, nil
}

func medianCPU(runs []serviceRun) serviceRun {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b serviceRun) int { return int(a.cpu - b.cpu) })
	return s[len(s)/2]
}

func cpuList(runs []serviceRun) string {
	out := ""
	for i, r := range runs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%.2f", r.cpu.Seconds())
	}
	return out + " s"
}
