package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/personio-cdc/personio-cdc/internal/tlstest"
)

const (
	testToken = "Bearer whk-3f9a0c1d5e7b2a4c"
	testPath  = "/webhooks/personio"
)

func newTestReceiver(t *testing.T, o Options) (*Receiver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if o.Token == "" {
		o.Token = testToken
	}
	if o.Path == "" {
		o.Path = testPath
	}
	o.Registerer = reg
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func delivery(event, payload string) string {
	return fmt.Sprintf(`{"company_id":"4711","occurred_at":"2026-12-06T10:00:00.123Z","event_name":%q,"payload":%s}`, event, payload)
}

// post sends one delivery to h and returns the status and body.
func post(h http.Handler, path, auth, contentType, body string) (int, string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func deliveries(reg *prometheus.Registry, outcome string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "personio_cdc_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// A delivery with a wrong or missing token gets 401 and queues nothing, whatever its body.
func TestForgedTokens(t *testing.T) {
	r, reg := newTestReceiver(t, Options{})
	h := r.Handler()
	body := delivery("person.updated", `{"id":"1000017"}`)
	for name, auth := range map[string]string{
		"missing":        "",
		"wrong":          "Bearer whk-0000000000000000",
		"prefix":         testToken[:len(testToken)-1],
		"longer":         testToken + "0",
		"without bearer": strings.TrimPrefix(testToken, "Bearer "),
		"other case":     strings.ToUpper(testToken),
		"padded":         " " + testToken,
	} {
		if code, resp := post(h, testPath, auth, "application/json", body); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401 (%s)", name, code, resp)
		}
	}
	// Two Authorization headers, one of them right, are refused too.
	req := httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(body))
	req.Header.Add("Authorization", "x")
	req.Header.Add("Authorization", testToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d", rec.Code)
	}
	if r.Queue().Len() != 0 {
		t.Fatalf("forged deliveries queued %d persons", r.Queue().Len())
	}
	if n := deliveries(reg, outcomeUnauthorized); n != 8 {
		t.Errorf("unauthorized deliveries counted %v, want 8", n)
	}
	if code, _ := post(h, testPath, testToken, "application/json", body); code != http.StatusAccepted || r.Queue().Len() != 1 {
		t.Errorf("the right token: %d, queue %d", code, r.Queue().Len())
	}
}

func TestMalformedDeliveries(t *testing.T) {
	r, reg := newTestReceiver(t, Options{MaxBodyBytes: 512})
	h := r.Handler()
	good := delivery("employment.updated", `{"id":"e-1","person":{"id":"1000017"}}`)
	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		outcome                       string
	}{
		{"oversized", testPath, "application/json", delivery("person.updated", `{"id":"1","pad":"`+strings.Repeat("x", 600)+`"}`), 413, outcomeTooLarge},
		{"text/plain", testPath, "text/plain", good, 415, outcomeMediaType},
		{"no content type", testPath, "", good, 415, outcomeMediaType},
		{"form", testPath, "application/x-www-form-urlencoded", good, 415, outcomeMediaType},
		{"not json", testPath, "application/json", `{"event_name":`, 400, outcomeBadRequest},
		{"array", testPath, "application/json", `[1,2]`, 400, outcomeBadRequest},
		{"no event name", testPath, "application/json", `{"occurred_at":"2026-12-06T10:00:00Z","payload":{"id":"1"}}`, 400, outcomeBadRequest},
		{"payload not an object", testPath, "application/json", delivery("person.updated", `"1"`), 400, outcomeBadRequest},
		{"bad occurred_at", testPath, "application/json", `{"occurred_at":"yesterday","event_name":"person.updated","payload":{"id":"1"}}`, 400, outcomeBadRequest},
		{"no person id", testPath, "application/json", delivery("employment.updated", `{"id":"e-1"}`), 422, outcomeUnroutable},
		{"person id with slash", testPath, "application/json", delivery("person.updated", `{"id":"../1"}`), 422, outcomeUnroutable},
		{"unknown event", testPath, "application/json", delivery("absence-period.created", `{"id":"a-1"}`), 200, outcomeIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := deliveries(reg, tc.outcome)
			code, body := post(h, tc.path, testToken, tc.contentType, tc.body)
			if code != tc.status {
				t.Errorf("status %d, want %d (%s)", code, tc.status, body)
			}
			if n := deliveries(reg, tc.outcome); n != before+1 {
				t.Errorf("outcome %s counted %v, was %v", tc.outcome, n, before)
			}
			if strings.Contains(body, "1000017") {
				t.Errorf("the reply echoes the request: %s", body)
			}
		})
	}
	if r.Queue().Len() != 0 {
		t.Errorf("refused deliveries queued %d persons", r.Queue().Len())
	}
	if got := testutil.ToFloat64(r.m.events.WithLabelValues("other")); got != 1 {
		t.Errorf("unknown events counted %v, want 1", got)
	}
	// A chunked body without Content-Length is cut at the limit too.
	req := httptest.NewRequest(http.MethodPost, testPath, io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(strings.Repeat("x", 4096))))
	req.ContentLength = -1
	req.Header.Set("Authorization", testToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body: %d", rec.Code)
	}
	if code, _ := post(h, "/other", testToken, "application/json", good); code != http.StatusNotFound {
		t.Errorf("another path: %d", code)
	}
	req = httptest.NewRequest(http.MethodGet, testPath, nil)
	req.Header.Set("Authorization", testToken)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// Deliveries for one person coalesce while it is queued and while its fetch is in flight;
