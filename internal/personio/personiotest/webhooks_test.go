package personiotest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// send makes an authenticated request with a JSON body.
func (c *apiClient) send(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

// receiver records the deliveries it gets; fail makes it answer 503 to that many first.
type receiver struct {
	mu     sync.Mutex
	got    []WebhookEvent
	auth   []string
	fail   atomic.Int64
	status int // answer after the failures; 0 means 200
	srv    *httptest.Server
	seen   chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{seen: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rc.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			rc.seen <- struct{}{}
			return
		}
		var ev WebhookEvent
		if err := json.Unmarshal(b, &ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("delivery: content type %q, body %s: %v", r.Header.Get("Content-Type"), b, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, ev)
		rc.auth = append(rc.auth, r.Header.Get("Authorization"))
		st := rc.status
		rc.mu.Unlock()
		if st != 0 {
			w.WriteHeader(st)
		}
		rc.seen <- struct{}{}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// waitFor waits until the server's delivery queue is empty; no timing is asserted.
func waitIdle(t *testing.T, s *Server) WebhookStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.WebhookStats()
		if st.Pending == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rc *receiver) events() []WebhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func hookOptions() Options {
	o := fixed(50, 3)
	o.Webhooks = WebhookOptions{Backoff: time.Millisecond, Attempts: 3, CompanyID: "4711"}
	return o
}

func createHook(t *testing.T, c *apiClient, body map[string]any) map[string]any {
	t.Helper()
	resp, b := c.send(http.MethodPost, "/v2/webhooks", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var w map[string]any
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookManagement(t *testing.T) {
	s := NewTestServer(t, hookOptions())
	c := newAPIClient(t, s)
	w := createHook(t, c, map[string]any{
		"url": "https://hooks.example.com/personio", "description": "cdc", "auth_type": "TOKEN",
		"token": "Bearer s3cret", "enabled_events": []string{personio.EventPersonUpdated},
	})
	if w["status"] != "DISABLED" {
		t.Errorf("status defaults to DISABLED, got %v", w["status"])
	}
	if _, ok := w["token"]; ok {
		t.Errorf("the token is served back: %v", w)
	}
	id := w["id"].(string)

	resp, b := c.get("/v2/webhooks")
	var list pageOf[map[string]any]
	if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != 200 || len(list.Data) != 1 || list.Data[0]["id"] != id {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.send(http.MethodPatch, "/v2/webhooks/"+id, map[string]any{"status": "ENABLED"}); resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"ENABLED"`)) {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.get("/v2/webhooks/" + id); resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"ENABLED"`)) {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	if resp, b := c.send(http.MethodPost, "/v2/webhooks", map[string]any{
		"url": "https://hooks.example.com/personio", "description": "again", "token": "x", "enabled_events": []string{personio.EventPersonUpdated},
	}); resp.StatusCode != http.StatusConflict {
		t.Errorf("same url again: %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.send(http.MethodDelete, "/v2/webhooks/"+id, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/v2/webhooks/" + id); resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %d", resp.StatusCode)
	}
}

func TestWebhookCreateRefusals(t *testing.T) {
	s := NewTestServer(t, hookOptions())
	c := newAPIClient(t, s)
	ok := map[string]any{"url": "https://h.example.com/x", "description": "d", "token": "t", "enabled_events": []string{personio.EventPersonCreated}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
	}{
		"no url":             {with("url", nil), 400},
		"no events":          {with("enabled_events", []string{}), 422},
		"unknown event":      {with("enabled_events", []string{"person.exploded"}), 422},
		"plain http":         {with("url", "http://h.example.com/x"), 422},
		"token auth no tok":  {with("token", nil), 422},
		"bad status":         {with("status", "ON"), 422},
		"custom, 4 headers":  {with("auth_type", "CUSTOM"), 422},
		"unknown field":      {with("secret", "x"), 400},
		"custom host header": {map[string]any{"url": "https://h.example.com/y", "description": "d", "auth_type": "CUSTOM", "custom_headers": map[string]string{"Host": "x"}, "enabled_events": []string{personio.EventPersonCreated}}, 422},
	} {
		t.Run(name, func(t *testing.T) {
			if resp, b := c.send(http.MethodPost, "/v2/webhooks", tc.body); resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
		})
	}
	// Without a token nothing is managed.
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/webhooks", nil)
	if resp, _ := c.do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
}

// Churn fires real-shaped events to the ENABLED webhooks that enabled them, with the token
// verbatim in Authorization; a disabled webhook gets nothing.
func TestWebhookChurnDelivers(t *testing.T) {
	s := NewTestServer(t, hookOptions())
	c := newAPIClient(t, s)
	rc, off := newReceiver(t), newReceiver(t)
	createHook(t, c, map[string]any{"url": rc.srv.URL + "/hook", "description": "cdc", "status": "ENABLED",
		"token": "Bearer s3cret", "enabled_events": webhookEventNames[:9]})
	createHook(t, c, map[string]any{"url": off.srv.URL + "/hook", "description": "off", "token": "x",
		"enabled_events": webhookEventNames[:9]})

	before := s.Truth()
	res := s.Churn(Churn{Hires: 1, Terminations: 1, Deletions: 1, Renames: 1, SalaryChanges: 2,
		EmploymentChanges: 1, CostCenterChanges: 1})
	waitIdle(t, s)

	got := map[string][]string{} // event name -> person ids
	for i, ev := range rc.events() {
		if ev.CompanyID != "4711" || ev.OccurredAt == "" {
			t.Errorf("envelope: %+v", ev)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.OccurredAt); err != nil {
			t.Errorf("occurred_at %q: %v", ev.OccurredAt, err)
		}
		if rc.auth[i] != "Bearer s3cret" {
			t.Errorf("Authorization %q, want the token verbatim", rc.auth[i])
		}
		var p struct {
			ID     string `json:"id"`
			Person struct {
				ID string `json:"id"`
			} `json:"person"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.ID == "" {
			t.Errorf("payload %s: %v", ev.Payload, err)
		}
		pid := p.ID
		if p.Person.ID != "" {
			pid = p.Person.ID
		}
		got[ev.EventName] = append(got[ev.EventName], pid)
	}
	want := map[string][]string{
		personio.EventPersonCreated:        res.Hires,
		personio.EventEmploymentCreated:    res.Hires,
		personio.EventEmploymentUpdated:    append(slices.Clone(res.Terminations), res.EmploymentChanges...),
		personio.EventEmploymentTerminated: res.Terminations,
		personio.EventPersonDeleted:        res.Deletions,
		personio.EventPersonUpdated:        res.Renames, // not for employment-only changes
		// Cost center changes have their own event.
		personio.EventEmploymentUpdatedCostCenters: res.CostCenterChanges,
	}
	if len(res.EmploymentChanges) != 1 || len(res.CostCenterChanges) != 1 {
		t.Fatalf("churn made %d employment and %d cost center changes, want 1 and 1", len(res.EmploymentChanges), len(res.CostCenterChanges))
	}
	delEmps := len(before.Employments[res.Deletions[0]])
	if n := len(got[personio.EventEmploymentDeleted]); n != delEmps || n == 0 {
		t.Errorf("employment.deleted for %d employments, want %d (all of the deleted person's)", n, delEmps)
	}
	// Deliveries run concurrently, so their order is not the churn's: compare the sets.
	for name, ids := range want {
		ids = slices.Sorted(slices.Values(ids))
		if !slices.Equal(slices.Sorted(slices.Values(got[name])), ids) {
			t.Errorf("%s for %v, want %v", name, got[name], ids)
		}
	}
	if len(off.events()) != 0 {
		t.Errorf("a DISABLED webhook got %d deliveries", len(off.events()))
	}
}

// A failed delivery (503) is retried with backoff until it is acknowledged; a refused one
// (4xx) is not retried; both stay in the events listing.
func TestWebhookRetries(t *testing.T) {
	s := NewTestServer(t, hookOptions())
	c := newAPIClient(t, s)
	rc := newReceiver(t)
	rc.fail.Store(2)
	createHook(t, c, map[string]any{"url": rc.srv.URL, "description": "cdc", "status": "ENABLED",
		"auth_type": "NONE", "enabled_events": []string{personio.EventPersonUpdated}})
	s.FireWebhookEvent(personio.EventPersonUpdated, "1000017", "")
	st := waitIdle(t, s)
	if len(rc.events()) != 1 || st.Attempts != 3 || st.Retried != 2 || st.Delivered != 1 {
		t.Fatalf("after two 503s: %d deliveries, stats %+v", len(rc.events()), st)
	}
	if rc.auth[0] != "" {
		t.Errorf("auth_type NONE sent Authorization %q", rc.auth[0])
	}

	rc.mu.Lock()
	rc.status = http.StatusBadRequest
	rc.mu.Unlock()
	s.FireWebhookEvent(personio.EventPersonUpdated, "1000018", "")
	st = waitIdle(t, s)
	if st.Attempts != 4 || st.GivenUp != 1 {
		t.Errorf("a 400 was retried: %+v", st)
	}

	rc.fail.Store(100)
	s.FireWebhookEvent(personio.EventPersonUpdated, "1000019", "")
	st = waitIdle(t, s)
	if st.Attempts != 7 || st.GivenUp != 2 {
		t.Errorf("attempts are bounded by Attempts (3): %+v", st)
	}
}

// GET /v2/webhooks/{id}/events lists a webhook's events, oldest first, filtered by
// event_name and occurred_at, paged by cursor, and forgets them after 30 days.
func TestWebhookEventsEndpoint(t *testing.T) {
	clk := newClock(testNow)
	o := hookOptions()
	o.Now = clk.Now
	o.TokenTTL = 100 * 24 * time.Hour // the clock moves 35 days
	s := NewTestServer(t, o)
	c := newAPIClient(t, s)
	rc := newReceiver(t)
	w := createHook(t, c, map[string]any{"url": rc.srv.URL, "description": "cdc", "status": "ENABLED",
		"token": "t", "enabled_events": []string{personio.EventPersonUpdated, personio.EventEmploymentUpdated}})
	id := w["id"].(string)

	s.FireWebhookEvent(personio.EventPersonUpdated, "1", "")
	clk.Advance(10 * 24 * time.Hour)
	for i := range 5 {
		s.FireWebhookEvent(personio.EventEmploymentUpdated, "2", "e"+string(rune('a'+i)))
	}
	s.FireWebhookEvent(personio.EventPersonCreated, "3", "") // not enabled: not recorded
	waitIdle(t, s)

	var all []map[string]any
	next := "/v2/webhooks/" + id + "/events?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		resp, b := c.get(next)
		var p pageOf[map[string]any]
		if err := json.Unmarshal(b, &p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("events: %d %s", resp.StatusCode, b)
		}
		all = append(all, p.Data...)
		next = p.Meta.Links["next"].Href
	}
	if len(all) != 6 || all[0]["event_name"] != personio.EventPersonUpdated || all[0]["id"] == "" {
		t.Fatalf("events: %v", all)
	}

	count := func(q url.Values) int {
		resp, b := c.get("/v2/webhooks/" + id + "/events?" + q.Encode())
		var p pageOf[map[string]any]
		if err := json.Unmarshal(b, &p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("events?%s: %d %s", q.Encode(), resp.StatusCode, b)
		}
		return len(p.Data)
	}
	if n := count(url.Values{"event_name": {personio.EventPersonUpdated}}); n != 1 {
		t.Errorf("event_name filter: %d", n)
	}
	if n := count(url.Values{"occurred_at.gt": {testNow.Add(time.Hour).Format(time.RFC3339)}}); n != 5 {
		t.Errorf("occurred_at.gt filter: %d", n)
	}
	if n := count(url.Values{"occurred_at.lt": {testNow.Add(time.Hour).Format(time.RFC3339)}}); n != 1 {
		t.Errorf("occurred_at.lt filter: %d", n)
	}
	if resp, _ := c.get("/v2/webhooks/" + id + "/events?occurred_at.gt=yesterday"); resp.StatusCode != 400 {
		t.Errorf("bad occurred_at: %d", resp.StatusCode)
	}

	clk.Advance(25 * 24 * time.Hour) // the first event is 35 days old, the others 25
	if n := count(url.Values{}); n != 5 {
		t.Errorf("after 35 days: %d events, want the 5 younger than 30 days", n)
	}
	if resp, _ := c.get("/v2/webhooks/nope/events"); resp.StatusCode != 404 {
		t.Errorf("unknown webhook: %d", resp.StatusCode)
	}
}

// WebhookOptions.RootCAs: deliveries to a receiver serving TLS with its own certificate
// authority fail without it (the system's roots do not know it) and arrive with it; GET
// /admin/webhooks serves the counters.
func TestWebhookRootCAs(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for _, trust := range []bool{false, true} {
		o := hookOptions()
		if trust {
			o.Webhooks.RootCAs = pool
		}
		s := NewTestServer(t, o)
		createHook(t, newAPIClient(t, s), map[string]any{"url": srv.URL, "description": "cdc", "status": "ENABLED",
			"auth_type": "NONE", "enabled_events": []string{personio.EventPersonUpdated}})
		before := got.Load()
		s.FireWebhookEvent(personio.EventPersonUpdated, "1000017", "")
		st := waitIdle(t, s)
		if delivered := got.Load() - before; trust != (delivered == 1 && st.Delivered == 1) || !trust && (delivered != 0 || st.GivenUp != 1) {
			t.Errorf("RootCAs set %v: %d requests reached the receiver, stats %+v", trust, delivered, st)
		}
		resp, err := http.Get(s.URL() + "/admin/webhooks")
		if err != nil {
			t.Fatal(err)
		}
		var served WebhookStats
		err = json.NewDecoder(resp.Body).Decode(&served)
		resp.Body.Close()
		if err != nil || served != st {
			t.Errorf("GET /admin/webhooks served %+v (%v), want %+v", served, err, st)
		}
	}
}
