package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const tokenB = "Bearer whk-b-77c1e09a4d2f"

// readSpy is a request body that records whether it was read.
type readSpy struct {
	*strings.Reader
	read bool
}

func (r *readSpy) Read(p []byte) (int, error) {
	r.read = true
	return r.Reader.Read(p)
}

func newTestRouter(t *testing.T, routes ...Route) (*Router, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRouter(RouterOptions{Path: testPath, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	r.Configure(routes)
	return r, reg
}

// Each tenant has its path and token: a delivery reaches its own tenant's queue only; tenant
// A's token on tenant B's path is 401; a path naming no configured tenant is 404 before the
// body is read; a configured tenant not running here is 503 with Retry-After, counted.
func TestRouterRoutesByTenant(t *testing.T) {
	r, reg := newTestRouter(t, Route{Tenant: "acme", Token: testToken}, Route{Tenant: "globex", Token: tokenB})
	a, _ := newTestReceiver(t, Options{})
	b, _ := newTestReceiver(t, Options{Token: tokenB})
	r.Register("acme", a)
	r.Register("globex", b)
	h := r.Handler()

	if code, body := post(h, testPath+"/acme", testToken, "application/json", delivery("person.updated", `{"id":"1"}`)); code != http.StatusAccepted {
		t.Fatalf("acme's delivery: %d %s", code, body)
	}
	if code, body := post(h, testPath+"/globex", tokenB, "application/json", delivery("person.updated", `{"id":"2"}`)); code != http.StatusAccepted {
		t.Fatalf("globex's delivery: %d %s", code, body)
	}
	if a.Queue().Len() != 1 || b.Queue().Len() != 1 {
		t.Fatalf("queues hold acme %d, globex %d; want 1 each", a.Queue().Len(), b.Queue().Len())
	}
	if tg, _ := a.Queue().Next(t.Context()); tg.PersonID != "1" {
		t.Errorf("acme's queue holds %q, want 1", tg.PersonID)
	}
	if code, _ := post(h, testPath+"/globex", testToken, "application/json", delivery("person.updated", `{"id":"3"}`)); code != http.StatusUnauthorized {
		t.Errorf("acme's token on globex's path: %d, want 401", code)
	}
	if code, _ := post(h, testPath, testToken, "application/json", delivery("person.updated", `{"id":"3"}`)); code != http.StatusNotFound {
		t.Errorf("the bare path with two tenants: %d, want 404", code)
	}
	for _, p := range []string{testPath + "/initech", testPath + "/acme/x", "/other/acme"} {
		spy := &readSpy{Reader: strings.NewReader(delivery("person.updated", `{"id":"4"}`))}
		req := httptest.NewRequest(http.MethodPost, p, spy)
		req.Header.Set("Authorization", testToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || spy.read {
			t.Errorf("%s: %d, body read %v; want 404 unread", p, rec.Code, spy.read)
		}
	}
	if b.Queue().Len() != 1 {
		t.Errorf("globex's queue holds %d after refused deliveries, want 1", b.Queue().Len())
	}

	r.Unregister("globex", b) // stopped, or owned by another instance
	req := httptest.NewRequest(http.MethodPost, testPath+"/globex", strings.NewReader(delivery("person.updated", `{"id":"5"}`)))
	req.Header.Set("Authorization", tokenB)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "30" {
		t.Errorf("not owned: %d Retry-After %q, want 503 and 30", rec.Code, rec.Header().Get("Retry-After"))
	}
	if code, _ := post(h, testPath+"/globex", testToken, "application/json", delivery("person.updated", `{"id":"5"}`)); code != http.StatusUnauthorized {
		t.Errorf("not owned, wrong token: %d, want 401", code)
	}
	if b.Queue().Len() != 1 {
		t.Errorf("globex's queue holds %d after a not-owned delivery, want 1", b.Queue().Len())
	}
	if got := testutil.ToFloat64(r.unserved.WithLabelValues(unservedNotOwned)); got != 1 {
		t.Errorf("unserved{not_owned} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.unserved.WithLabelValues(unservedUnknown)); got != 4 {
		t.Errorf("unserved{unknown_tenant} = %v, want 4", got)
	}
	if n, err := testutil.GatherAndCount(reg, "personio_cdc_webhook_unserved_total"); err != nil || n != 2 {
		t.Errorf("personio_cdc_webhook_unserved_total: %d series, %v", n, err)
	}
}

// With one tenant configured, the bare path of a one-tenant process still serves it, beside
// its own path; every existing rule of a receiver applies on both.
func TestRouterOneTenantKeepsThePath(t *testing.T) {
	r, _ := newTestRouter(t, Route{Tenant: "acme", Token: testToken})
	a, reg := newTestReceiver(t, Options{})
	r.Register("acme", a)
	h := r.Handler()
	for _, p := range []string{testPath, testPath + "/acme"} {
		if code, body := post(h, p, testToken, "application/json", delivery("person.updated", `{"id":"1"}`)); code != http.StatusAccepted {
			t.Errorf("%s: %d %s, want 202", p, code, body)
		}
		if code, _ := post(h, p, testToken, "text/plain", delivery("person.updated", `{"id":"1"}`)); code != http.StatusUnsupportedMediaType {
			t.Errorf("%s text/plain: %d, want 415", p, code)
		}
		if code, _ := post(h, p, "", "application/json", delivery("person.updated", `{"id":"1"}`)); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", p, code)
		}
	}
	if got := deliveries(reg, outcomeUnauthorized); got != 2 {
		t.Errorf("unauthorized deliveries of acme = %v, want 2", got)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, testPath+"/acme", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}
}

func TestNewRouterValidates(t *testing.T) {
	for _, o := range []RouterOptions{{Path: "webhooks"}, {Path: "/w", TLSCertFile: "c.pem"}, {Path: "/w", RetryAfter: -1}} {
		if _, err := NewRouter(o); err == nil {
			t.Errorf("NewRouter(%+v) = nil error", o)
		}
	}
}
