package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The /status documents the page is tested with, in the service's shape (service.Status).
const (
	statusComplete = `{
  "service": "personio-cdc", "version": "1.4.0", "started": "2026-12-06T08:00:00Z",
  "tenants": [{
    "tenant": "acme", "running": false,
    "last_result": {"sync_id": "sync-id-0d9e2b", "kind": "full", "outcome": "complete",
      "started": "2026-12-06T09:58:00Z", "ended": "2026-12-06T09:59:30Z",
      "entities": [{"entity": "persons", "outcome": "complete", "changes": {"c": 120, "u": 7}}]},
    "entities": [
      {"entity": "compensations", "phase": "DONE", "last_kind": "full", "last_sync_id": "sync-id-0d9e2b",
       "last_start": "2026-12-06T09:58:00Z", "last_end": "2026-12-06T09:59:30Z", "last_success": "2026-12-06T09:59:30Z",
       "extracted": 480, "changes": {"c": 480}, "state_entities": 480},
      {"entity": "persons", "phase": "DONE", "last_kind": "full", "last_sync_id": "sync-id-0d9e2b",
       "last_start": "2026-12-06T09:58:00Z", "last_end": "2026-12-06T09:59:30Z", "last_success": "2026-12-06T09:59:30Z",
       "extracted": 127, "changes": {"c": 120, "u": 7}, "state_entities": 127}
    ]
  }],
  "schedule": {"next_full_sync": "2026-12-06T10:59:30Z", "next_incremental_sync": "2026-12-06T10:04:30Z"},
  "activity": [{"tenant": "acme",
    "events_last_24h": {"persons": {"c": 240, "u": 9, "d": 2}, "compensations": {"c": 480}},
    "personio_api": {"requests": 312, "rate_limited": 3, "retries": 4, "limiter_wait_seconds": 12.5,
      "budgets": [{"budget": "default", "per_minute": 75, "configured_per_minute": 150},
                  {"budget": "compensations", "per_minute": 30, "configured_per_minute": 30}]}}],
  "settings": {"Personio": {"ClientID": "client-id-5b7c", "Tenant": "acme"}}
}`
	statusFailed = `{
  "service": "personio-cdc", "version": "1.4.0", "started": "2026-12-06T08:00:00Z",
  "tenants": [{
    "tenant": "acme", "running": false,
    "last_result": {"sync_id": "sync-id-77aa01", "kind": "full", "outcome": "failed",
      "started": "2026-12-06T09:58:00Z", "ended": "2026-12-06T09:58:10Z",
      "entities": [{"entity": "persons", "outcome": "failed", "guard": "mass_delete", "delete_guard_tripped": true}]},
    "entities": [
      {"entity": "compensations", "phase": "PARTIAL", "last_sync_id": "sync-id-77aa01", "last_end": "2026-12-06T09:58:10Z",
       "last_success": "2026-12-05T09:00:00Z", "extracted": 30, "changes": {"u": 2}, "state_entities": 470,
       "last_error": "compensations: listing.broken_off: a listing stopped before its end (scope compensations:2026-11)",
       "last_error_detail": {"code": "listing.broken_off", "entity": "compensations", "scope": "compensations:2026-11",
         "endpoint": "GET /v2/compensations", "host": "api.personio.de", "personio_trace_id": "trace-id-41c2f0",
         "message": "a listing stopped before its end"}},
      {"entity": "persons", "phase": "FAILED", "last_sync_id": "sync-id-77aa01", "last_end": "2026-12-06T09:58:10Z",
       "extracted": 3, "state_entities": 127, "delete_guard_tripped": true,
       "last_error_detail": {"code": "guard.mass_delete", "entity": "persons", "count": 124,
         "message": "the mass-delete guard withheld the entity"}}
    ]
  }],
  "schedule": {"next_full_sync": "2026-12-06T10:08:10Z", "next_incremental_sync": "2026-12-06T10:03:10Z",
    "full_sync_retry": {"consecutive_failures": 2, "reason": "guard.mass_delete", "outcome": "failed",
      "backoff_seconds": 600, "next_attempt": "2026-12-06T10:08:10Z"}}
}`
	statusIdle = `{"service": "personio-cdc", "version": "1.4.0", "started": "2026-12-06T09:59:58Z",
  "tenants": [{"tenant": "acme", "running": true, "entities": [
    {"entity": "compensations", "phase": "SYNCING"}, {"entity": "persons", "phase": "IDLE"}]}],
  "schedule": {"next_full_sync": "2026-12-06T09:59:58Z"},
  "activity": [{"tenant": "acme", "events_last_24h": {}, "personio_api": {"budgets": []}}]}`
)

var pageNow = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func renderPage(t *testing.T, status func() any) string {
	t.Helper()
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Status: status})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return pageNow }
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s:\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	if dir := os.Getenv("PERSONIO_CDC_PAGE_DIR"); dir != "" { // to look at the page by hand
		_ = os.WriteFile(dir+"/"+strings.ReplaceAll(t.Name(), "/", "_")+".html", body, 0o644)
	}
	return string(body)
}

