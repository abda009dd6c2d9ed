//go:build integration

package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// The multi-tenant harness: one personio-sim serving many companies (--companies), a
// TENANTS_FILE naming one tenant per company, and the crash audit run per tenant on the shared
// topics (keys "<tenant>:<id>").

// tenantName is the name of the tenant of company number i (1-based): t01, t02, …
func tenantName(i int) string { return fmt.Sprintf("t%02d", i) }

// writeTenantsFile writes a TENANTS_FILE of n tenants, tenant tenantName(i) being company
// personiotest.CompanyID(i) of a simulator started with --credentials-dir credDir (its client
// secret read from credDir/<company>.secret). defaults are the file's `defaults:` (YAML scalars,
// e.g. "full_sync_interval": "10s"). It returns the file's path and the tenants' names.
func writeTenantsFile(t testing.TB, dir, credDir string, n int, defaults map[string]string) (string, []string) {
	t.Helper()
	var b strings.Builder
	if len(defaults) > 0 {
		b.WriteString("defaults:\n")
		for _, k := range slices.Sorted(maps.Keys(defaults)) {
			fmt.Fprintf(&b, "  %s: %s\n", k, defaults[k])
		}
	}
	b.WriteString("tenants:\n")
	names := make([]string, n)
	for i := 1; i <= n; i++ {
		names[i-1] = tenantName(i)
		co := personiotest.CompanyID(i)
		secret := filepath.Join(credDir, co+".secret")
		if _, err := os.Stat(secret); err != nil {
			t.Fatalf("company %s has no credential file: %v", co, err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    client_id: %s\n    client_secret_file: %s\n", names[i-1], co, secret)
	}
	path := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, names
}

// tenantAudit is what the audit of one tenant of shared topics needs: its company and the
// epochs and deletes of that company's churn.
type tenantAudit struct {
	name    string
	co      *sim // the company's view of the simulator (sim.company)
	epochs  []epoch
	deleted map[string]bool // person ids the churn deleted
}

func newTenantAudit(t testing.TB, name string, co *sim, start offsets) *tenantAudit {
	t.Helper()
	return &tenantAudit{name: name, co: co, epochs: []epoch{newTenantEpoch(t, name, start, co.truth())},
		deleted: map[string]bool{}}
}

// churn applies c to the tenant's company; its new epoch starts at start, end offsets taken
// before the churn.
func (a *tenantAudit) churn(t testing.TB, start offsets, c personiotest.Churn) {
	t.Helper()
	res := a.co.churn(c)
	for _, id := range res.Deletions {
		a.deleted[id] = true
	}
	a.epochs = append(a.epochs, newTenantEpoch(t, a.name, start, a.co.truth()))
}

// auditTenants is the crash audit (audit) of every tenant on shared topics (one per entity,
// change.Entities order): each topic is read once by the independent consumer
// (read_committed) and split by key prefix; a key of no tenant in tenants fails; each tenant's
// records pass checkTopic against its own epochs and churn, its live records equal its
// company's truth field by field, and the service's own replay has every record's content hash
// equal to the truth's. It returns the counts over every tenant and the records read.
func auditTenants(t *testing.T, topics []string, tenants []*tenantAudit) (tally, []integration.VerifiedRecord) {
	t.Helper()
	byName := map[string]*tenantAudit{}
	final := map[string]personiotest.Truth{}
	for _, a := range tenants {
		byName[a.name] = a
		final[a.name] = a.co.truth()
	}
	var total tally
	var all []integration.VerifiedRecord
	for i, entity := range change.Entities() {
		recs := integration.RunVerifier(t, topics[i])
		all = append(all, recs...)
		split := splitTenants(t.Errorf, recs, func(name string) bool { return byName[name] != nil })
		for _, a := range tenants {
			errorf := func(format string, args ...any) { t.Errorf("tenant "+a.name+": "+format, args...) }
			tl, live := checkTopic(errorf, topics[i], a.name, entity, split[a.name], a.epochs, a.deleted)
			tl.Keys = len(live)
			total.add(tl)
			switch entity {
			case change.Persons:
				integration.ComparePersons(t, a.name, live, final[a.name])
			case change.Compensations:
				integration.CompareCompensations(t, a.name, live, final[a.name], windows())
			case change.Employments:
				integration.CompareEmployments(t, a.name, live, final[a.name])
			default:
				t.Errorf("the audit has no field comparison with the truth for %s: add one", entity)
			}
		}
	}
	hashes := replayTopics(t, topics)
	for _, a := range tenants {
		want, err := expectedFor(final[a.name], a.name, windows())
		if err != nil {
			t.Fatal(err)
		}
		for e, got := range hashes {
			mine := map[string]change.Hash{}
			for k, h := range got {
				if strings.HasPrefix(k, a.name+":") {
					mine[k] = h
				}
			}
			if d := oracle.Diff(mine, want[e]); d != "" {
				t.Errorf("tenant %s: %s content hashes differ from the truth: %s", a.name, e, d)
			}
		}
	}
	return total, all
}

// splitTenants splits a shared topic's records by the tenant their key names ("<tenant>:<id>"),
// reporting through errorf every record whose key names no tenant known: an invented event.
func splitTenants(errorf func(string, ...any), recs []integration.VerifiedRecord, known func(string) bool) map[string][]integration.VerifiedRecord {
	split := map[string][]integration.VerifiedRecord{}
	foreign := 0
	for _, r := range recs {
		name := ""
		if r.Key != nil {
			name, _, _ = strings.Cut(*r.Key, ":")
		}
		if !known(name) {
			if foreign++; foreign <= 5 {
				key := "(none)"
				if r.Key != nil {
					key = *r.Key
				}
				errorf("%s[%d]@%d: key %s belongs to no configured tenant: an invented event", r.Topic, r.Partition, r.Offset, key)
			}
			continue
		}
		split[name] = append(split[name], r)
	}
	return split
}

// lateWrites checks the fence of an instance that was frozen at frozenAt: no record of a sync
// it began before (ids: the sync ids of its log; the start from the id) may sit at or past the
// end offsets frozen taken just after it froze. It reports each such record through errorf
// and returns how many records of those syncs there are in all.
func lateWrites(errorf func(string, ...any), recs []integration.VerifiedRecord, ids map[string]bool, frozenAt time.Time, frozen offsets) int {
	n, late := 0, 0
	for _, r := range recs {
		if r.Value == nil {
			continue
		}
		id, at, ok := syncStart(r)
		if !ok {
			errorf("%s[%d]@%d: sync_id %q does not begin with its start time", r.Topic, r.Partition, r.Offset, id)
			continue
		}
		if !ids[id] || !at.Before(frozenAt) {
			continue
		}
		n++
		if end, ok := frozen[r.Topic][r.Partition]; !ok || r.Offset >= end {
			if late++; late <= 10 {
				errorf("%s[%d]@%d: sync %s, which the frozen instance began before it froze, wrote after it froze (end offset then %d): the fence did not hold",
					r.Topic, r.Partition, r.Offset, id, end)
			}
		}
	}
	return n
}

// freePort returns a loopback address with a port free a moment ago, for an admin endpoint
// the test must reach.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// instanceStatus is the part of a multi-tenant instance's /status the tests read.
type instanceStatus struct {
	Tenants []struct {
		Tenant  string `json:"tenant"`
		Running bool   `json:"running"`
	} `json:"tenants"`
	TenantStates []struct {
		Tenant string `json:"tenant"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"tenant_states"`
}

// running returns the tenants the instance runs (state running) and whether a sync of one of
// them is in progress.
func (s instanceStatus) running() (owned []string, syncing bool) {
	for _, st := range s.TenantStates {
		if st.State == "running" {
			owned = append(owned, st.Tenant)
		}
	}
	for _, tn := range s.Tenants {
		syncing = syncing || tn.Running
	}
	return owned, syncing
}

// status reads GET /status of the admin endpoint at addr; ok is false when it does not answer.
func status(addr string) (instanceStatus, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return instanceStatus{}, false
	}
	defer resp.Body.Close()
	var st instanceStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return instanceStatus{}, false
	}
	return st, true
}

// metric returns the sum of every sample of the metric name in the Prometheus text exposition
// at addr/metrics (0 when absent), and whether the endpoint answered.
func metric(addr, name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
			sum += v
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return sum, true
}

// logLine is a JSON log record of personio-cdc, the fields the tests read.
type logLine struct {
	Time     time.Time `json:"time"`
	Level    string    `json:"level"`
	Msg      string    `json:"msg"`
	Tenant   string    `json:"tenant"`
	Kind     string    `json:"kind"`
	SyncID   string    `json:"sync_id"`
	Duration int64     `json:"duration"` // nanoseconds (slog's JSON of a time.Duration)
	Err      string    `json:"err"`
}

// logLines parses every JSON record of a log file; other lines are skipped.
func logLines(path string) []logLine {
	b, _ := os.ReadFile(path)
	var out []logLine
	for line := range strings.SplitSeq(string(b), "\n") {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// fullSyncsSince returns, for each tenant, whether a full sync that started at or after since
// completed, by the "sync complete" records of the given logs (start = end - duration).
func fullSyncsSince(since time.Time, logs ...string) map[string]bool {
	done := map[string]bool{}
	for _, path := range logs {
		for _, l := range logLines(path) {
			if l.Msg == "sync complete" && l.Kind == "full" && l.Tenant != "" &&
				!l.Time.Add(-time.Duration(l.Duration)).Before(since) {
				done[l.Tenant] = true
			}
		}
	}
	return done
}

// missing returns the names not in done.
func missing(names []string, done map[string]bool) []string {
	var out []string
	for _, n := range names {
		if !done[n] {
			out = append(out, n)
		}
	}
	return out
}

// syncStart is when the sync that published a record started: its source.sync_id begins with
// the start time (pipeline/sync newSyncID).
func syncStart(r integration.VerifiedRecord) (string, time.Time, bool) {
	src, _ := r.Value["source"].(map[string]any)
	id, _ := src["sync_id"].(string)
	ts, _, ok := strings.Cut(id, "-")
	if !ok {
		return id, time.Time{}, false
	}
	at, err := time.Parse("20060102T150405.000Z", ts)
	return id, at, err == nil
}
