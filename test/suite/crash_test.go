//go:build integration

package suite

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// Settings of the crash suite, from the environment.
const (
	envCycles = "PERSONIO_CDC_CRASH_CYCLES" // default 8 (make test); make crash sets 50
	envSeed   = "PERSONIO_CDC_CRASH_SEED"   // default 20261127
	// envSimFlags adds personio-sim flags, e.g. "--omit-compensation-ids" (composite keys).
	envSimFlags = "PERSONIO_CDC_CRASH_SIM_FLAGS"
)

func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// Kill phases: what the killed sync was doing, seen from outside.
const (
	phaseStartup    = "startup"    // no Personio request yet: state rebuild, schemas, topics
	phaseListing    = "listing"    // requests to Personio, nothing published yet
	phasePublishing = "publishing" // the topics' end offsets had grown
	phaseCompleted  = "completed"  // the sync ended before the kill was due
)

// TestIntegrationCrash runs personio-cdc sync again and again against a churning simulated
// Personio and SIGKILLs most runs at a random point: during start-up, listing, or publishing.
// A last full sync runs to completion; then the independent consumer's replay of every topic
// must be the simulator's truth exactly, with consistent duplicates and versions and no false
// delete (see audit).
func TestIntegrationCrash(t *testing.T) {
	cycles := int(envInt(t, envCycles, 8))
	seed := envInt(t, envSeed, 20261127)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5afe))
	began := time.Now()

	// Latency makes a sync of 220 persons take one to two seconds, so kills land inside it.
	s := startSim(t, append([]string{"--persons", "220", "--seed", strconv.FormatInt(seed, 10), "--no-rate-limit",
		"--latency", "20ms", "--latency-jitter", "20ms"}, strings.Fields(os.Getenv(envSimFlags))...)...)
	// A slow compensation budget separates the phases: persons are published while compensation
	// windows are still being listed, and compensations a while later.
	c := newCDC(t, s, "COMPENSATION_RATE_LIMIT_PER_MINUTE=240", "COMPENSATION_RATE_BURST=1")
	topics := c.topics()
	t.Logf("crash suite: %d cycles, seed %d, topics %s", cycles, seed, strings.Join(topics, ", "))

	epochs := []epoch{newEpoch(t, endOffsets(t, topics...), s.truth())}
	churnDeleted := map[string]bool{}
	kills := map[string]int{}
	kinds := map[string]int{}
	expected := 1500 * time.Millisecond // expected duration of a sync, learnt from the ones that finish
	var churned personiotest.Churn
	converged := 0    // completed syncs checked against the truth
	publishTurns := 0 // publish-mode kills so far

	for i := range cycles {
		if i > 0 {
			ch := personiotest.Churn{
				Hires: rng.IntN(6), Terminations: rng.IntN(3), Deletions: rng.IntN(3), Renames: rng.IntN(6),
				EmailChanges: rng.IntN(3), AttributeChanges: rng.IntN(3), SalaryChanges: rng.IntN(8), Bonuses: rng.IntN(5),
				// Employment-only changes: the person's updated_at stays, only a listing of
				// the person's employments shows them.
				EmploymentChanges: rng.IntN(4), CostCenterChanges: rng.IntN(3),
			}
			start := endOffsets(t, topics...)
			res := s.churn(ch)
			for _, id := range res.Deletions {
				churnDeleted[id] = true
			}
			epochs = append(epochs, newEpoch(t, start, s.truth()))
			churned = addChurn(churned, ch)
		}
		// Re-snapshots publish an "r" for every entity: more than one batch (500 events) of
		// compensations, so that kills land between batches too.
		kind := "full"
		switch k := rng.Float64(); {
		case i == 0:
		case k < 0.25:
			kind = "incremental"
		case k < 0.45:
			kind = "resnapshot"
		}
		kinds[kind]++
		// The modes take turns so that even a short run covers each; the delays are random.
		mode := []string{"publish", "random", "early", "publish", "listing", "finish", "publish", "random"}[i%8]
		before := endOffsets(t, topics...)
		requests := s.stats().Total
		p := c.start(kind)
		var phase string
		switch {
		case mode == "finish":
			if code := p.wait(t, 2*time.Minute); code != 0 {
				t.Fatalf("cycle %d: %s sync exited %d without a kill; result %s; log:\n%s", i, kind, code, p.stdout, p.logTail())
			}
			phase = phaseCompleted
		case mode == "listing": // kill once Personio was asked, a little later: before anything is published
			extra := time.Duration(rng.IntN(60)) * time.Millisecond
			phase = killWhen(t, p, 3*expected, func() bool { return s.stats().Total > requests }, extra,
				s, requests, topics, before)
		case mode == "early": // kill early: state rebuild, schema registration, first requests
			deadline := time.Now().Add(time.Duration(5+rng.IntN(195)) * time.Millisecond)
			phase = killWhen(t, p, time.Minute, func() bool { return !time.Now().Before(deadline) }, 0,
				s, requests, topics, before)
		case mode == "publish": // kill once it publishes (each entity's topic in turn), a little later
			extra := time.Duration(rng.IntN(40)) * time.Millisecond
			watch := topics[publishTurns%len(topics)]
			publishTurns++
			was := (offsets{watch: before[watch]}).total()
			phase = killWhen(t, p, 3*expected, func() bool { return endOffsets(t, watch).total() > was }, extra,
				s, requests, topics, before)
		default: // kill after a random share of the expected duration
			delay := time.Duration((0.05 + 0.95*rng.Float64()) * float64(expected))
			deadline := time.Now().Add(delay)
			phase = killWhen(t, p, delay+time.Second, func() bool { return !time.Now().Before(deadline) }, 0,
				s, requests, topics, before)
		}
		if phase == phaseCompleted {
			if p.code != 0 {
				t.Fatalf("cycle %d: %s sync exited %d before its kill; result %s; log:\n%s", i, kind, p.code, p.stdout, p.logTail())
			}
			expected = (expected*3 + time.Since(p.started)) / 4
			// Whatever the kills before it left behind, a sync that completed converged.
			checkConverged(t, c, s.truth(), kind)
			converged++
		}
		kills[phase]++
		if strings.HasPrefix(phase, phasePublishing) {
			kills[phasePublishing]++
		}
		t.Logf("cycle %2d: %-11s %-7s %-27s after %-6s published so far %d", i, kind, mode, phase,
			time.Since(p.started).Round(time.Millisecond), endOffsets(t, topics...).total())
	}

	// The last epoch runs on: no churn before the final syncs.
	res := c.syncOK("full", 3*time.Minute)
	t.Logf("final full sync: %d changes published", res.published())
	if res = c.syncOK("full", 3*time.Minute); res.published() != 0 {
		t.Errorf("a second full sync after convergence published %d events, want none", res.published())
	}

	tl := audit(t, c, epochs, churnDeleted, s.truth())
	killed := cycles - kills[phaseCompleted]
	published := map[string]int{} // publishing kills by the topics that had grown
	for ph, n := range kills {
		if grown, ok := strings.CutPrefix(ph, phasePublishing+": "); ok {
			published[grown] = n
		}
	}
	t.Logf("crash suite summary: %d cycles (%v), %d killed (startup %d, listing %d, publishing %d: by topics grown %v), %d ran to the end (%d checked against the truth right after); churn %+v; %s; wall time %s",
		cycles, kinds, killed, kills[phaseStartup], kills[phaseListing], kills[phasePublishing], published,
		kills[phaseCompleted], converged, churned, tl, time.Since(began).Round(time.Second))
	if cycles >= 8 && kills[phasePublishing] == 0 {
		t.Error("no kill landed while publishing: the suite did not test what it claims")
	}
	if cycles >= 8 && kills[phaseListing] == 0 {
		t.Error("no kill landed while listing: the suite did not test what it claims")
	}
}