func raw(doc string) func() any { return func() any { return json.RawMessage(doc) } }

// cell returns the text of the cell data-field=field in the row of entity (tags removed).
func cell(t *testing.T, page, entity, field string) string {
	t.Helper()
	rows := regexp.MustCompile(`(?s)<tr data-entity="`+regexp.QuoteMeta(entity)+`"[^>]*>(.*?)</tr>`).FindAllStringSubmatch(page, -1)
	if rows == nil {
		t.Fatalf("no row for %q in\n%s", entity, page)
	}
	var all string
	for _, r := range rows {
		all += r[1]
	}
	if field == "error" && !strings.Contains(all, `data-field="error"`) {
		return "–"
	}
	return field0(t, all, field)
}

// fact returns the text of the element data-field=field anywhere in page.
func fact(t *testing.T, page, field string) string {
	t.Helper()
	return field0(t, page, field)
}

func field0(t *testing.T, html, field string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<(td|dd)[^>]* data-field="` + regexp.QuoteMeta(field) + `"[^>]*>(.*?)</(td|dd)>`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no field %q in\n%s", field, html)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(strings.ReplaceAll(m[2], "<br>", " "), "")
	return strings.Join(strings.Fields(text), " ")
}

func wantContains(t *testing.T, page string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func TestPageComplete(t *testing.T) {
	page := renderPage(t, raw(statusComplete))
	wantContains(t, page, `<meta http-equiv="refresh" content="15">`, `href="/status"`, `href="/metrics"`,
		"Tenant acme", "version 1.4.0", "up 2h 0m", "full, complete, ended 2026-12-06 09:59:30 UTC (30s ago, took 1m 30s)")
	for _, c := range []struct{ entity, field, want string }{
		{"persons", "phase", "DONE"},
		{"persons", "last-complete", "2026-12-06 09:59:30 UTC"},
		{"persons", "age", "30s"},
		{"persons", "op-c", "120"},
		{"persons", "op-u", "7"},
		{"persons", "op-d", "0"},
		{"persons", "op-r", "0"},
		{"persons", "events-24h", "251 c 240 · d 2 · u 9"},
		{"persons", "extracted", "127"},
		{"persons", "in-state", "127"},
		{"persons", "guard", "–"},
		{"persons", "error", "–"},
		{"compensations", "op-c", "480"},
		{"compensations", "events-24h", "480"},
	} {
		if got := cell(t, page, c.entity, c.field); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.entity, c.field, got, c.want)
		}
	}
	for field, want := range map[string]string{
		"next-full":            "2026-12-06 10:59:30 UTC (in 59m 30s)",
		"next-incremental":     "2026-12-06 10:04:30 UTC (in 4m 30s)",
		"retry":                "none due",
		"api-requests":         "312",
		"api-429":              "3",
		"api-retries":          "4",
		"api-wait":             "13s",
		"budget-default":       "75/min of 150/min configured",
		"budget-compensations": "30/min of 30/min configured",
	} {
		if got := fact(t, page, field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
}

func TestPageFailedAndPartial(t *testing.T) {
	page := renderPage(t, raw(statusFailed))
	for _, c := range []struct{ entity, field, want string }{
		{"persons", "phase", "FAILED"},
		{"persons", "last-complete", "never"},
		{"persons", "age", "–"},
		{"persons", "guard", "mass-delete"},
		{"persons", "error", "last error guard.mass_delete the mass-delete guard withheld the entity"},
		{"compensations", "phase", "PARTIAL"},
		{"compensations", "age", "1d 1h"},
		{"compensations", "op-u", "2"},
		{"compensations", "events-24h", "0"},
		{"compensations", "error", "last error listing.broken_off a listing stopped before its end"},
	} {
		if got := cell(t, page, c.entity, c.field); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.entity, c.field, got, c.want)
		}
	}
	wantContains(t, page, `<span class="badge failed">FAILED</span>`, `<span class="badge partial">PARTIAL</span>`)
	for field, want := range map[string]string{
		"retry-failures": "2",
		"retry-reason":   "guard.mass_delete (failed)",
		"retry-backoff":  "10m 0s",
		"retry-next":     "2026-12-06 10:08:10 UTC (in 8m 10s)",
	} {
		if got := fact(t, page, field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if strings.Contains(page, "Personio API since start") {
		t.Error("a status without activity shows an API card")
	}
}

func TestPageEmpty(t *testing.T) {
	for name, c := range map[string]struct {
		status func() any
		want   string
	}{
		"no status func": {nil, "This server has no status to show."},
		"no tenants":     {raw(`{}`), "No tenant is configured."},
		"not an object":  {raw(`["x"]`), "The status could not be read; see /status."},
		"error document": {func() any { return map[string]string{"error": "status not available"} }, "No tenant is configured."},
	} {
		t.Run(name, func(t *testing.T) {
			page := renderPage(t, c.status)
			wantContains(t, page, c.want, `href="/status"`, `href="/metrics"`)
			if strings.Contains(page, "<table>") {
				t.Error("a page without tenants shows a table")
			}
		})
	}
	page := renderPage(t, raw(statusIdle))
	for _, c := range []struct{ entity, field, want string }{
		{"persons", "phase", "IDLE"},
		{"persons", "last-complete", "never"},
		{"persons", "op-c", "0"},
		{"persons", "events-24h", "0"},
		{"compensations", "phase", "SYNCING"},
	} {
		if got := cell(t, page, c.entity, c.field); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.entity, c.field, got, c.want)
		}
	}
	wantContains(t, page, "sync running · last sync: none yet", "2026-12-06 09:59:58 UTC (due now)")
}

// TestPageEscapes: a value that looks like markup is shown as text, never interpreted.
func TestPageEscapes(t *testing.T) {
	doc := `{"tenants": [{"tenant": "<b>acme</b>", "entities": [{"entity": "<script>alert(1)</script>", "phase": "FAILED\" onmouseover=\"x",
	  "last_error_detail": {"code": "sync.failed", "message": "<img src=x onerror=alert(2)>"}}]}]}`
	page := renderPage(t, raw(doc))
	for _, bad := range []string{"<script>alert", "<img", "<b>acme", `" onmouseover="x`} {
		if strings.Contains(page, bad) {
			t.Errorf("page carries %q unescaped", bad)
		}
	}
	wantContains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "Tenant &lt;b&gt;acme&lt;/b&gt;")
}

// TestPageCarriesNoIDs: the page leaves out what /status holds beyond counts, codes and
// times: sync ids, Personio trace ids, endpoints and hosts of errors, the settings.
func TestPageCarriesNoIDs(t *testing.T) {
	for name, doc := range map[string]string{"complete": statusComplete, "failed": statusFailed} {
		page := renderPage(t, raw(doc))
		for _, id := range []string{"sync-id-", "trace-id-", "client-id-5b7c", "api.personio.de", "/v2/compensations", "compensations:2026-11"} {
			if strings.Contains(page, id) {
				t.Errorf("%s: page carries %q", name, id)
			}
		}
	}
}

// TestPageRouteAndCount: / serves the page and counts in personio_cdc_admin_requests_total;
// other paths are still 404.
func TestPageRouteAndCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: reg, Registerer: reg, Status: raw(statusComplete)})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for path, code := range map[string]int{"/": 200, "/index.html": 404} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != code {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `personio_cdc_admin_requests_total{code="200",handler="/"} 1`) {
		t.Errorf("the page is not counted:\n%s", rec.Body.String())
	}
}

// TestPageManyTenantsInAGroup: a process of a consumer group running one of three configured
// tenants. Each running tenant's card shows its own schedule (from tenant_states; the
// top-level schedule is set for a one-tenant process only), the tenants it does not run are
// listed with why, and the group's membership is shown.
func TestPageManyTenantsInAGroup(t *testing.T) {
	doc := `{"service": "personio-cdc", "started": "2026-12-06T08:00:00Z",
  "tenants": [{"tenant": "t1", "running": false, "entities": [{"entity": "persons", "phase": "DONE"}]}],
  "tenant_states": [
    {"tenant": "t1", "state": "running", "since": "2026-12-06T08:00:00Z",
     "schedule": {"next_full_sync": "2026-12-06T10:59:30Z", "next_incremental_sync": "2026-12-06T10:04:30Z"}},
    {"tenant": "t2", "state": "stopped", "reason": "credential_refused", "since": "2026-12-06T09:00:00Z",
     "error": "the Personio credential was refused"},
    {"tenant": "t3", "state": "not_owned"}],
  "group": {"group_id": "cdc", "member_id": "member-id-9f2e", "generation": 7, "partitions": 64,
    "assigned_partitions": 21, "owned_tenants": ["t1"]}}`
	page := renderPage(t, raw(doc))
	for field, want := range map[string]string{
		"next-full":        "2026-12-06 10:59:30 UTC",
		"tenant-t2":        "stopped: credential_refused, since",
		"tenant-t3":        "another instance of the group runs it",
		"group-id":         "cdc",
		"group-generation": "7",
		"group-partitions": "21 of 64",
		"group-owned":      "1 of 3 configured",
	} {
		if got := fact(t, page, field); !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want it to start with %q", field, got, want)
		}
	}
	if strings.Contains(page, "No tenant is configured") || strings.Contains(page, "member-id-9f2e") ||
		strings.Contains(page, "credential was refused") {
		t.Errorf("the page says no tenant is configured, or shows the member id or an error text:\n%s", page)
	}

	// An instance of the group that runs no tenant now is not a process without tenants.
	idle := renderPage(t, raw(`{"tenants": [], "tenant_states": [{"tenant": "t1", "state": "not_owned"}],
	  "group": {"group_id": "cdc", "generation": 7, "partitions": 64, "owned_tenants": []}}`))
	if strings.Contains(idle, "No tenant is configured") {
		t.Error("an instance running none of the configured tenants says no tenant is configured")
	}
	wantContains(t, idle, "another instance of the group runs it", "0 of 1 configured")
}
