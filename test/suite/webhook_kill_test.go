//go:build integration

package suite

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/tlstest"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// The webhook burst of TestIntegrationCrashWebhookBurst: at least burstDeliveries deliveries
// of the churn of a company of burstCompany persons (about 300 of them named).
const (
	burstDeliveries = 1000
	burstCompany    = 330
	hookToken       = "suite-webhook-token-0123456789"
	hookPath        = "/webhooks/personio"
)

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *sim) webhookStats() personiotest.WebhookStats {
	var st personiotest.WebhookStats
	s.call(http.MethodGet, "/webhooks", nil, &st)
	return st
}

// waitLog waits until p logged a JSON record with every field of want (e.g. msg and kind),
// failing t when p exits or limit passes.
func waitLog(t *testing.T, p *proc, want map[string]string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for findRecord(p, want) == nil {
		if p.exited() || time.Now().After(deadline) {
			p.kill()
			t.Fatalf("the service did not log %v within %s (exit %d); log:\n%s", want, limit, p.code, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// findRecord returns the first JSON log record of p with every field of want, or nil.
func findRecord(p *proc, want map[string]string) map[string]any {
	for line := range strings.SplitSeq(p.log(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		match := true
		for k, v := range want {
			if s, _ := rec[k].(string); s != v {
				match = false
			}
		}
		if match {
			return rec
		}
	}
	return nil
}

// TestIntegrationCrashWebhookBurst: `personio-cdc run` with its webhook receiver on (TLS, the
// subscription made by `personio-cdc webhooks register`, no incremental sync, no employment
// refresh) gets a burst of at least 1,000 deliveries about some 300 persons of a churning
// company, and is SIGKILLed in the middle of it, once targeted runs have published some: the
// persons queued or in flight in the dead process are lost from memory, and the rest of the
// burst is delivered to no one (personio-sim gives a delivery up after one attempt, so only
// Personio's events endpoint still has it). The service is started again; its catch-up reads
// the events endpoint from the watermark the topics hold (and its start-up full sync lists
// every person). Once the topics equal the truth it is stopped with SIGTERM and every entity
// topic is audited with the independent consumer: the truth exactly, duplicates only with
// the same event_id and content, versions in order, no false delete.
//
// The start-up full sync may publish a change before the catch-up's targeted run does, so
// this test proves that the service as a whole loses nothing; what the webhooks and the
// catch-up deliver on their own, before any sync, is the bench figure
// webhook_lost_after_kill (test/bench/killhook.go).
func TestIntegrationCrashWebhookBurst(t *testing.T) {
	seed := envInt(t, envSeed, 20261127) + 14
	began := time.Now()
	dir := t.TempDir()
	// The receiver serves TLS (WEBHOOK_TLS_*) and personio-sim trusts the CA (--webhook-ca-file),
	// so that the delivery URL is the https:// WEBHOOK_URL the catch-up looks the subscription up by.
	caFile, certFile, keyFile := tlstest.New(t).Write(t, dir)
	s := startSim(t, "--persons", strconv.Itoa(burstCompany), "--seed", strconv.FormatInt(seed, 10), "--no-rate-limit",
		"--latency", "20ms", "--latency-jitter", "20ms", "--webhook-attempts", "1", "--webhook-ca-file", caFile)
	addr := freeAddr(t)
	url := "https://" + addr + hookPath
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(hookToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No incremental sync and no employment refresh: between the start-up full syncs only the
	// webhook trigger publishes. EMPLOYMENT_REFRESH_PERIOD=0 makes the full syncs read every
	// employment listing.
	c := newCDC(t, s, "ADMIN_ADDR=127.0.0.1:0", "FULL_SYNC_INTERVAL=1h", "INCREMENTAL_SYNC_INTERVAL=0",
		"EMPLOYMENT_REFRESH_PERIOD=0", "WEBHOOK_ADDR="+addr, "WEBHOOK_PATH="+hookPath, "WEBHOOK_TOKEN_FILE="+tokenFile,
		"WEBHOOK_TLS_CERT_FILE="+certFile, "WEBHOOK_TLS_KEY_FILE="+keyFile, "WEBHOOK_URL="+url)
	topics := c.topics()
	epochs := []epoch{newEpoch(t, endOffsets(t, topics...), s.truth())}

	p := c.startArgs("run")
	waitLog(t, p, map[string]string{"msg": "sync complete", "component": "scheduler", "kind": "full"}, 2*time.Minute)
	reg := c.startArgs("webhooks", "register")
	if code := reg.wait(t, time.Minute); code != 0 {
		t.Fatalf("webhooks register exited %d: %s\n%s", code, reg.stdout, reg.logTail())
	}

	// The burst: churn that webhooks announce (hires, terminations, deletions, renames, email,
	// employment and cost center changes; no compensation or custom attribute change, which
	// Personio sends no webhook for), fired until burstDeliveries were.
	churnDeleted := map[string]bool{}
	named := map[string]bool{}
	churns := 0
	st0 := s.webhookStats()
	fired := func() int64 { return s.webhookStats().Fired - st0.Fired }
	burst := func(until int64) {
		for fired() < until {
			start := endOffsets(t, topics...)
			res := s.churn(personiotest.BurstChurn(churns))
			churns++
			for _, id := range res.Persons() {
				named[id] = true
			}
			for _, id := range res.Deletions {
				churnDeleted[id] = true
			}
			epochs = append(epochs, newEpoch(t, start, s.truth()))
		}
	}
	burstStart := endOffsets(t, topics...)
	burst(burstDeliveries / 2)
	// Kill once targeted runs have published part of the burst (a batch of persons with their
	// employments is more than killAfter records).
	const killAfter = 30
	deadline := time.Now().Add(time.Minute)
	for endOffsets(t, topics...).total() < burstStart.total()+killAfter {
		if p.exited() || time.Now().After(deadline) {
			p.kill()
			t.Fatalf("no targeted run published within a minute of %d deliveries (exit %d); log:\n%s", fired(), p.code, p.logTail())
		}
		time.Sleep(5 * time.Millisecond)
	}
	atKill := s.webhookStats()
	p.kill()
	publishedAtKill := endOffsets(t, topics...).total() - burstStart.total()
	if p.code != -1 {
		t.Fatalf("the service exited %d by itself before the kill; log:\n%s", p.code, p.logTail())
	}
	burst(burstDeliveries) // delivered to no one: the receiver is down
	for s.webhookStats().Pending > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	atRestart := s.webhookStats()
	t.Logf("burst: %d deliveries about %d persons in %d churns; at the kill %d delivered, %d pending, %d records of targeted runs on the topics; %d given up in all (the receiver was down)",
		atRestart.Fired-st0.Fired, len(named), churns, atKill.Delivered-st0.Delivered, atKill.Pending, publishedAtKill, atRestart.GivenUp-st0.GivenUp)
	if atRestart.GivenUp == st0.GivenUp {
		t.Fatalf("no delivery was lost with the receiver (stats %+v): the kill did not land in the burst", atRestart)
	}

	p = c.startArgs("run")
	waitLog(t, p, map[string]string{"msg": "webhook catch-up done"}, 3*time.Minute)
	catchUp := findRecord(p, map[string]string{"msg": "webhook catch-up done"})
	if n, _ := catchUp["events"].(float64); n == 0 {
		t.Errorf("the catch-up after the restart listed no event: %v", catchUp)
	}
	want, err := expected(s.truth(), windows())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		diff := ""
		for e, got := range replayHashes(t, c) {
			if d := oracle.Diff(got, want[e]); d != "" {
				diff += string(e) + ": " + d + "; "
			}
		}
		if diff == "" {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			p.kill()
			t.Fatalf("the topics still differ from the truth 3 minutes after the restart: %s; log:\n%s", diff, p.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, time.Minute); code != 0 {
		t.Errorf("the service exited %d on SIGTERM, want 0", code)
	}
	tl, recs := auditRecords(t, c, epochs, churnDeleted, s.truth())
	byKind := map[string]int{}
	for _, r := range recs {
		if r.Value == nil {
			continue
		}
		if src, ok := r.Value["source"].(map[string]any); ok {
			kind, _ := src["sync_kind"].(string)
			byKind[kind]++
		}
	}
	t.Logf("webhook crash summary: catch-up %v; events by sync kind %v; %s; wall time %s",
		catchUp, byKind, tl, time.Since(began).Round(time.Second))
	if byKind["webhook"] == 0 {
		t.Error("no event of a targeted run on the topics: the webhooks were not tested")
	}
}
