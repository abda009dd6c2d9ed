package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawGet performs an authenticated GET on a connection of its own and returns the transport
// error, if any, instead of failing.
func rawGet(t *testing.T, c *apiClient, path string) (*http.Response, []byte, error) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestFaults(t *testing.T) {
	s := NewTestServer(t, fixed(30, 1))
	c := newAPIClient(t, s)

	for _, tc := range []struct {
		name   string
		faults Faults
		status int
	}{
		{"500", Faults{P500: 1}, 500},
		{"502", Faults{P502: 1}, 502},
		{"503", Faults{P503: 1}, 503},
		{"504", Faults{P504: 1}, 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetFaults(tc.faults)
			resp, body, err := rawGet(t, c, "/v2/persons")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			errorBodyOf(t, body)
		})
	}

	t.Run("reset", func(t *testing.T) {
		s.SetFaults(Faults{Reset: 1})
		if _, _, err := rawGet(t, c, "/v2/persons"); err == nil {
			t.Fatal("no error from a reset connection")
		}
	})
	t.Run("truncate", func(t *testing.T) {
		s.SetFaults(Faults{Truncate: 1})
		resp, _, err := rawGet(t, c, "/v2/persons")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want unexpected EOF", err)
		}
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("truncated reply should start as a 200: %v", resp)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		s.SetFaults(Faults{Malformed: 1})
		resp, body, err := rawGet(t, c, "/v2/persons")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("malformed reply: %v %v", resp, err)
		}
		var v any
		if json.Unmarshal(body, &v) == nil {
			t.Fatalf("body is valid JSON: %s", body)
		}
	})
	t.Run("latency", func(t *testing.T) {
		s.SetFaults(Faults{Latency: 30 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
		start := time.Now()
		if _, _, err := rawGet(t, c, "/v2/persons"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("reply after %s, want at least the 30ms latency", d)
		}
	})
	t.Run("admin and token endpoints are not faulted", func(t *testing.T) {
		s.SetFaults(Faults{P500: 1})
		defer s.SetFaults(Faults{})
		if resp, body := c.get("/admin/stats"); resp.StatusCode != 200 {
			t.Fatalf("admin stats: %d %s", resp.StatusCode, body)
		}
		_ = c.fetchToken() // fails the test unless 200
		s.SetFaults(Faults{P500: 1, TokenFaults: true})
		resp, _ := c.postForm("/v2/auth/token", nil)
		if resp.StatusCode != 500 {
			t.Fatalf("token endpoint with TokenFaults: status %d, want 500", resp.StatusCode)
		}
	})
	s.SetFaults(Faults{})
	st := s.Stats()
	for _, kind := range []string{"500", "502", "503", "504", "reset", "truncate", "malformed"} {
		if st.Faults[kind] == 0 {
			t.Errorf("Stats.Faults[%q] = 0", kind)
		}
	}
	if st.Requests["GET /v2/persons"][0] == 0 {
		t.Error("reset request not counted under status 0")
	}
}

func TestFaultProbabilities(t *testing.T) {
	s := NewTestServer(t, fixed(5, 1))
	c := newAPIClient(t, s)
	s.SetFaults(Faults{P503: 0.3})
	var n503 int
	for range 400 {
		resp, _ := c.get("/v2/persons?limit=1")
		if resp.StatusCode == 503 {
			n503++
		}
	}
	// Seeded draws: the count is stable, and must be near 30%.
	if n503 < 80 || n503 > 160 {
		t.Fatalf("%d of 400 requests failed with P503=0.3", n503)
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := NewTestServer(t, fixed(40, 2))
	c := newAPIClient(t, s)

	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/admin/faults",
		strings.NewReader(`{"p502":0.25,"latency":"15ms","latency_jitter":"5ms","token_ttl":"2m"}`))
	resp, body := c.do(req)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /admin/faults: %d %s", resp.StatusCode, body)
	}
	want := Faults{P502: 0.25, Latency: 15 * time.Millisecond, LatencyJitter: 5 * time.Millisecond, TokenTTL: 2 * time.Minute}
	if got := s.Faults(); got != want {
		t.Fatalf("faults = %+v, want %+v", got, want)
	}
	for _, bad := range []string{`{"p500":2}`, `{"latency":"soon"}`, `{"p999":0.1}`, `not json`} {
		req, _ := http.NewRequest(http.MethodPut, s.URL()+"/admin/faults", strings.NewReader(bad))
		if resp, _ := c.do(req); resp.StatusCode != 400 {
			t.Errorf("PUT /admin/faults %s: status %d, want 400", bad, resp.StatusCode)
		}
	}
	if got := s.Faults(); got != want {
		t.Fatalf("rejected faults changed the state: %+v", got)
	}
	s.SetFaults(Faults{})

	req, _ = http.NewRequest(http.MethodPost, s.URL()+"/admin/churn", strings.NewReader(`{"hires":2,"deletions":1}`))
	resp, body = c.do(req)
	var res ChurnResult
	if err := json.Unmarshal(body, &res); err != nil || resp.StatusCode != 200 || len(res.Hires) != 2 || len(res.Deletions) != 1 {
		t.Fatalf("POST /admin/churn: %d %s %v", resp.StatusCode, body, err)
	}

	resp, body = c.get("/admin/truth")
	var tr Truth
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /admin/truth: %d %v", resp.StatusCode, err)
	}
	if len(tr.Persons) != 41 || len(tr.Compensations) == 0 || len(tr.Employments) != 41 {
		t.Fatalf("truth has %d persons, %d employment lists, %d compensations", len(tr.Persons), len(tr.Employments), len(tr.Compensations))
	}
	if b, _ := json.Marshal(s.Truth()); !bytes.Equal(bytes.TrimSpace(body), b) {
		t.Fatal("GET /admin/truth differs from Truth()")
	}

	_, _ = c.get("/v2/persons")
	resp, body = c.get("/admin/stats")
	var st Stats
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /admin/stats: %d %v", resp.StatusCode, err)
	}
	if st.Requests["GET /v2/persons"][200] != 1 || st.Total != 2 { // token + persons
		t.Fatalf("stats = %+v", st)
	}
}
