//go:build integration

package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

// hostileSecret is the client secret of the hostile suite: distinct enough that finding it in a
// log, /status or stdout can only mean it leaked.
const hostileSecret = "hostile-secret-3c9e71d0"

// hostileCase is one case of TestIntegrationHostile.
type hostileCase struct {
	hostile personiotest.Hostile
	// persons is the size of the company; default 60. The page cases need more than one page
	// per listing chain (6 chains of up to 50 persons a page).
	persons int
	// churn changes the company after the clean sync, before the hostile one.
	churn personiotest.Churn
	// complete says whether the hostile full sync must complete (exit 0); otherwise it must end
	// partial or failed (exit 1).
	complete bool
	// expect returns what the topics must hold after the hostile sync: the truth now, changed
	// only as far as the case justifies. before is the truth the clean sync published.
	expect func(t *testing.T, before, now personiotest.Truth) personiotest.Truth
	// markerIsData: the case serves HostileMarker as a person's data, so the topics carry it.
	markerIsData bool
	// check runs further checks after the hostile sync.
	check func(t *testing.T, h *hostileEnv)
}

// hostileEnv is one case's simulator and topics, and what the hostile sync did.
type hostileEnv struct {
	*faultEnv
	before, after personiotest.Stats // simulator stats around the hostile one-shot sync
}

// TestIntegrationHostile syncs a small company once cleanly, then again while the simulator
// answers like a broken or malicious Personio (personiotest.Hostile, one case per subtest),
// and checks through the independent consumer that the topics hold the truth minus only what
// the case justifies (nothing lost, nothing invented, no delete from a listing that was not
// complete), that the sync says so in its outcome and exit code, and that neither the client
// secret nor any value the case invented appears in the service's logs, its stdout, /status
// or /metrics. Then the case is switched off and the next full sync leaves the truth.
func TestIntegrationHostile(t *testing.T) {
	for _, hc := range hostileCases() {
		t.Run(string(hc.hostile), func(t *testing.T) {
			runHostile(t, hc)
		})
	}
}

func hostileCases() []hostileCase {
	unchanged := func(_ *testing.T, _, now personiotest.Truth) personiotest.Truth { return now }
	return []hostileCase{
		{hostile: personiotest.HostileTokenRedirect, expect: unchanged, check: nothingReachedOtherOrigin},
		{hostile: personiotest.HostilePersonsRedirect, persons: 400, expect: unchanged, check: nothingReachedOtherOrigin},
		{
			hostile: personiotest.HostileIDMissing,
			churn:   personiotest.Churn{Deletions: 2, Renames: 3, SalaryChanges: 3},
			expect:  keepNewestAndDeleted,
		},
		{
			hostile: personiotest.HostileIDNull,
			churn:   personiotest.Churn{Deletions: 2, Renames: 3, SalaryChanges: 3},
			expect:  keepNewestAndDeleted,
		},
		{
			hostile: personiotest.HostileIDDuplicate,
			churn:   personiotest.Churn{Renames: 3, SalaryChanges: 3},
			expect: func(t *testing.T, before, now personiotest.Truth) personiotest.Truth {
				// A conflict: the first person is neither updated nor deleted.
				return keepPersons(t, before, now, now.Persons[0].ID)
			},
		},
		{
			hostile: personiotest.HostileDateYearZero,
			churn:   personiotest.Churn{Deletions: 2, Renames: 3, SalaryChanges: 3},
			// The invalid person's scope withholds every person delete, and with them the
			// deletes of the gone persons' employments: a person and their employments go
			// together.
			expect: keepNewestAndDeleted,
		},
		{
			hostile:  personiotest.HostileFutureUpdated,
			complete: true,
			expect:   futureNewest,
			check:    incrementalAfterFuture,
		},
		{hostile: personiotest.HostileEmptyPages, expect: unchanged, check: boundedPages},
		{hostile: personiotest.HostileSecretEcho, expect: unchanged},
		{
			hostile: personiotest.HostileHuge,
			churn:   personiotest.Churn{Hires: 3, Renames: 2, SalaryChanges: 2, Bonuses: 2},
			expect: func(t *testing.T, _, now personiotest.Truth) personiotest.Truth {
				// The person's record is too large for the topic; their employments are not.
				return withoutPerson(now, now.Persons[len(now.Persons)-1].ID)
			},
		},
		{
			hostile: personiotest.HostileAmount,
			churn:   personiotest.Churn{Renames: 2, Bonuses: 2},
			expect: func(t *testing.T, _, now personiotest.Truth) personiotest.Truth {
				now.Compensations = slices.Clone(now.Compensations[:len(now.Compensations)-1])
				return now
			},
		},
		{
			hostile:  personiotest.HostileNegativeExpiresIn,
			churn:    personiotest.Churn{Renames: 3, SalaryChanges: 2},
			complete: true,
			expect:   unchanged,
			check:    fewTokenRequests,
		},
		{
			hostile:      personiotest.HostileControlChars,
			churn:        personiotest.Churn{Hires: 2, Renames: 2},
			complete:     true,
			markerIsData: true,
			expect: func(t *testing.T, _, now personiotest.Truth) personiotest.Truth {
				now.Persons = slices.Clone(now.Persons)
				now.Persons[len(now.Persons)-1].LastName = personiotest.HostileControlName
				return now
			},
		},
	}
}