// killWhen polls until cond holds (then waits extra and SIGKILLs p) or p exits, at most for
// limit. It returns the phase the kill landed in; a kill while publishing names the entities
// whose topics had grown ("publishing: persons", "publishing: persons+employments", …).
func killWhen(t *testing.T, p *proc, limit time.Duration, cond func() bool, extra time.Duration,
	s *sim, requests int64, topics []string, before offsets) string {
	t.Helper()
	stop := time.Now().Add(limit)
	for !p.exited() && !cond() && time.Now().Before(stop) {
		time.Sleep(5 * time.Millisecond)
	}
	if extra > 0 && !p.exited() {
		time.Sleep(extra)
	}
	if p.exited() {
		return phaseCompleted
	}
	// Look at the phase just before the kill; a sync can only move forward meanwhile.
	now := endOffsets(t, topics...)
	asked := s.stats().Total > requests
	p.kill()
	var grown []string
	for _, tp := range topics {
		if (offsets{tp: now[tp]}).total() > (offsets{tp: before[tp]}).total() {
			grown = append(grown, tp[strings.LastIndex(tp, ".")+1:])
		}
	}
	switch {
	case p.code != -1: // it ended by itself just before the kill
		return phaseCompleted
	case len(grown) > 0:
		return phasePublishing + ": " + strings.Join(grown, "+")
	case asked:
		return phaseListing
	default:
		return phaseStartup
	}
}

