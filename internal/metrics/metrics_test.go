package metrics

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegistry(t *testing.T) {
	bi := BuildInfo{Version: "1.2.3", Revision: "abc", GoVersion: "go1.26.8"}
	reg := NewRegistry(bi)
	want := `
# HELP personio_cdc_build_info A metric with a constant '1' value labelled by version, revision and goversion of personio-cdc.
# TYPE personio_cdc_build_info gauge
personio_cdc_build_info{goversion="go1.26.8",revision="abc",version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "personio_cdc_build_info"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["go_goroutines"] {
		t.Error("no Go runtime collector")
	}
	if runtime.GOOS == "linux" && !names["process_start_time_seconds"] {
		t.Error("no process collector")
	}
}

func TestReadBuildInfo(t *testing.T) {
	if got := ReadBuildInfo("").Version; got == "" {
		t.Error("empty version")
	}
	if got := ReadBuildInfo("v9").Version; got != "v9" {
		t.Errorf("version %q, want v9", got)
	}
	if !strings.HasPrefix(ReadBuildInfo("x").GoVersion, "go") {
		t.Error("go version missing")
	}
}