func runHostile(t *testing.T, hc hostileCase) {
	persons := 60
	if hc.persons != 0 {
		persons = hc.persons
	}
	f := newFaultEnv(t, []string{"--persons", fmt.Sprint(persons), "--seed", "1111", "--no-rate-limit", "--client-secret", hostileSecret},
		"PERSONIO_CLIENT_SECRET="+hostileSecret, "ADMIN_ADDR=127.0.0.1:0", "FULL_SYNC_INTERVAL=1h", "INCREMENTAL_SYNC_INTERVAL=30m")
	h := &hostileEnv{faultEnv: f}
	f.c.syncOK("full", 2*time.Minute)
	before := f.s.truth()
	if hc.churn != (personiotest.Churn{}) {
		f.churn(hc.churn)
	}
	setHostile(t, f.s, hc.hostile)
	t.Logf("injected: %s after a clean full sync and churn %+v", hc.hostile, hc.churn)

	// The hostile one-shot sync: its exit code and outcome, and no leak in its log or stdout.
	h.before = f.s.stats()
	p := f.c.start("full")
	code := p.wait(t, 2*time.Minute)
	h.after = f.s.stats()
	outcome := "(no result)"
	var r syncResult
	if json.Unmarshal(p.stdout.Bytes(), &r) == nil {
		outcome = r.Outcome
	}
	t.Logf("hostile sync: exit %d, outcome %s after %s, %d Personio requests; last error: %s", code, outcome,
		time.Since(p.started).Round(time.Millisecond), h.after.Total-h.before.Total, oneLine(lastError(p.log()), 400))
	switch {
	case hc.complete && (code != 0 || outcome != "complete"):
		t.Errorf("the sync exited %d with outcome %s, want 0 and complete; log:\n%s", code, outcome, p.logTail())
	case !hc.complete && code == 0:
		t.Errorf("the sync exited 0 with outcome %s, want a non-zero exit: it did not complete; log:\n%s", outcome, p.logTail())
	case !hc.complete && outcome == "complete":
		t.Errorf("the sync says complete although it exited %d", code)
	}
	noLeak(t, "the sync's log", p.log(), false)
	noLeak(t, "the sync's stdout", p.stdout.String(), false)

	// The same under the long-running service: /status and /metrics after its first sync.
	serviceLeaks(t, f)

	if hc.check != nil {
		hc.check(t, h)
	}
	// The topics, through the independent consumer: the truth minus what the case justifies,
	// nothing invented, no false delete.
	want := hc.expect(t, before, f.s.truth())
	tl, recs := auditRecords(t, f.c, f.epochs, f.deleted, want)
	t.Logf("after the hostile sync: %s", tl)
	if !hc.markerIsData {
		noMarkerOnTopics(t, recs)
	}

	// Switched off, the next full sync catches up: the topics hold the truth.
	setHostile(t, f.s)
	r = f.c.syncOK("full", 2*time.Minute)
	checkConverged(t, f.c, f.s.truth(), "full")
	t.Logf("the case switched off, a full sync published %d events and left the truth; wall time %s",
		r.published(), time.Since(f.began).Round(time.Second))
}

func setHostile(t *testing.T, s *sim, cases ...personiotest.Hostile) {
	t.Helper()
	if cases == nil {
		cases = []personiotest.Hostile{}
	}
	s.call(http.MethodPut, "/hostile", cases, nil)
}

