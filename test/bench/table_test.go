package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func TestFigureStatus(t *testing.T) {
	tests := []struct {
		f    Figure
		want string
	}{
		{Figure{Value: 1.02, Goal: "<= 1.05"}, "PASS"},
		{Figure{Value: 1.06, Goal: "<= 1.05"}, "MISS"},
		{Figure{Value: 0, Goal: "== 0"}, "PASS"},
		{Figure{Value: 1, Goal: "== 0"}, "MISS"},
		{Figure{Value: 0.5, Unit: "%", Goal: "<= 1%"}, "PASS"},
		{Figure{Value: 199999, Goal: ">= 200000"}, "MISS"},
		{Figure{Value: 3}, "info"},
		{Figure{Value: 3, Goal: "about 3"}, "info"},
	}
	for _, tt := range tests {
		if got := tt.f.Status(); got != tt.want {
			t.Errorf("%+v: status %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	f := Figure{Name: "full_sync_vs_tmin", Value: 1.0234, Goal: "<= 1.05"}
	if got, want := f.Line(), "full_sync_vs_tmin: 1.023  (goal <= 1.05) PASS"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if got := (Figure{Name: "n", Value: 12}).Line(); got != "n: 12" {
		t.Errorf("Line = %q", got)
	}
}

// TestTableRoundTrip writes a table into a document, replaces it with a second run's, and
// reads the figures back.
func TestTableRoundTrip(t *testing.T) {
	figs := []Figure{
		{Name: "a", Value: 1.5, Goal: "<= 2", Note: "x | y"},
		{Name: "b", Value: 250000, Goal: ">= 200000"},
		{Name: "c", Value: 141, Unit: " MB"},
	}
	h := Header{Command: "make bench", Date: "2026-11-27", CPU: "cpu", Cores: 2, Go: "go1.26", Scale: "small", Notes: []string{"n"}}
	var block bytes.Buffer
	if err := WriteTable(&block, h, figs); err != nil {
		t.Fatal(err)
	}
	doc := ReplaceBlock("# Benchmarks\n\nIntro.\n", block.String())
	figs[0].Value = 3
	block.Reset()
	if err := WriteTable(&block, h, figs); err != nil {
		t.Fatal(err)
	}
	doc = ReplaceBlock(doc+"\n## After\n", block.String())
	if strings.Count(doc, tableBegin) != 1 || !strings.HasPrefix(doc, "# Benchmarks\n\nIntro.\n") || !strings.Contains(doc, "## After") {
		t.Fatalf("document after two runs:\n%s", doc)
	}
	rows, err := ParseTable(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rows)
	want := "[[a 3 <= 2 MISS] [b 250000 >= 200000 PASS] [c 141 MB – info]]"
	if got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
	if _, err := ParseTable(strings.NewReader("no table")); err == nil {
		t.Error("ParseTable of a document without a table succeeded")
	}
}

// TestTmin checks T_min over two budgets: the budget that needs longer decides.
func TestTmin(t *testing.T) {
	sc := apiScale{api: budget{perSecond: 5, burst: 15}, comp: budget{perSecond: 5, burst: 5}}
	if got := sc.tmin(usage{api: 215, comp: 20}).Seconds(); got != 40 {
		t.Errorf("T_min = %v s, want 40", got)
	}
	if got := sc.tmin(usage{api: 10, comp: 55}).Seconds(); got != 10 {
		t.Errorf("T_min = %v s, want 10 (compensations decide)", got)
	}
	// 55 compensation requests of 300 ms + U[0, 200 ms), at most 2 in flight: 11 s.
	sc.latency, sc.jitter = 300*time.Millisecond, 200*time.Millisecond
	if got := sc.tmin(usage{api: 10, comp: 55, compCalls: 55}).Seconds(); got != 11 {
		t.Errorf("T_min = %v s, want 11 (two compensation requests in flight decide)", got)
	}
}

// TestSmallScaleLogic runs the diff and encode path of the pipeline figures on a small
// company without a broker.
func TestSmallScaleLogic(t *testing.T) {
	if _, _, _, notes, err := scaleOf("small"); err != nil || len(notes) == 0 {
		t.Fatalf("small scale: %v", err)
	}
	if _, _, _, _, err := scaleOf("huge"); err == nil {
		t.Error("unknown scale accepted")
	}
	testDiffEncode(t, 50)
}

// TestUsage counts a run's requests from the simulator's stats: successful ones per budget for
// T_min, every API request whatever its reply for the request counts, token requests in
// neither.
func TestUsage(t *testing.T) {
	before := personiotest.Stats{Requests: map[string]map[int]int64{
		"GET /v2/persons": {200: 10},
	}, Total: 10}
	after := personiotest.Stats{Requests: map[string]map[int]int64{
		"POST /v2/auth/token":   {200: 1},
		"GET /v2/persons":       {200: 12, 429: 1},
		"GET /v2/compensations": {200: 4, 429: 2, 503: 1},
	}, Total: 21, RateLimited: 3}
	u := usageOf(before, after)
	if u.api != 2 || u.comp != 4 || u.calls != 10 || u.compCalls != 7 || u.limited != 3 || u.total != 11 {
		t.Errorf("usage %+v, want api 2, comp 4, calls 10, compCalls 7, limited 3, total 11", u)
	}
	if got := fmt.Sprint(u.limitedBy); got != "[GET /v2/compensations: 2 GET /v2/persons: 1]" {
		t.Errorf("limitedBy %s", got)
	}
}

// TestServiceEnv: the environment the figures give the service loads as a valid
// configuration with the defaults, employment details off and the given budgets.
func TestServiceEnv(t *testing.T) {
	vars := serviceEnv(env{brokers: []string{"a:1", "b:2"}, registry: "http://r"}, "http://p", "pre",
		budget{perSecond: 20, burst: 15}, budget{perSecond: 5, burst: 5})
	cfg, err := config.Load(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if cfg.Sync.EmploymentDetails || cfg.Personio.RateLimitPerMinute != 1200 || cfg.Personio.RateBurst != 15 ||
		cfg.Personio.CompensationRateLimitPerMinute != 300 || cfg.Personio.CompensationRateBurst != 5 ||
		cfg.Kafka.TopicPrefix != "pre" || len(cfg.Kafka.Brokers) != 2 {
		t.Errorf("config %+v", cfg)
	}
	if cfg.Sync.CompensationLookbackMonths != def.Sync.CompensationLookbackMonths || cfg.Sync.PersonListChains != def.Sync.PersonListChains ||
		cfg.Sync.CompensationSubWindows != def.Sync.CompensationSubWindows || cfg.Sync.PublishBatchSize != def.Sync.PublishBatchSize {
		t.Errorf("sync settings %+v differ from the defaults %+v", cfg.Sync, def.Sync)
	}
}
