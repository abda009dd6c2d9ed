// Package metrics builds the process-level metrics of personio-cdc and the registry every other
// component registers with. There is no global registry: main calls NewRegistry and hands the
// result to each constructor as a prometheus.Registerer.
package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"go_version"`
}

// ReadBuildInfo fills BuildInfo from the given version (set at link time; "dev" when empty)
// and the VCS revision Go embedded in the binary, if any.
func ReadBuildInfo(version string) BuildInfo {
	if version == "" {
		version = "dev"
	}
	bi := BuildInfo{Version: version, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				bi.Revision = s.Value
			}
		}
		if version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
	}
	return bi
}

// Process holds the process-level collectors.
type Process struct {
	BuildInfo *prometheus.GaugeVec
}

// New registers the process-level collectors with reg: personio_cdc_build_info, set to 1 with
// the version, revision and Go version as labels.
func New(reg prometheus.Registerer, bi BuildInfo) *Process {
	f := promauto.With(reg)
	p := &Process{
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "personio_cdc_build_info",
			Help: "A metric with a constant '1' value labelled by version, revision and goversion of personio-cdc.",
		}, []string{"version", "revision", "goversion"}),
	}
	p.BuildInfo.WithLabelValues(bi.Version, bi.Revision, bi.GoVersion).Set(1)
	return p
}

// NewRegistry returns a registry with the Go runtime and process collectors and the
// process-level metrics of New.
func NewRegistry(bi BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	New(reg, bi)
	return reg
}
