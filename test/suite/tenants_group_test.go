//go:build integration

package suite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

// groupSessionTimeout is GROUP_SESSION_TIMEOUT of the group test: the brokers' minimum, so
// that a frozen instance's tenants move within seconds.
const groupSessionTimeout = 6 * time.Second

// instance is one `personio-cdc run` of a group.
type instance struct {
	name string
	addr string // ADMIN_ADDR
	p    *proc
}

func (in *instance) status() (instanceStatus, bool) { return status(in.addr) }

// warnings returns the last three warning or error records of each tenant of names in logs.
func warnings(names []string, logs ...string) string {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	last := map[string][]string{}
	for _, path := range logs {
		for _, l := range logLines(path) {
			if want[l.Tenant] && (l.Level == "WARN" || l.Level == "ERROR") {
				last[l.Tenant] = append(last[l.Tenant], fmt.Sprintf("%s %s %q %s", l.Time.Format("15:04:05.000"), l.Level, l.Msg, l.Err))
			}
		}
	}
	var b strings.Builder
	for _, n := range names {
		ls := last[n]
		fmt.Fprintf(&b, "\n  %s: %s", n, strings.Join(ls[max(0, len(ls)-3):], "; "))
	}
	return b.String()
}

// TestIntegrationTenantsGroup is issue 15's proof: three `personio-cdc run` instances of one
// deployment (one GROUP_ID, one TENANTS_FILE of 30 tenants) against one simulator serving 30
// companies. Once every tenant synced, the companies churn; one instance is SIGKILLed while it
// syncs, the companies churn again, another is frozen (SIGSTOP) past the group's session
// timeout until the third runs every tenant, then resumed (SIGCONT), and the companies churn
// once more. When every tenant completed a full sync that started after the last churn, and
// the two live instances run disjoint sets of tenants covering all 30, they stop on SIGTERM;
// then for every tenant the crash audit holds on the shared topics (nothing lost, nothing
// invented, duplicates only with equal event_id, versions without gaps, no false delete), and
// nothing a sync of the frozen instance began before it froze was appended to the topics after
// it froze: its tenants' next owner fenced it.
func TestIntegrationTenantsGroup(t *testing.T) {
	const companies = 30
	began := time.Now()
	seed := envInt(t, envSeed, 20261127) + 15
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7e4a))
	credDir := filepath.Join(t.TempDir(), "credentials")
	s := startSim(t, "--companies", strconv.Itoa(companies), "--persons", "40", "--seed", strconv.FormatInt(seed, 10),
		"--no-rate-limit", "--latency", "5ms", "--latency-jitter", "5ms", "--credentials-dir", credDir)
	path, names := writeTenantsFile(t, t.TempDir(), credDir, companies, map[string]string{
		"full_sync_interval": "8s", "incremental_sync_interval": "2s"})
	// Without the rolling employment refresh the full syncs read every employment, so a full
	// sync after the last churn converges (as in TestIntegrationCrashService).
	c := newCDCEnv(t, []string{"TENANTS_FILE=" + path, "EMPLOYMENT_REFRESH_PERIOD=0"}, s)
	c.env = append(c.env, "GROUP_ID="+c.prefix+"-group", "GROUP_SESSION_TIMEOUT="+groupSessionTimeout.String())
	topics := c.topics()

	audits := make([]*tenantAudit, companies)
	start := endOffsets(t, topics...)
	for i, name := range names {
		audits[i] = newTenantAudit(t, name, s.company(personiotest.CompanyID(i+1)), start)
	}
	churns := 0
	churn := func(what string) {
		start := endOffsets(t, topics...)
		for _, a := range audits {
			a.churn(t, start, personiotest.Churn{Hires: rng.IntN(2), Terminations: rng.IntN(2), Deletions: rng.IntN(2),
				Renames: rng.IntN(3), EmailChanges: rng.IntN(2), SalaryChanges: rng.IntN(3), Bonuses: rng.IntN(2),
				EmploymentChanges: rng.IntN(2), CostCenterChanges: rng.IntN(2)})
		}
		churns++
		t.Logf("%6s  churn %d (%s): every company changed", since(began), churns, what)
	}

	insts := make([]*instance, 3)
	for i := range insts {
		in := &instance{name: string(rune('A' + i)), addr: freePort(t)}
		in.p = c.startEnv([]string{"ADMIN_ADDR=" + in.addr}, "run")
		insts[i] = in
		t.Cleanup(func() {
			if !in.p.exited() {
				_ = in.p.cmd.Process.Signal(syscall.SIGCONT)
				in.p.kill()
			}
		})
	}
	A, B, C := insts[0], insts[1], insts[2]
	logs := func() []string {
		out := make([]string, len(insts))
		for i, in := range insts {
			out[i] = in.p.stderr
		}
		return out
	}
	// alive fails t when an instance that should run has exited.
	alive := func(ins ...*instance) {
		t.Helper()
		for _, in := range ins {
			if in.p.exited() {
				t.Fatalf("instance %s exited %d by itself; log %s:\n%s", in.name, in.p.code, in.p.stderr, in.p.logTail())
			}
		}
	}
	// waitFor polls cond every 200 ms for at most limit; on time-out it fails t with what()
	// (what is still missing) and the instances' log tails.
	waitFor := func(limit time.Duration, goal string, cond func() bool, what func() string, ins ...*instance) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			alive(ins...)
			if time.Now().After(deadline) {
				var tails strings.Builder
				for _, in := range ins {
					fmt.Fprintf(&tails, "\n--- instance %s (%s):\n%s", in.name, in.p.stderr, in.p.logTail())
				}
				t.Fatalf("after %s: not yet %s: %s%s", limit, goal, what(), tails.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// syncing waits until in runs a sync of one of its tenants and returns the tenants it runs.
	syncing := func(in *instance, limit time.Duration) []string {
		t.Helper()
		var owned []string
		waitFor(limit, "instance "+in.name+" syncing", func() bool {
			st, ok := in.status()
			var busy bool
			owned, busy = st.running()
			return ok && busy
		}, func() string { return fmt.Sprintf("instance %s runs %v, none syncing", in.name, owned) }, in)
		return owned
	}
	synced := func(since time.Time) map[string]bool { return fullSyncsSince(since, logs()...) }

	// 1. Every tenant synced once, wherever the group put it.
	waitFor(90*time.Second, "every tenant synced once", func() bool { return len(missing(names, synced(began))) == 0 },
		func() string {
			miss := missing(names, synced(began))
			return fmt.Sprintf("tenants without a complete full sync: %v; their last warnings: %s", miss, warnings(miss, logs()...))
		}, insts...)
	t.Logf("%6s  every tenant completed a full sync", since(began))

	// 2. Churn, and SIGKILL A while it syncs.
	churn("before the kill")
	ownedA := syncing(A, 30*time.Second)
	A.p.kill()
	t.Logf("%6s  instance A SIGKILLed while syncing; it ran %d tenants %v", since(began), len(ownedA), ownedA)
	churn("after the kill")

	// 3. Freeze B while it syncs, until C runs every tenant and completed a full sync of each
	// tenant B ran, which started after B froze: B's tenants moved.
	ownedB := syncing(B, 30*time.Second)
	if err := B.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	t.Logf("%6s  instance B SIGSTOPped while syncing; it ran %d tenants %v", since(began), len(ownedB), ownedB)
	// A produce request B sent just before it froze may still be appended; none after.
	time.Sleep(time.Second)
	frozen := endOffsets(t, topics...)
	churn("while B is frozen")
	waitFor(60*time.Second, "every tenant on instance C", func() bool {
		st, ok := C.status()
		owned, _ := st.running()
		return ok && len(owned) == companies && len(missing(ownedB, synced(stoppedAt))) == 0
	}, func() string {
		st, _ := C.status()
		owned, _ := st.running()
		return fmt.Sprintf("C runs %d tenants; B's tenants without a full sync since the freeze: %v", len(owned), missing(ownedB, synced(stoppedAt)))
	}, C)
	if held := time.Since(stoppedAt); held < 2*groupSessionTimeout {
		time.Sleep(2*groupSessionTimeout - held)
	}
	if err := B.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("%6s  instance B SIGCONTinued after %s frozen (session timeout %s); C runs every tenant", since(began),
		time.Since(stoppedAt).Round(100*time.Millisecond), groupSessionTimeout)

	// 4. Churn more; wait until every tenant completed a full sync that started after it and B
	// and C run disjoint sets of tenants that cover all of them.
	time.Sleep(2 * time.Second)
	churn("after B resumed")
	lastChurn := time.Now()
	var ownership string
	waitFor(90*time.Second, "every tenant synced after the last churn, each on one instance", func() bool {
		if len(missing(names, synced(lastChurn))) > 0 {
			return false
		}
		sb, okB := B.status()
		sc, okC := C.status()
		ob, _ := sb.running()
		oc, _ := sc.running()
		both := append(slices.Clone(ob), oc...)
		slices.Sort(both)
		ownership = fmt.Sprintf("B runs %d, C runs %d", len(ob), len(oc))
		return okB && okC && slices.Equal(both, names)
	}, func() string {
		miss := missing(names, synced(lastChurn))
		return fmt.Sprintf("tenants without a full sync since the last churn: %v; %s; their last warnings: %s",
			miss, ownership, warnings(miss, logs()...))
	}, B, C)
	t.Logf("%6s  every tenant completed a full sync after the last churn; %s", since(began), ownership)

	// The fence, as B saw it.
	fenced, _ := metric(B.addr, "personio_cdc_kafka_fenced_total")
	lost, _ := metric(B.addr, "personio_cdc_group_lost_total")
	var refused int
	for _, l := range logLines(B.p.stderr) {
		if (l.Level == "WARN" || l.Level == "ERROR") && strings.Contains(strings.ToLower(l.Msg+" "+l.Err), "fenced") {
			refused++
		}
	}
	t.Logf("instance B after it resumed: personio_cdc_kafka_fenced_total %g, personio_cdc_group_lost_total %g, %d warnings or errors naming the fence",
		fenced, lost, refused)
	// B woke up with its tenants owned elsewhere: it must have noticed, by its lease (it
	// released them) or by the fence (a write refused).
	if fenced+lost == 0 {
		t.Errorf("instance B was frozen %s past its session timeout, yet neither lost its lease (personio_cdc_group_lost_total 0) nor was fenced (personio_cdc_kafka_fenced_total 0)",
			groupSessionTimeout)
	}

	for _, in := range []*instance{B, C} {
		_ = in.p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, in := range []*instance{B, C} {
		if code := in.p.wait(t, 30*time.Second); code != 0 {
			t.Errorf("instance %s exited %d on SIGTERM, want 0; log:\n%s", in.name, code, in.p.logTail())
		}
	}

	tl, recs := auditTenants(t, topics, audits)

	// Nothing a sync of B that began before B froze was appended after B froze: the next
	// owner's fence kept the frozen instance's late writes off the topics (a read_committed
	// reader sees none).
	ids := map[string]bool{}
	for _, l := range logLines(B.p.stderr) {
		if l.SyncID != "" {
			ids[l.SyncID] = true
		}
	}
	var late []string
	before := lateWrites(func(format string, args ...any) { late = append(late, fmt.Sprintf(format, args...)) },
		recs, ids, stoppedAt, frozen)
	for _, l := range late {
		t.Error(l)
	}
	t.Logf("tenants group: %d tenants, %d churns; A killed running %d tenants, B frozen running %d; %d events of B's syncs begun before it froze are on the topics, %d appended after (want 0); audit %s; wall time %s",
		companies, churns, len(ownedA), len(ownedB), before, len(late), tl, since(began))
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }
