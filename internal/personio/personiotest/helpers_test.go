package personiotest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// testNow is the fixed day the test datasets are anchored at.
var testNow = time.Date(2026, 3, 18, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixed returns options for a deterministic, unlimited simulator.
func fixed(persons int, seed int64) Options {
	return Options{Persons: persons, Seed: seed, NoRateLimit: true, Now: func() time.Time { return testNow }}
}

type apiClient struct {
	t     testing.TB
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(t testing.TB, s *Server) *apiClient {
	t.Helper()
	c := &apiClient{t: t, base: s.URL(), hc: &http.Client{Timeout: 10 * time.Second}}
	c.token = c.fetchToken()
	return c
}

func (c *apiClient) fetchToken() string {
	c.t.Helper()
	resp, body := c.postForm("/v2/auth/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
	})
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("token: status %d: %s", resp.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		c.t.Fatalf("token: %v: %s", err, body)
	}
	return tok.AccessToken
}

func (c *apiClient) postForm(path string, v url.Values) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *apiClient) do(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// get requests path (relative to the base URL, or absolute) with the bearer token.
func (c *apiClient) get(path string) (*http.Response, []byte) {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.do(req)
}

type pageOf[T any] struct {
	Data []T `json:"_data"`
	Meta struct {
		Links map[string]struct {
			Href string `json:"href"`
		} `json:"links"`
	} `json:"_meta"`
}

func (p pageOf[T]) next() string { return p.Meta.Links["next"].Href }

// getPage fetches one page and fails the test unless it is a 200.
func getPage[T any](c *apiClient, path string) pageOf[T] {
	c.t.Helper()
	resp, body := c.get(path)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	var p pageOf[T]
	if err := json.Unmarshal(body, &p); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return p
}

// listAll follows next links from path and returns every item.
func listAll[T any](c *apiClient, path string) []T {
	c.t.Helper()
	var all []T
	seen := map[string]bool{}
	for path != "" {
		if seen[path] {
			c.t.Fatalf("next link repeats %s", path)
		}
		seen[path] = true
		p := getPage[T](c, path)
		all = append(all, p.Data...)
		path = p.next()
	}
	return all
}

func personIDs(ps []personio.Person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// errorBodyOf decodes a Personio error body and fails unless it has at least one error.
func errorBodyOf(t testing.TB, body []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body: %v: %s", err, body)
	}
	if e.TraceID == "" || e.Timestamp == "" || len(e.Errors) == 0 || e.Errors[0].Title == "" {
		t.Fatalf("incomplete error body: %s", body)
	}
	return e
}
