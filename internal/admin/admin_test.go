package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "personio_cdc_test_total", Help: "t"}).Add(3)
	kafkaErr := errors.New("dial tcp 127.0.0.1:9092: connection refused")
	kafkaDown := true
	s, err := New(Options{
		Addr:       "127.0.0.1:0",
		Gatherer:   reg,
		Registerer: reg,
		Ready: []Check{
			{Name: "registry", Func: func(context.Context) error { return nil }},
			{Name: "kafka", Func: func(context.Context) error {
				if kafkaDown {
					return kafkaErr
				}
				return nil
			}},
		},
		Status: func() any { return map[string]any{"tenant": "acme", "running": false} },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b)
	}
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/healthz", 200, "ok"},
		{"/metrics", 200, "personio_cdc_test_total 3"},
		{"/readyz", 503, `"error": "dial tcp 127.0.0.1:9092: connection refused"`},
		{"/status", 200, `"tenant": "acme"`},
		{"/", 200, "/metrics"},
		{"/nope", 404, ""},
	}
	for _, tt := range tests {
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.code, tt.contains)
		}
	}
	if _, body := get("/metrics"); !strings.Contains(body, `personio_cdc_admin_requests_total{code="503",handler="/readyz"} 1`) ||
		!strings.Contains(body, `personio_cdc_admin_requests_total{code="200",handler="/healthz"} 1`) {
		t.Errorf("admin requests not counted:\n%s", body)
	}
	kafkaDown = false
	code, body := get("/readyz")
	var rd struct {
		Ready  bool
		Checks []CheckResult
	}
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || !rd.Ready || len(rd.Checks) != 2 || rd.Checks[0].Name != "kafka" {
		t.Errorf("ready: %d %s (%v)", code, body, err)
	}
}

func TestStartShutdown(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

func TestNewValidates(t *testing.T) {
	for name, o := range map[string]Options{
		"no gatherer": {Addr: ":0"},
		"no addr":     {Gatherer: prometheus.NewRegistry()},
		"bad check":   {Addr: ":0", Gatherer: prometheus.NewRegistry(), Ready: []Check{{Name: "x"}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}