// a delivery during the fetch brings exactly one more fetch after it.
func TestCoalescing(t *testing.T) {
	r, reg := newTestReceiver(t, Options{})
	h := r.Handler()
	for range 10 {
		if code, _ := post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"7"}`)); code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
	}
	post(h, testPath, testToken, "application/json", delivery("employment.updated", `{"id":"e-7","person":{"id":"7"}}`))
	post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"8"}`))
	if n := r.Queue().Len(); n != 2 {
		t.Fatalf("queue holds %d persons, want 2", n)
	}
	if q, c := deliveries(reg, outcomeQueued), deliveries(reg, outcomeCoalesced); q != 2 || c != 10 {
		t.Errorf("queued %v coalesced %v, want 2 and 10", q, c)
	}
	tg, err := r.Queue().Next(t.Context())
	if err != nil || tg.PersonID != "7" || tg.Deliveries != 11 || !tg.Employments || tg.FirstReceived.IsZero() || tg.LastOccurred.IsZero() {
		t.Fatalf("Next = %+v, %v", tg, err)
	}
	// In flight: two more deliveries for 7 wait as one entry, outside the queue.
	post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"7"}`))
	post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"7"}`))
	if n := r.Queue().Len(); n != 1 {
		t.Errorf("queue holds %d persons during the fetch, want 1 (person 8)", n)
	}
	r.Finished(tg, nil)
	if n := r.Queue().Len(); n != 2 {
		t.Fatalf("after the fetch the queue holds %d persons, want 2", n)
	}
	next, _ := r.Queue().Next(t.Context())
	again, _ := r.Queue().Next(t.Context())
	if next.PersonID != "8" || again.PersonID != "7" || again.Deliveries != 2 || again.Employments {
		t.Errorf("then %+v and %+v", next, again)
	}
	// A failed fetch is queued again, merged with what arrived meanwhile.
	post(h, testPath, testToken, "application/json", delivery("employment.created", `{"id":"e-8","person":{"id":"8"}}`))
	r.Finished(next, fmt.Errorf("personio down"))
	r.Finished(again, nil)
	retry, _ := r.Queue().Next(t.Context())
	if retry.PersonID != "8" || retry.Deliveries != 2 || !retry.Employments || r.Queue().Len() != 0 {
		t.Errorf("retry %+v, queue %d", retry, r.Queue().Len())
	}
	if got := testutil.ToFloat64(r.m.processed.WithLabelValues("failed")); got != 1 {
		t.Errorf("failed targets %v", got)
	}
}