func addChurn(a, b personiotest.Churn) personiotest.Churn {
	a.Hires += b.Hires
	a.Terminations += b.Terminations
	a.Deletions += b.Deletions
	a.Renames += b.Renames
	a.EmailChanges += b.EmailChanges
	a.AttributeChanges += b.AttributeChanges
	a.SalaryChanges += b.SalaryChanges
	a.Bonuses += b.Bonuses
	a.EmploymentChanges += b.EmploymentChanges
	a.CostCenterChanges += b.CostCenterChanges
	return a
}

// TestIntegrationCrashIncrementalCatchesUp kills a first full sync between two batches of
// persons (500 events each) and then runs an incremental sync to completion: every person the
// killed sync did not publish must be published by that incremental sync (DESIGN.md §4: an
// event Kafka did not acknowledge is detected again on the next sync), not only by the next
// full sync. The company has enough persons for several batches, so that the kill, sent as
// soon as the first batch shows on the topic, lands before the last one however fast the
// publisher is.
func TestIntegrationCrashIncrementalCatchesUp(t *testing.T) {
	const companySize = 4000
	s := startSim(t, "--persons", strconv.Itoa(companySize), "--seed", "4242", "--no-rate-limit")
	c := newCDC(t, s)
	persons := c.topics()[0]
	p := c.start("full")
	for !p.exited() && endOffsets(t, persons).total() == 0 {
		time.Sleep(2 * time.Millisecond)
	}
	p.kill()
	published := endOffsets(t, persons).total()
	t.Logf("full sync killed after %d of %d persons were published (exit %d)", published, companySize, p.code)
	if p.code != -1 || published == 0 || published >= companySize {
		t.Fatalf("the kill did not land between two batches of persons (exit %d, %d published)", p.code, published)
	}
	r := c.syncOK("incremental", 3*time.Minute)
	var got int
	for _, e := range r.Entities {
		if e.Entity == "persons" {
			got = e.Changes["c"]
		}
	}
	t.Logf("incremental sync after the kill: %d persons created", got)
	live := map[string]bool{}
	for _, rec := range integration.RunVerifier(t, persons) {
		if rec.Value == nil || rec.Value["op"] == "d" {
			delete(live, *rec.Key)
			continue
		}
		live[*rec.Key] = true
	}
	var missing int
	for _, tp := range s.truth().Persons {
		if !live[tenant+":"+tp.ID] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("after the kill and a complete incremental sync, %d of %d persons are still not on the topic: they wait for the next full sync", missing, companySize)
	}
	// An incremental sync reads the employments of the persons it lists only: those of the
	// persons the killed sync published wait for the next full sync (or the rolling refresh).
	emps := c.prefix + "." + string(change.Employments)
	liveEmps := map[string]bool{}
	for _, rec := range integration.RunVerifier(t, emps) {
		if rec.Value == nil || rec.Value["op"] == "d" {
			delete(liveEmps, *rec.Key)
			continue
		}
		liveEmps[*rec.Key] = true
	}
	var empsMissing, empsTotal int
	tr := s.truth()
	for _, tp := range tr.Persons {
		for _, e := range tr.Employments[tp.ID] {
			empsTotal++
			if !liveEmps[change.Key(tenant, e.ID)] {
				empsMissing++
			}
		}
	}
	t.Logf("after the incremental sync: %d of %d employments not on the topic yet (the full sync below publishes them)", empsMissing, empsTotal)
	c.syncOK("full", 3*time.Minute)
	tl := audit(t, c, []epoch{newEpoch(t, offsets{}, s.truth())}, map[string]bool{}, s.truth())
	t.Logf("after a full sync: %s", tl)
}

