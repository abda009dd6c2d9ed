package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// The tenants figures (issue 15): the built `personio-cdc run` as child processes holding many
// tenants (TENANTS_FILE) against one simulator serving as many companies, on real Kafka and
// Apicurio. docs/BENCHMARKS.md says how each is measured.

// tenantsScale is the size of the tenants figures.
type tenantsScale struct {
	tenants, persons int
	// factor compresses the schedule of the CPU figure: intervals and the employment refresh
	// period divided by it, request budgets multiplied by it.
	factor int
	idle   time.Duration // the idle window of the CPU figure
}

// Personio's schedule and budgets as the service's defaults have them (README "Settings").
const (
	defaultFull        = time.Hour
	defaultIncremental = 5 * time.Minute
	defaultRefresh     = 24 * time.Hour
	defaultBudget      = 300 // requests per minute, persons and compensations alike
	defaultLookback    = 2   // COMPENSATION_LOOKBACK_MONTHS
)

// tenantsFigures measures tenants_100_cpu_seconds_per_hour, tenants_100_peak_rss_mb,
// rebalance_seconds and rebalance_lost.
func tenantsFigures(ctx context.Context, e env, sc tenantsScale, logf func(string, ...any)) ([]Figure, error) {
	dir, err := os.MkdirTemp("", "bench-tenants-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	logf("tenants: building personio-cdc ...")
	bin, err := buildService(ctx, dir)
	if err != nil {
		return nil, err
	}
	logf("tenants: generating %d companies of %d persons ...", sc.tenants, sc.persons)
	cos, err := personiotest.NewCompanies(sc.tenants, personiotest.Options{Persons: sc.persons, Seed: 15,
		NoRateLimit: true, CompensationWorkLimit: -1})
	if err != nil {
		return nil, err
	}
	if err := cos.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer cos.Close()
	creds, err := cos.WriteCredentials(filepath.Join(dir, "credentials"))
	if err != nil {
		return nil, err
	}
	tb := &tenantsBench{e: e, bin: bin, dir: dir, cos: cos, prefix: topicPrefix("bench-tenants"), logf: logf}
	if tb.file, tb.names, err = writeBenchTenants(dir, creds); err != nil {
		return nil, err
	}

	load, err := tb.load(ctx, sc)
	if err != nil {
		return nil, err
	}
	hour, err := tb.compressedHour(ctx, sc)
	if err != nil {
		return nil, err
	}
	// The compressed hour counts the wall-clock cost of 1/factor of an hour (timers, heartbeats,
	// the runtime); an hour of schedule has all of it.
	tc := defaultFull / time.Duration(sc.factor)
	perHour := hour.cpu.Seconds() - load.idleRate*tc.Seconds() + load.idleRate*3600
	peak := max(load.hwmMB, hour.hwmMB)
	figs := []Figure{
		{Name: "tenants_100_cpu_seconds_per_hour", Value: perHour, Unit: " s", Goal: "<= 180",
			Note: fmt.Sprintf("user+system CPU (/proc/<pid>/stat) of one `personio-cdc run` holding %d tenants of %d persons (a state loaded before), for one hour of schedule time-compressed by %d: FULL_SYNC_INTERVAL %s, INCREMENTAL_SYNC_INTERVAL %s, EMPLOYMENT_REFRESH_PERIOD %s, budgets %d/min, the companies changing (%s); %.1f s CPU in the %s window (%s), less its idle part, plus an hour's idle CPU (%.4f s/s, measured over %s without scheduled syncs: %.1f s/h)",
				sc.tenants, sc.persons, sc.factor, defaultFull/time.Duration(sc.factor), defaultIncremental/time.Duration(sc.factor),
				defaultRefresh/time.Duration(sc.factor), defaultBudget*sc.factor, hour.churn, hour.cpu.Seconds(), tc, hour.syncs,
				load.idleRate, sc.idle, load.idleRate*3600)},
		{Name: "tenants_100_peak_rss_mb", Value: peak, Unit: " MB", Goal: "<= 400",
			Note: fmt.Sprintf("peak resident memory (VmHWM) of that process over its life (state rebuild of %d tenants, start-up full syncs, the compressed hour): %.0f MB; of the process that first loaded the %d tenants into empty topics: %.0f MB; the larger",
				sc.tenants, hour.hwmMB, sc.tenants, load.hwmMB)},
	}
	reb, err := tb.rebalance(ctx, sc)
	if err != nil {
		return nil, err
	}
	figs = append(figs,
		Figure{Name: "rebalance_seconds", Value: reb.seconds, Unit: " s", Goal: "<= 60",
			Note: fmt.Sprintf("3 `personio-cdc run` instances of one GROUP_ID (GROUP_SESSION_TIMEOUT default %s) holding the %d tenants, the service's default schedule and budgets, API latency 300 ms + U[0, 200 ms): from the SIGKILL of one instance (%d tenants) to the end of the last of its tenants' first complete full sync on another instance (%s)",
				"30s", sc.tenants, reb.moved, reb.detail)},
		Figure{Name: "rebalance_lost", Value: float64(reb.lost), Goal: "== 0",
			Note: fmt.Sprintf("keys of the killed instance's tenants whose content on the topics (read_committed replay) is not their company's truth once those tenants synced elsewhere; the companies changed just before the kill and right after it (%s)", reb.churn)},
	)
	return figs, nil
}

type tenantsBench struct {
	e      env
	bin    string
	dir    string
	cos    *personiotest.Companies
	file   string
	names  []string
	prefix string
	logf   func(string, ...any)
	runs   int
}

// writeBenchTenants writes a TENANTS_FILE of one tenant per company (t001, …); every other
// setting comes from the process's environment.
func writeBenchTenants(dir string, creds []personiotest.Credential) (string, []string, error) {
	var b strings.Builder
	b.WriteString("tenants:\n")
	names := make([]string, len(creds))
	for i, c := range creds {
		names[i] = fmt.Sprintf("t%03d", i+1)
		fmt.Fprintf(&b, "  - name: %s\n    client_id: %s\n    client_secret_file: %s\n", names[i], c.ClientID, c.SecretFile)
	}
	path := filepath.Join(dir, "tenants.yaml")
	return path, names, os.WriteFile(path, []byte(b.String()), 0o600)
}

// env returns the child's environment: the test environment, the tenants file, JSON logs and
// extra.
func (tb *tenantsBench) env(admin string, extra map[string]string) map[string]string {
	vars := map[string]string{
		"PERSONIO_BASE_URL":        tb.cos.URL(),
		"TENANTS_FILE":             tb.file,
		"KAFKA_BROKERS":            strings.Join(tb.e.brokers, ","),
		"SCHEMA_REGISTRY_URL":      tb.e.registry,
		"TOPIC_PREFIX":             tb.prefix,
		"KAFKA_REPLICATION_FACTOR": "1",
		"ADMIN_ADDR":               admin,
		"LOG_FORMAT":               "json",
		"LOG_LEVEL":                "info",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// child is one `personio-cdc run` process.
type child struct {
	cmd   *exec.Cmd
	log   string
	admin string
	done  chan struct{}
}

func (tb *tenantsBench) start(ctx context.Context, extra map[string]string) (*child, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	tb.runs++
	c := &child{log: filepath.Join(tb.dir, fmt.Sprintf("run-%02d.log", tb.runs)), admin: admin, done: make(chan struct{})}
	logf, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.CommandContext(ctx, tb.bin, "run")
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range tb.env(admin, extra) {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stderr = logf
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = c.cmd.Wait(); logf.Close(); close(c.done) }()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// tail is the end of the child's log, for an error.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// stop sends SIGTERM and waits (then SIGKILL) for the child to end.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// cpu is the child's user+system CPU so far, from /proc/<pid>/stat.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (in parentheses, which may hold spaces).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat %q", b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks()), nil
}

// hwmMB is the child's peak resident set so far (VmHWM), in MB.
func (c *child) hwmMB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

var clkTck int64

func clockTicks() int64 {
	if clkTck == 0 {
		clkTck = 100
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
				clkTck = n
			}
		}
	}
	return clkTck
}

// runStatus is the part of /status the figures read.
type runStatus struct {
	TenantStates []struct {
		Tenant            string `json:"tenant"`
		State             string `json:"state"`
		EmploymentRefresh *struct {
			Persons  int `json:"persons"`
			Priority int `json:"priority"`
		} `json:"employment_refresh"`
	} `json:"tenant_states"`
}

func (c *child) status() (runStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.admin+"/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return runStatus{}, err
	}
	defer resp.Body.Close()
	var st runStatus
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// owned returns the tenants the child runs.
func (st runStatus) owned() []string {
	var out []string
	for _, s := range st.TenantStates {
		if s.State == "running" {
			out = append(out, s.Tenant)
		}
	}
	return out
}

// syncDone is one "sync complete" log record.
type syncDone struct {
	tenant, kind string
	start, end   time.Time
}

// completed returns the complete syncs the logs record.
func completed(logs ...string) []syncDone {
	var out []syncDone
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				Time     time.Time `json:"time"`
				Msg      string    `json:"msg"`
				Tenant   string    `json:"tenant"`
				Kind     string    `json:"kind"`
				Duration int64     `json:"duration"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "sync complete" || l.Tenant == "" {
				continue
			}
			out = append(out, syncDone{tenant: l.Tenant, kind: l.Kind, start: l.Time.Add(-time.Duration(l.Duration)), end: l.Time})
		}
		f.Close()
	}
	return out
}

// firstFull returns, for each tenant, the end of its first complete full sync that started at
// or after since.
func firstFull(since time.Time, logs ...string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, s := range completed(logs...) {
		if s.kind != "full" || s.start.Before(since) {
			continue
		}
		if t, ok := out[s.tenant]; !ok || s.end.Before(t) {
			out[s.tenant] = s.end
		}
	}
	return out
}

// waitUntil polls cond every second until it holds, a child exits or limit passes.
func waitUntil(ctx context.Context, limit time.Duration, what string, cond func() (bool, string), children ...*child) error {
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		for _, c := range children {
			if c.exited() {
				return fmt.Errorf("%s: personio-cdc run exited; log %s:\n%s", what, c.log, c.tail())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not reached within %s (%s)", what, limit, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// loadResult is the first child's: the peak memory of the first load and the idle CPU rate.
type loadResult struct {
	hwmMB    float64
	idleRate float64 // CPU seconds per second without scheduled syncs
}

// load runs the first child: every tenant's first full sync into empty topics and the rolling
// employment refresh's first round at an unthrottled budget (so that the later children find
// the state and the refresh's rotation on the topics, as a restarted deployment does), then an
// idle window: full syncs a day apart, incremental syncs off.
func (tb *tenantsBench) load(ctx context.Context, sc tenantsScale) (loadResult, error) {
	began := time.Now()
	c, err := tb.start(ctx, map[string]string{
		"PERSONIO_RATE_LIMIT_PER_MINUTE": "600000", "PERSONIO_RATE_BURST": "500",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE": "600000", "COMPENSATION_RATE_BURST": "500",
		"FULL_SYNC_INTERVAL": "24h", "INCREMENTAL_SYNC_INTERVAL": "0",
		"GROUP_ID": tb.prefix + "-load",
	})
	if err != nil {
		return loadResult{}, err
	}
	defer c.stop()
	tb.logf("tenants: loading %d tenants into empty topics (%s) ...", sc.tenants, tb.prefix)
	err = waitUntil(ctx, 20*time.Minute, "first load", func() (bool, string) {
		done := firstFull(began, c.log)
		if len(done) < len(tb.names) {
			return false, fmt.Sprintf("%d of %d tenants synced", len(done), len(tb.names))
		}
		st, err := c.status()
		if err != nil {
			return false, err.Error()
		}
		waiting := 0
		for _, s := range st.TenantStates {
			if r := s.EmploymentRefresh; r == nil || r.Persons == 0 || r.Priority > 0 {
				waiting++
			}
		}
		return waiting == 0, fmt.Sprintf("%d tenants' employment refresh not through its first round", waiting)
	}, c)
	if err != nil {
		return loadResult{}, err
	}
	tb.logf("tenants: loaded in %s; idle window of %s ...", time.Since(began).Round(time.Second), sc.idle)
	cpu0, err := c.cpu()
	if err != nil {
		return loadResult{}, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return loadResult{}, ctx.Err()
	case <-time.After(sc.idle):
	}
	cpu1, err := c.cpu()
	if err != nil {
		return loadResult{}, err
	}
	res := loadResult{idleRate: (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()}
	if res.hwmMB, err = c.hwmMB(); err != nil {
		return loadResult{}, err
	}
	tb.logf("tenants: first load peak %.0f MB; idle %.4f CPU s/s", res.hwmMB, res.idleRate)
	return res, nil
}

// hourResult is the compressed hour's.
type hourResult struct {
	cpu   time.Duration
	hwmMB float64
	syncs string // the syncs in the window, by kind
	churn string
}

// compressedHour runs the second child with the schedule compressed by sc.factor, waits for
// every tenant's start-up full sync, then measures its CPU over one compressed hour while every
// company changes a little.
func (tb *tenantsBench) compressedHour(ctx context.Context, sc tenantsScale) (hourResult, error) {
	f := time.Duration(sc.factor)
	budget := strconv.Itoa(defaultBudget * sc.factor)
	began := time.Now()
	c, err := tb.start(ctx, map[string]string{
		"PERSONIO_RATE_LIMIT_PER_MINUTE": budget, "COMPENSATION_RATE_LIMIT_PER_MINUTE": budget,
		"FULL_SYNC_INTERVAL": (defaultFull / f).String(), "INCREMENTAL_SYNC_INTERVAL": (defaultIncremental / f).String(),
		"EMPLOYMENT_REFRESH_PERIOD": (defaultRefresh / f).String(),
		// A deployment's instance, alone in its group: it owns every tenant.
		"GROUP_ID": tb.prefix + "-hour",
	})
	if err != nil {
		return hourResult{}, err
	}
	defer c.stop()
	tb.logf("tenants: a process with the schedule compressed by %d: state rebuild and start-up full syncs ...", sc.factor)
	err = waitUntil(ctx, 15*time.Minute, "start-up full syncs", func() (bool, string) {
		n := len(firstFull(began, c.log))
		return n == len(tb.names), fmt.Sprintf("%d of %d tenants synced", n, len(tb.names))
	}, c)
	if err != nil {
		return hourResult{}, err
	}
	window := defaultFull / f
	// The start-up full syncs ran within seconds of each other, so every tenant's next one is
	// due a full interval later: the window starts half an interval on, so that each tenant's
	// next full sync falls inside it, not on its edge.
	tb.logf("tenants: started in %s; waiting %s, then measuring one compressed hour (%s) ...",
		time.Since(began).Round(time.Second), window/2, window)
	select {
	case <-ctx.Done():
		return hourResult{}, ctx.Err()
	case <-time.After(window / 2):
	}
	cpu0, err := c.cpu()
	if err != nil {
		return hourResult{}, err
	}
	t0 := time.Now()
	// Each company changes every tenth of the hour: a rename and a salary change (20 an hour),
	// and a hire in every other tick (5 an hour).
	const ticks = 10
	for i := range ticks {
		select {
		case <-ctx.Done():
			return hourResult{}, ctx.Err()
		case <-time.After(window / ticks):
		}
		for _, s := range tb.cos.Servers() {
			s.Churn(personiotest.Churn{Renames: 1, SalaryChanges: 1, Hires: i % 2})
		}
		if c.exited() {
			return hourResult{}, fmt.Errorf("personio-cdc run exited; log:\n%s", c.tail())
		}
	}
	cpu1, err := c.cpu()
	if err != nil {
		return hourResult{}, err
	}
	res := hourResult{cpu: cpu1 - cpu0, churn: "each company every 6 min of schedule: a rename and a salary change, a hire every 12 min"}
	if res.hwmMB, err = c.hwmMB(); err != nil {
		return hourResult{}, err
	}
	kinds := map[string]int{}
	for _, s := range completed(c.log) {
		if !s.start.Before(t0) && s.end.Before(t0.Add(window)) {
			kinds[s.kind]++
		}
	}
	res.syncs = fmt.Sprintf("%d full syncs (refresh batches included) and %d incremental syncs started and ended in it", kinds["full"], kinds["incremental"])
	tb.logf("tenants: compressed hour %.1f s CPU over %s (%s); peak %.0f MB", res.cpu.Seconds(), time.Since(t0).Round(time.Second), res.syncs, res.hwmMB)
	return res, nil
}

// rebalanceResult is the rebalance figures'.
type rebalanceResult struct {
	seconds float64
	moved   int
	lost    int
	detail  string
	churn   string
}

// rebalance runs three instances of one group with the service's defaults, SIGKILLs one after
// its tenants' companies changed (and changes them again at once), and times how long until
// each of its tenants completed a full sync on another instance; then it counts the keys of
// those tenants that differ from the truth.
func (tb *tenantsBench) rebalance(ctx context.Context, sc tenantsScale) (rebalanceResult, error) {
	for _, s := range tb.cos.Servers() {
		s.SetFaults(personiotest.Faults{Latency: 300 * time.Millisecond, LatencyJitter: 200 * time.Millisecond})
	}
	defer func() {
		for _, s := range tb.cos.Servers() {
			s.SetFaults(personiotest.Faults{})
		}
	}()
	group := map[string]string{"GROUP_ID": tb.prefix + "-group"}
	began := time.Now()
	var insts []*child
	defer func() {
		for _, c := range insts {
			if !c.exited() {
				c.stop()
			}
		}
	}()
	for range 3 {
		c, err := tb.start(ctx, group)
		if err != nil {
			return rebalanceResult{}, err
		}
		insts = append(insts, c)
	}
	logs := func() []string {
		var out []string
		for _, c := range insts {
			out = append(out, c.log)
		}
		return out
	}
	tb.logf("tenants: 3 instances of one group: start-up ...")
	var owned [3][]string
	err := waitUntil(ctx, 15*time.Minute, "3 instances running every tenant", func() (bool, string) {
		n := len(firstFull(began, logs()...))
		total := 0
		for i, c := range insts {
			st, err := c.status()
			if err != nil {
				return false, err.Error()
			}
			owned[i] = st.owned()
			total += len(owned[i])
		}
		return n == len(tb.names) && total == len(tb.names),
			fmt.Sprintf("%d of %d tenants synced; the instances run %d, %d and %d", n, len(tb.names), len(owned[0]), len(owned[1]), len(owned[2]))
	}, insts...)
	if err != nil {
		return rebalanceResult{}, err
	}
	// The victim is the instance with the most tenants (the work topic's partitions, not the
	// tenants, are what the group spreads evenly).
	v := 0
	for i := range owned {
		if len(owned[i]) > len(owned[v]) {
			v = i
		}
	}
	victim := owned[v]
	tb.logf("tenants: started in %s; the instances run %d, %d and %d tenants; killing instance %d",
		time.Since(began).Round(time.Second), len(owned[0]), len(owned[1]), len(owned[2]), v+1)
	byName := map[string]*personiotest.Server{}
	for i, name := range tb.names {
		byName[name] = tb.cos.Servers()[i]
	}
	change := func() {
		for _, name := range victim {
			byName[name].Churn(personiotest.Churn{Renames: 2, SalaryChanges: 2, Bonuses: 1, EmailChanges: 1, Hires: 1, Deletions: 1})
		}
	}
	change()
	killed := time.Now()
	_ = insts[v].cmd.Process.Kill()
	<-insts[v].done
	change()
	changed := time.Now()
	var others []*child
	for i, c := range insts {
		if i != v {
			others = append(others, c)
		}
	}
	var done map[string]time.Time
	err = waitUntil(ctx, 10*time.Minute, "the killed instance's tenants synced elsewhere", func() (bool, string) {
		done = firstFull(changed, others[0].log, others[1].log)
		n := 0
		for _, name := range victim {
			if _, ok := done[name]; ok {
				n++
			}
		}
		return n == len(victim), fmt.Sprintf("%d of %d synced", n, len(victim))
	}, others...)
	if err != nil {
		return rebalanceResult{}, err
	}
	var last, first time.Time
	for _, name := range victim {
		if t := done[name]; t.After(last) {
			last = t
		}
		if t := done[name]; first.IsZero() || t.Before(first) {
			first = t
		}
	}
	res := rebalanceResult{seconds: last.Sub(killed).Seconds(), moved: len(victim),
		detail: fmt.Sprintf("its first tenant after %.1f s", first.Sub(killed).Seconds()),
		churn:  "per company 2 renames, 2 salary changes, a bonus, an email change, a hire and a deletion, twice"}
	tb.logf("tenants: %d tenants moved; the last synced %.1f s after the kill (the first after %.1f s)", len(victim), res.seconds, first.Sub(killed).Seconds())

	// The hires' employments come with the rolling refresh, which reads persons never read
	// first; give it a minute.
	for range 12 {
		if res.lost, err = tb.lost(ctx, victim, byName); err != nil || res.lost == 0 {
			break
		}
		time.Sleep(5 * time.Second)
	}
	tb.logf("tenants: %d keys of the moved tenants differ from the truth", res.lost)
	return res, err
}

// lost counts the keys of the tenants names whose content hash on the topics (the service's
// read_committed replay) is missing, extra or not the truth's.
func (tb *tenantsBench) lost(ctx context.Context, names []string, byName map[string]*personiotest.Server) (int, error) {
	kc, err := kafka.New(kafka.Config{Brokers: tb.e.brokers})
	if err != nil {
		return 0, err
	}
	defer kc.Close()
	reg, err := codec.NewRegistry(tb.e.registry)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	windows := extract.Windows(time.Now(), defaultLookback)
	got := map[change.Entity]map[string]change.Hash{}
	for _, e := range change.Entities() {
		rp, err := oracle.ReplayTopic(ctx, kc, codec.New(reg), tb.prefix+"."+string(e), e)
		if err != nil {
			return 0, fmt.Errorf("replay %s: %w", e, err)
		}
		got[e] = rp.State[e]
	}
	lost := 0
	for _, name := range names {
		want, err := oracle.Expected(byName[name].Truth(), name, windows)
		if err != nil {
			return 0, err
		}
		for _, e := range change.Entities() {
			mine := map[string]change.Hash{}
			for k, h := range got[e] {
				if strings.HasPrefix(k, name+":") {
					mine[k] = h
				}
			}
			for k, h := range want[e] {
				if g, ok := mine[k]; !ok || g != h {
					lost++
				}
			}
			for k := range mine {
				if _, ok := want[e][k]; !ok {
					lost++
				}
			}
		}
	}
	return lost, nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
