//go:build integration

package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireToolsEnv, when "1" (make test sets it), turns a missing tool into a failure instead of
// a skip, as in the deploy tests.
const requireToolsEnv = "PERSONIO_CDC_REQUIRE_TOOLS"

// screenshotEnv names a file to copy the status page's screenshot to, e.g.
// PERSONIO_CDC_SCREENSHOT=$PWD/docs/status-page.png to renew the one the README shows.
const screenshotEnv = "PERSONIO_CDC_SCREENSHOT"

// TestIntegrationStatusPage runs `personio-cdc run` against the simulator and the test Kafka
// and registry, waits for the first full sync to complete, and opens the admin status page in
// headless Chromium: the page it renders shows every entity DONE with the counts /status
// holds, links to /status and /metrics, and none of the simulator's personal data.
func TestIntegrationStatusPage(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv(requireToolsEnv) == "1" {
			t.Fatalf("chromium not found (%v): install it with scripts/install-tools (Debian package chromium)", err)
		}
		t.Skipf("chromium not found; scripts/install-tools installs it (%s=1 makes this a failure)", requireToolsEnv)
	}
	s := startSim(t)
	// One full sync and nothing after it: without the employment refresh, whose batches would
	// run right after it, that sync lists the employments too and is the page's last sync of
	// every entity.
	c := newCDC(t, s, "ADMIN_ADDR=127.0.0.1:0", "FULL_SYNC_INTERVAL=2h", "INCREMENTAL_SYNC_INTERVAL=1h",
		"EMPLOYMENT_REFRESH_PERIOD=0")
	p := c.startArgs("run")
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				p.kill()
			}
		}
	})
	base := "http://" + adminAddr(t, p)

	// The first full sync completes: every entity DONE, no sync running.
	var st pageStatus
	deadline := time.Now().Add(3 * time.Minute)
	for {
		raw := getBody(t, base+"/status")
		st = pageStatus{}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("/status: %v\n%s", err, raw)
		}
		if st.done() {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no completed sync (exited %v); /status %s\nlog:\n%s", p.exited(), raw, p.logTail())
		}
		time.Sleep(250 * time.Millisecond)
	}

	dom := runChromium(t, chromium, "--dump-dom", base+"/")
	shot := filepath.Join(t.TempDir(), "status-page.png")
	runChromium(t, chromium, "--screenshot="+shot, "--window-size=1280,900", base+"/")
	// No sync runs in between (both intervals are an hour): the page and this /status agree.
	after := pageStatus{}
	if err := json.Unmarshal(getBody(t, base+"/status"), &after); err != nil {
		t.Fatal(err)
	}
	if !after.done() || after.Tenants[0].Last.SyncID != st.Tenants[0].Last.SyncID {
		t.Fatalf("a sync ran while the page was read: %+v", after.Tenants[0].Last)
	}

	for _, link := range []string{`href="/status"`, `href="/metrics"`} {
		if !strings.Contains(dom, link) {
			t.Errorf("page lacks the link %s", link)
		}
	}
	tn := after.Tenants[0]
	if !strings.Contains(dom, "Tenant "+tn.Tenant) {
		t.Errorf("page does not name tenant %q", tn.Tenant)
	}
	events := map[string]map[string]int{}
	if len(after.Activity) == 1 {
		events = after.Activity[0].EventsLast24h
	}
	published := 0
	for _, e := range tn.Entities {
		want := map[string]string{
			"phase":      "DONE",
			"extracted":  strconv.Itoa(e.Extracted),
			"in-state":   strconv.Itoa(e.StateEntities),
			"events-24h": strconv.Itoa(sum(events[e.Entity])),
		}
		for _, op := range []string{"c", "u", "d", "r"} {
			want["op-"+op] = strconv.Itoa(e.Changes[op])
			published += e.Changes[op]
		}
		for field, w := range want {
			if got := domCell(t, dom, e.Entity, field); got != w && !strings.HasPrefix(got, w+" ") {
				t.Errorf("%s %s shows %q, /status holds %s", e.Entity, field, got, w)
			}
		}
		// The only sync so far published everything of the last 24 hours.
		if sum(events[e.Entity]) != sum(e.Changes) {
			t.Errorf("%s: events_last_24h %v, the one sync published %v", e.Entity, events[e.Entity], e.Changes)
		}
	}
	if published == 0 {
		t.Errorf("the first full sync published nothing: %+v", tn)
	}

	// None of the simulator's personal data reaches the page.
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, " ")
	truth := s.truth()
	var markers, names []string // anywhere in the DOM; as words of the visible text
	for _, per := range truth.Persons {
		markers = append(markers, per.ID, per.Email)
		names = append(names, per.FirstName+" "+per.LastName, per.LastName)
	}
	for _, cp := range truth.Compensations {
		markers = append(markers, cp.ID)
	}
	if len(markers) < 10 {
		t.Fatalf("only %d personal values to look for", len(markers))
	}
	for _, m := range markers {
		if m != "" && strings.Contains(dom, m) {
			t.Errorf("the page carries the simulator's value %q", m)
		}
	}
	for _, n := range names {
		if len(n) >= 4 && regexp.MustCompile(`\b`+regexp.QuoteMeta(n)+`\b`).MatchString(text) {
			t.Errorf("the page carries the simulator's name %q", n)
		}
	}

	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 1280 || cfg.Height != 900 {
		t.Errorf("screenshot: %dx%d (%v), want a 1280x900 PNG", cfg.Width, cfg.Height, err)
	}
	if dst := os.Getenv(screenshotEnv); dst != "" {
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s (%d bytes)", dst, len(b))
	}
}