// TestIntegrationCrashService runs the long-lived service (`personio-cdc run`: a full sync at
// start and every 4 s, incremental syncs every second) while the company churns, and SIGKILLs
// it after a random 0.5–4 s, again and again. Then the churn stops and the service runs once
// more, until a full sync started after the last churn completed, and stops on SIGTERM (exit
// 0). The topics must then be the truth, audited like the crash suite's, with no final sync
// from outside.
func TestIntegrationCrashService(t *testing.T) {
	rounds := max(4, int(envInt(t, envCycles, 8))/2)
	seed := envInt(t, envSeed, 20261127) + 1
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5e7))
	began := time.Now()
	s := startSim(t, "--persons", "150", "--seed", strconv.FormatInt(seed, 10), "--no-rate-limit",
		"--latency", "10ms", "--latency-jitter", "10ms")
	// Without the employment refresh: its rotation re-reads an employment whose change moved no
	// updated_at within EMPLOYMENT_REFRESH_PERIOD (at least 10 minutes), so the full syncs read
	// the employments here and converge within the test.
	c := newCDC(t, s, "ADMIN_ADDR=127.0.0.1:0", "FULL_SYNC_INTERVAL=4s", "INCREMENTAL_SYNC_INTERVAL=1s",
		"EMPLOYMENT_REFRESH_PERIOD=0")
	topics := c.topics()
	epochs := []epoch{newEpoch(t, endOffsets(t, topics...), s.truth())}
	churnDeleted := map[string]bool{}
	churns, syncs := 0, 0
	churn := func() {
		start := endOffsets(t, topics...)
		res := s.churn(personiotest.Churn{Hires: rng.IntN(3), Terminations: rng.IntN(2), Deletions: rng.IntN(2),
			Renames: rng.IntN(3), EmailChanges: rng.IntN(2), SalaryChanges: rng.IntN(4), Bonuses: rng.IntN(3),
			EmploymentChanges: rng.IntN(3), CostCenterChanges: rng.IntN(2)})
		for _, id := range res.Deletions {
			churnDeleted[id] = true
		}
		epochs = append(epochs, newEpoch(t, start, s.truth()))
		churns++
	}
	for round := range rounds {
		p := c.startArgs("run")
		life := time.Duration(500+rng.IntN(3500)) * time.Millisecond
		deadline := time.Now().Add(life)
		for time.Now().Before(deadline) && !p.exited() {
			time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
			churn()
		}
		if p.exited() {
			t.Fatalf("round %d: the service exited %d by itself; log:\n%s", round, p.code, p.logTail())
		}
		p.kill()
		n := strings.Count(p.log(), `"msg":"sync complete"`)
		syncs += n
		t.Logf("round %d: killed after %s, %d syncs completed, %d churns so far", round, life, n, churns)
	}

	// The churn has stopped: the service's first full sync must converge on its own.
	p := c.startArgs("run")
	deadline := time.Now().Add(2 * time.Minute)
	for p.schedulerSyncs("full") == 0 {
		if p.exited() || time.Now().After(deadline) {
			p.kill()
			t.Fatalf("the service did not complete a full sync; log:\n%s", p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkConverged(t, c, s.truth(), "full")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, time.Minute); code != 0 {
		t.Errorf("the service exited %d on SIGTERM, want 0", code)
	}
	tl := audit(t, c, epochs, churnDeleted, s.truth())
	t.Logf("service crash summary: %d rounds killed with SIGKILL, %d syncs completed in them, %d churns while it ran; %s; wall time %s",
		rounds, syncs, churns, tl, time.Since(began).Round(time.Second))
}