func hostileState(t *testing.T, s *sim) personiotest.HostileState {
	t.Helper()
	var st personiotest.HostileState
	s.call(http.MethodGet, "/hostile", nil, &st)
	return st
}

// noLeak fails t when text holds the client secret or, unless markerIsData, a value a hostile
// case invented.
func noLeak(t *testing.T, where, text string, markerIsData bool) {
	t.Helper()
	if strings.Contains(text, hostileSecret) {
		t.Errorf("%s holds the client secret:\n%s", where, excerpt(text, hostileSecret))
	}
	if !markerIsData && strings.Contains(text, personiotest.HostileMarker) {
		t.Errorf("%s holds a value the hostile reply carried (%s):\n%s", where, personiotest.HostileMarker,
			excerpt(text, personiotest.HostileMarker))
	}
}

// excerpt returns the text around the first occurrence of what.
func excerpt(text, what string) string {
	i := strings.Index(text, what)
	lo, hi := max(0, i-300), min(len(text), i+len(what)+300)
	return text[lo:hi]
}

// serviceLeaks runs `personio-cdc run` until its first sync has ended, then reads /status and
// /metrics: neither, nor the service's log, may hold the secret or a value a hostile reply
// carried (names are personal data; /status carries counts and error codes).
func serviceLeaks(t *testing.T, f *faultEnv) {
	t.Helper()
	p := f.c.startArgs("run")
	defer func() {
		if !p.exited() {
			p.kill()
		}
	}()
	var addr string
	ended := false
	deadline := time.Now().Add(90 * time.Second)
	for !ended {
		if p.exited() {
			break // a fatal error: the log is checked below
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service's first sync did not end within 90 s; log:\n%s", p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
		sc := bufio.NewScanner(strings.NewReader(p.log()))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var l struct {
				Msg       string `json:"msg"`
				Component string `json:"component"`
				AdminAddr string `json:"admin_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			if l.AdminAddr != "" {
				addr = l.AdminAddr
			}
			if l.Component == "scheduler" && strings.HasPrefix(l.Msg, "sync ") {
				ended = true
			}
		}
	}
	if addr != "" && !p.exited() {
		for _, path := range []string{"/status", "/metrics"} {
			body := httpGet(t, "http://"+addr+path)
			noLeak(t, "the service's "+path, body, false)
			if path == "/status" {
				t.Logf("service /status after the hostile sync: %s", oneLine(body, 600))
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, time.Minute); code != 0 {
			t.Errorf("the service exited %d on SIGTERM, want 0", code)
		}
	} else {
		p.wait(t, time.Minute)
		t.Logf("the service stopped by itself (exit %d) before /status was read", p.code)
	}
	noLeak(t, "the service's log", p.log(), false)
	noLeak(t, "the service's stdout", p.stdout.String(), false)
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// noMarkerOnTopics checks the records the independent consumer read: none may carry a value
// a hostile reply invented.
func noMarkerOnTopics(t *testing.T, recs []integration.VerifiedRecord) {
	t.Helper()
	for _, r := range recs {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), personiotest.HostileMarker) {
			t.Errorf("%s[%d]@%d carries a value the hostile reply invented: %s", r.Topic, r.Partition, r.Offset, oneLine(string(b), 400))
		}
	}
}

// keepPersons returns now with the persons ids as they were in before (or absent when they
// were): a sync that must neither update nor delete them leaves them so.
func keepPersons(t *testing.T, before, now personiotest.Truth, ids ...string) personiotest.Truth {
	t.Helper()
	out := now
	out.Persons = nil
	out.Employments = map[string][]personio.Employment{}
	old := map[string]personio.Person{}
	for _, p := range before.Persons {
		old[p.ID] = p
	}
	for _, p := range now.Persons {
		if slices.Contains(ids, p.ID) {
			if o, ok := old[p.ID]; ok {
				out.Persons = append(out.Persons, o)
				out.Employments[p.ID] = before.Employments[p.ID]
			}
			continue
		}
		out.Persons = append(out.Persons, p)
		out.Employments[p.ID] = now.Employments[p.ID]
	}
	for _, id := range ids {
		if !slices.ContainsFunc(now.Persons, func(p personio.Person) bool { return p.ID == id }) {
			if o, ok := old[id]; ok {
				out.Persons = append(out.Persons, o)
				out.Employments[id] = before.Employments[id]
			}
		}
	}
	return out
}

// keepNewestAndDeleted is the expectation of a listing that is not complete because of the
// newest person: that person is neither updated nor deleted, and no person the churn deleted
// is deleted on the topics.
func keepNewestAndDeleted(t *testing.T, before, now personiotest.Truth) personiotest.Truth {
	t.Helper()
	ids := []string{now.Persons[len(now.Persons)-1].ID}
	for _, p := range before.Persons {
		if !slices.ContainsFunc(now.Persons, func(q personio.Person) bool { return q.ID == p.ID }) {
			ids = append(ids, p.ID)
		}
	}
	return keepPersons(t, before, now, ids...)
}

// withoutPerson returns tr without the person id in Persons; their employments stay (the
// employments topic publishes them on their own).
func withoutPerson(tr personiotest.Truth, id string) personiotest.Truth {
	tr.Persons = slices.DeleteFunc(slices.Clone(tr.Persons), func(p personio.Person) bool { return p.ID == id })
	return tr
}

// futureNewest is the truth as future-updated-at serves it: the newest person updated in 2099.
func futureNewest(_ *testing.T, _, now personiotest.Truth) personiotest.Truth {
	now.Persons = slices.Clone(now.Persons)
	now.Persons[len(now.Persons)-1].UpdatedAt = personiotest.HostileFutureUpdatedAt
	return now
}

// nothingReachedOtherOrigin: a redirect to another origin is not followed.
func nothingReachedOtherOrigin(t *testing.T, h *hostileEnv) {
	t.Helper()
	o := hostileState(t, h.s).OtherOrigin
	t.Logf("other origin %s: %d requests %v, secret seen %v, token seen %v", o.URL, o.Requests, o.Paths, o.SecretSeen, o.TokenSeen)
	if o.URL == "" {
		t.Fatal("the other origin did not start")
	}
	if o.Requests != 0 || o.SecretSeen || o.TokenSeen {
		t.Errorf("the other origin received %d requests (%v); the client secret %v, a bearer token %v",
			o.Requests, o.Paths, o.SecretSeen, o.TokenSeen)
	}
}

// boundedPages: endless empty pages end the listing after a bounded number of requests.
func boundedPages(t *testing.T, h *hostileEnv) {
	t.Helper()
	n := h.after.Endpoint("GET /v2/persons") - h.before.Endpoint("GET /v2/persons")
	t.Logf("empty pages: the sync asked for %d persons pages", n)
	if n > 1000 {
		t.Errorf("the sync asked for %d persons pages of an endless empty listing, want it bounded", n)
	}
}

// fewTokenRequests: a token announced with a negative lifetime is not fetched again for every
// API request.
func fewTokenRequests(t *testing.T, h *hostileEnv) {
	t.Helper()
	tokens := h.after.Endpoint("POST /v2/auth/token") - h.before.Endpoint("POST /v2/auth/token")
	api := h.after.Total - h.before.Total - tokens
	t.Logf("negative expires_in: %d token requests for %d API requests", tokens, api)
	if api < 20 || tokens > 3 {
		t.Errorf("%d token requests for %d API requests, want at most 3", tokens, api)
	}
}

// incrementalAfterFuture: after a person came with updated_at in 2099, renames made now are
// still found by the incremental syncs of the running service (the high-water mark lives in
// the service's memory: a one-shot incremental sync lists everything).
func incrementalAfterFuture(t *testing.T, h *hostileEnv) {
	t.Helper()
	env := h.c.env
	h.c.env = append(slices.Clone(env), "INCREMENTAL_SYNC_INTERVAL=500ms")
	p := h.c.startArgs("run")
	h.c.env = env
	defer func() {
		if !p.exited() {
			p.kill()
		}
	}()
	syncs := func(kind string) int {
		return p.schedulerSyncs(kind)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("the service did not %s within 60 s (exited %v); log:\n%s", what, p.exited(), p.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("complete its first full sync", func() bool { return syncs("full") >= 1 })
	h.churn(personiotest.Churn{Renames: 4})
	n := syncs("incremental")
	// The first incremental sync that ends now may have listed before the renames; the second
	// started after them.
	waitFor("complete two incremental syncs after the renames", func() bool { return syncs("incremental") >= n+2 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, time.Minute); code != 0 {
		t.Errorf("the service exited %d on SIGTERM, want 0", code)
	}
	t.Logf("service: %d incremental syncs complete after 4 renames (the audit that follows checks the renames)", syncs("incremental")-n)
	noLeak(t, "the service's log", p.log(), false)
}