// A flood of deliveries about more persons than the queue holds: the queue stays at its
// bound, every delivery is answered (202, or 503 so that Personio retries), and with nobody
// consuming the queue the receiver still answers.
func TestFlood(t *testing.T) {
	const size, persons, perPerson = 50, 400, 5
	r, reg := newTestReceiver(t, Options{QueueSize: size})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	client := srv.Client()
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	work := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+testPath, strings.NewReader(body))
				req.Header.Set("Authorization", testToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	for i := range persons * perPerson {
		work <- delivery("person.updated", fmt.Sprintf(`{"id":"%d"}`, 1000000+i%persons))
	}
	close(work)
	wg.Wait()
	if codes[0] != 0 || codes[http.StatusAccepted]+codes[http.StatusServiceUnavailable] != persons*perPerson {
		t.Fatalf("replies %v: every delivery must get 202 or 503", codes)
	}
	if n := r.Queue().Len(); n != size {
		t.Errorf("queue holds %d persons, want its bound %d", n, size)
	}
	if q := deliveries(reg, outcomeQueued); q != size {
		t.Errorf("queued %v entries, want %d", q, size)
	}
	if full := deliveries(reg, outcomeQueueFull); int(full) != codes[http.StatusServiceUnavailable] || full == 0 {
		t.Errorf("queue_full %v, 503s %d", full, codes[http.StatusServiceUnavailable])
	}
	// A queued person's deliveries still coalesce; a forged one is still refused.
	if code, _ := post(r.Handler(), testPath, testToken, "application/json", delivery("person.updated", `{"id":"1000000"}`)); code != http.StatusAccepted {
		t.Errorf("delivery for a queued person after the flood: %d", code)
	}
	if code, _ := post(r.Handler(), testPath, "forged", "application/json", delivery("person.updated", `{"id":"1000000"}`)); code != http.StatusUnauthorized {
		t.Errorf("forged delivery after the flood: %d", code)
	}
}

// Requests in progress are bounded: beyond MaxInFlight, a request is answered 503 at once
// instead of holding another body in memory.
func TestRequestsInProgressBounded(t *testing.T) {
	r, reg := newTestReceiver(t, Options{MaxInFlight: 2})
	h := r.Handler()
	var writers []*io.PipeWriter
	var wg sync.WaitGroup
	for range 2 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req := httptest.NewRequest(http.MethodPost, testPath, pr)
		req.Header.Set("Authorization", testToken)
		req.Header.Set("Content-Type", "application/json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
		_, _ = pw.Write([]byte(`{"event_name":`)) // the handler is now reading this body
	}
	code, _ := post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"1"}`))
	for _, pw := range writers {
		_, _ = pw.Write([]byte(`"person.updated","occurred_at":"2026-12-06T10:00:00Z","payload":{"id":"2"}}`))
		pw.Close()
	}
	wg.Wait()
	if code != http.StatusServiceUnavailable || deliveries(reg, outcomeBusy) != 1 {
		t.Errorf("third request: %d, busy %v", code, deliveries(reg, outcomeBusy))
	}
}

// No metric carries an id: every label value is an outcome, an event name or a result.
func TestMetricsCarryNoIDs(t *testing.T) {
	r, reg := newTestReceiver(t, Options{})
	post(r.Handler(), testPath, testToken, "application/json", delivery("person.updated", `{"id":"1000017"}`))
	post(r.Handler(), testPath, testToken, "application/json", delivery("document.created", `{"id":"d-99","person":{"id":"1000017"}}`))
	tg, _ := r.Queue().Next(t.Context())
	r.Finished(tg, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if !strings.HasPrefix(mf.GetName(), "personio_cdc_webhook_") {
			t.Errorf("metric %s outside personio_cdc_webhook_*", mf.GetName())
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.ContainsAny(l.GetValue(), "0123456789") {
					t.Errorf("%s{%s=%q} carries an id", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, want := range []string{"personio_cdc_webhook_deliveries_total", "personio_cdc_webhook_latency_seconds", "personio_cdc_webhook_queue_persons"} {
		if !names[want] {
			t.Errorf("metric %s missing", want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no token":     {Path: "/x"},
		"no path":      {Token: testToken},
		"cert no key":  {Token: testToken, Path: "/x", TLSCertFile: "c.pem"},
		"newline":      {Token: testToken + "\n", Path: "/x"},
		"negative cap": {Token: testToken, Path: "/x", QueueSize: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Serve answers over TLS with the configured certificate and stops when ctx ends.
func TestServeTLS(t *testing.T) {
	certs := tlstest.New(t)
	_, certFile, keyFile := certs.Write(t, t.TempDir())
	pool := certs.Pool()
	r, _ := newTestReceiver(t, Options{TLSCertFile: certFile, TLSKeyFile: keyFile})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+ln.Addr().String()+testPath, bytes.NewBufferString(delivery("person.created", `{"id":"5"}`)))
	req.Header.Set("Authorization", testToken)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || r.Queue().Len() != 1 {
		t.Errorf("TLS delivery: %d, queue %d", resp.StatusCode, r.Queue().Len())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}