// pageStatus is the part of /status the test compares with the page.
type pageStatus struct {
	Tenants []struct {
		Tenant  string `json:"tenant"`
		Running bool   `json:"running"`
		Last    *struct {
			SyncID  string `json:"sync_id"`
			Outcome string `json:"outcome"`
		} `json:"last_result"`
		Entities []struct {
			Entity        string         `json:"entity"`
			Phase         string         `json:"phase"`
			Extracted     int            `json:"extracted"`
			Changes       map[string]int `json:"changes"`
			StateEntities int            `json:"state_entities"`
		} `json:"entities"`
	} `json:"tenants"`
	Activity []struct {
		EventsLast24h map[string]map[string]int `json:"events_last_24h"`
	} `json:"activity"`
}

func (s pageStatus) done() bool {
	if len(s.Tenants) != 1 || s.Tenants[0].Running || s.Tenants[0].Last == nil || len(s.Tenants[0].Entities) == 0 {
		return false
	}
	for _, e := range s.Tenants[0].Entities {
		if e.Phase != "DONE" {
			return false
		}
	}
	return true
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// adminAddr waits for the "personio-cdc started" log record and returns its admin_addr.
func adminAddr(t *testing.T, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, line := range strings.Split(p.log(), "\n") {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"admin_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "personio-cdc started" && rec.Addr != "" {
				return rec.Addr
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("personio-cdc run did not start its admin server; log:\n%s", p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getBody(t *testing.T, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// runChromium runs headless Chromium with args on its own profile and returns its stdout.
func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, chromium, all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// domCell returns the text of the cell data-field=field in the rows of entity.
func domCell(t *testing.T, dom, entity, field string) string {
	t.Helper()
	rows := regexp.MustCompile(`(?s)<tr data-entity="`+regexp.QuoteMeta(entity)+`"[^>]*>(.*?)</tr>`).FindAllStringSubmatch(dom, -1)
	var all string
	for _, r := range rows {
		all += r[1]
	}
	m := regexp.MustCompile(`(?s)<td[^>]* data-field="` + regexp.QuoteMeta(field) + `"[^>]*>(.*?)</td>`).FindStringSubmatch(all)
	if m == nil {
		t.Fatalf("page has no %s cell for %s:\n%s", field, entity, dom)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(strings.ReplaceAll(m[1], "<br>", " "), " ")
	return strings.Join(strings.Fields(text), " ")
}
