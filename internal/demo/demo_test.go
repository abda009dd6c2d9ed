package demo

import (
	"bytes"
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
