package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestReplayMatchesSimulatorTruth(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{Cycles: 3, Persons: 12, Seed: 3, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if len(sum.Cycles) != 3 {
		t.Errorf("ran %d cycles, want 3", len(sum.Cycles))
	}
	for topic, want := range sum.Truth {
		if sum.Live[topic] != want {
			t.Errorf("%s: replay has %d current entities, simulator %d", topic, sum.Live[topic], want)
		}
	}
	for _, op := range []string{"c", "u", "d", "tombstone"} {
		if sum.Events[op] == 0 {
			t.Errorf("no %s events: %v", op, sum.Events)
		}
	}
	if !strings.Contains(out.String(), "cycle 2/3 · incremental sync") {
		t.Errorf("the middle cycle should be incremental:\n%s", out.String())
	}
}

func TestDescribeChurn(t *testing.T) {
	got := describe(chr(2, 1))
	if got != "2 hires, 1 deletion" {
		t.Errorf("describe = %q", got)
	}
}

func chr(hires, deletions int) (r personiotest.ChurnResult) {
	r.Hires = make([]string, hires)
	r.Deletions = make([]string, deletions)
	return r
}

// TestRunLeavesNoGoroutines checks that everything the demo starts (simulator, Kafka,
// registry, clients) is stopped when Run returns.
func TestRunLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	if _, err := Run(t.Context(), Options{Cycles: 2, Persons: 5}); err != nil {
		t.Fatal(err)
	}
	var after int
	for range 500 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines before Run, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
}

// TestDefaultChurnShowsEmploymentOnlyChanges checks that the demo's default churn changes
// employments alone (hours, position, supervisor, office, cost centers), leaving their
// person's updated_at: a later full sync shows them as employment updates whose person has no
// event in that cycle, and the replay still matches the simulator.
func TestDefaultChurnShowsEmploymentOnlyChanges(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{Cycles: 3, Persons: 12, Seed: 3, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for topic, want := range sum.Truth {
		if sum.Live[topic] != want {
			t.Errorf("%s: replay has %d current entities, simulator %d", topic, sum.Live[topic], want)
		}
	}
	// The last cycle is a full sync: it shows what the incremental one before it could not.
	cycles := strings.Split(out.String(), "── cycle ")
	last := cycles[len(cycles)-1]
	if !strings.Contains(out.String(), "employment change") {
		t.Errorf("no cycle header names an employment change:\n%s", out.String())
	}
	var personLines []string
	var empOnly int
	for _, l := range strings.Split(last, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		if f[1] == "persons" {
			personLines = append(personLines, l)
		}
	}
	for _, l := range strings.Split(last, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "u" || f[1] != "employments" || strings.Contains(l, "termination") {
			continue
		}
		i := strings.Index(l, " for ")
		j := strings.Index(l, "  changed: ")
		if i < 0 || j < i {
			continue
		}
		name := l[i+len(" for ") : j]
		touched := false
		for _, pl := range personLines {
			touched = touched || strings.Contains(pl, name)
		}
		if !touched {
			empOnly++
		}
	}
	if empOnly == 0 {
		t.Errorf("the last full sync shows no employment update without an event of its person:\n%s", out.String())
	}
}

// TestWebhookStepPublishesByWebhook checks that the demo's last step publishes its churn by
// webhook: the JSON events after the cycles carry source.sync_kind "webhook" for the persons
// and the employments the churn changed, each readable line of that step says so, and the
// replay still matches the simulator.
func TestWebhookStepPublishesByWebhook(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{Cycles: 2, Persons: 12, Seed: 5, JSON: true, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	byKind := map[string]map[string]int{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var m struct {
			Headers map[string]string `json:"headers"`
			Value   *struct {
				Source struct {
					SyncKind string `json:"sync_kind"`
				} `json:"source"`
			} `json:"value"`
		}
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if m.Value == nil {
			continue
		}
		k := m.Value.Source.SyncKind
		if byKind[k] == nil {
			byKind[k] = map[string]int{}
		}
		byKind[k][m.Headers["entity"]]++
	}
	hooks := byKind["webhook"]
	for _, e := range []string{"persons", "employments"} {
		if hooks[e] == 0 {
			t.Errorf("no %s event with sync_kind webhook; events by kind and entity: %v", e, byKind)
		}
	}
	if hooks["compensations"] != 0 {
		t.Errorf("%d compensations events by webhook: compensations have no webhooks", hooks["compensations"])
	}
	for e, n := range hooks {
		if sum.Webhook[e] != n {
			t.Errorf("summary counts %d %s events by webhook, the output %d", sum.Webhook[e], e, n)
		}
	}
	if len(sum.WebhookLatency) != hooks["persons"]+hooks["employments"] {
		t.Errorf("%d latencies for %v", len(sum.WebhookLatency), hooks)
	}
	for topic, want := range sum.Truth {
		if sum.Live[topic] != want {
			t.Errorf("%s: replay has %d current entities, simulator %d", topic, sum.Live[topic], want)
		}
	}
}

// TestWebhookStepReadable checks the readable output of the webhook step: a header, one line
// per event published by webhook (and none in the sync cycles), and a closing count.
func TestWebhookStepReadable(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{Cycles: 2, Persons: 12, Seed: 5, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	text := out.String()
	cycles, step, ok := strings.Cut(text, "── webhooks · no sync runs")
	if !ok {
		t.Fatalf("no webhook step in the output:\n%s", text)
	}
	if strings.Contains(cycles, "by webhook") {
		t.Errorf("a sync cycle's event is marked as by webhook:\n%s", cycles)
	}
	lines := strings.Count(step, "· by webhook, on Kafka in ")
	want := sum.Webhook["persons"] + sum.Webhook["employments"]
	if lines == 0 || lines != want {
		t.Errorf("%d lines by webhook, the summary counts %d:\n%s", lines, want, step)
	}
	if !strings.Contains(step, fmt.Sprintf("%d events published by webhook", want)) {
		t.Errorf("no closing count of %d:\n%s", want, step)
	}
}
