package personio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPI is a minimal Personio stand-in for unit tests: a token endpoint that issues
// "tok-1", "tok-2", … and an API handler chosen by the test. The API handler sees only
// requests that carry a token issued by the fake.
type fakeAPI struct {
	t          testing.TB
	tokenCalls atomic.Int64
	apiCalls   atomic.Int64
	tokenTTL   int // expires_in in seconds; 0 = 86400
	// tokenNoTTL leaves expires_in out of the token response (to the client the same as 0).
	tokenNoTTL bool
	// tokenStatus, when set, answers the n-th (1-based) token request with that status.
	tokenStatus func(n int64) int
	api         http.HandlerFunc

	mu       sync.Mutex
	tokens   map[string]bool
	requests []*http.Request
}

func newFake(t testing.TB, api http.HandlerFunc) *fakeAPI {
	return &fakeAPI{t: t, api: api, tokens: map[string]bool{}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/auth/token" {
		f.serveToken(w, r)
		return
	}
	f.apiCalls.Add(1)
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(r.Context()))
	ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok {
		problemJSON(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	f.api(w, r)
}

func (f *fakeAPI) serveToken(w http.ResponseWriter, r *http.Request) {
	n := f.tokenCalls.Add(1)
	if r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" ||
		r.FormValue("client_id") != "id" || r.FormValue("client_secret") != "s3cr3t" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad client"}`)
		return
	}
	if f.tokenStatus != nil {
		if st := f.tokenStatus(n); st != 0 && st != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"error":"e%d"}`, st)
			return
		}
	}
	tok := fmt.Sprintf("tok-%d", n)
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	ttl := f.tokenTTL
	if ttl == 0 {
		ttl = 86400
	}
	w.Header().Set("Content-Type", "application/json")
	if f.tokenNoTTL {
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","scope":"personio:persons:read"}`, tok)
		return
	}
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":%d,"token_type":"Bearer","scope":"personio:persons:read"}`, tok, ttl)
}

// revoke makes every issued token invalid.
func (f *fakeAPI) revoke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

func (f *fakeAPI) lastRequest() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}

// start serves the fake over loopback and returns a client for it.
func (f *fakeAPI) start(cfg Config) (*Client, *httptest.Server) {
	f.t.Helper()
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	return f.client(cfg), srv
}

// client builds a Client for cfg with test credentials, fast backoff and a generous budget.
func (f *fakeAPI) client(cfg Config) *Client {
	f.t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.ClientSecret = "id", "s3cr3t"
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	}
	if cfg.RateLimit.PerMinute == 0 {
		cfg.RateLimit = Rate{PerMinute: 600000, Burst: 100}
		cfg.CompensationRateLimit = Rate{PerMinute: 600000, Burst: 100}
	}
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

// handlerTransport serves requests in-process, without a network: usable inside a
// testing/synctest bubble where time is virtual.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if r.Body != nil {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func problemJSON(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"personio_trace_id": "trace-1",
		"timestamp":         "2026-01-01T00:00:00Z",
		"errors":            []map[string]string{{"title": title, "detail": title + " detail"}},
	})
}

// writePage writes a list page with the given items and next href ("" = last page).
func writePage(w http.ResponseWriter, items any, next string) {
	links := map[string]any{"self": map[string]string{"href": "/self"}}
	if next != "" {
		links["next"] = map[string]string{"href": next}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"_data": items, "_meta": map[string]any{"links": links}})
}

func persons(ids ...string) []map[string]string {
	out := make([]map[string]string, len(ids))
	for i, id := range ids {
		out[i] = map[string]string{"id": id}
	}
	return out
}

// collectPersons lists persons and returns their ids in order.
func collectPersons(t testing.TB, c *Client, f PersonFilter) ([]string, error) {
	t.Helper()
	var ids []string
	err := c.ListPersons(t.Context(), f, func(ps []Person) error {
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return nil
	})
	return ids, err
}
