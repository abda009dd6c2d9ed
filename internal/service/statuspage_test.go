package service

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// TestStatusPageReadsStatus: the status page (internal/admin) decodes the /status document by
// its JSON names; this feeds it the service's own Status, so a field renamed or moved here
// fails a test instead of vanishing from the page.
func TestStatusPageReadsStatus(t *testing.T) {
	now := time.Now().UTC()
	ended := now.Add(-90 * time.Second)
	st := Status{
		Service: "personio-cdc", Version: "9.8.7", Started: now.Add(-time.Hour),
		Tenants: []syncrun.Status{{
			Tenant: "acme",
			Last: &syncrun.Result{SyncID: "sync-id-1", Kind: syncrun.Full, Outcome: syncrun.Failed,
				Started: ended.Add(-time.Minute), Ended: ended,
				Entities: []syncrun.EntityResult{{Entity: "persons", Outcome: syncrun.Failed,
					GuardTripped: true, Guard: syncrun.GuardFieldLoss}}},
			Entities: []syncrun.EntityStatus{
				{Entity: "compensations", Phase: syncrun.PhasePartial, LastEnd: ended, LastSuccess: ended.Add(-26 * time.Hour),
					Extracted: 41, Changes: map[string]int{"c": 3, "u": 5, "d": 7, "r": 11}, StateEntities: 43,
					LastErrorDetail: &syncrun.ErrorInfo{Code: syncrun.CodeListingBroken, Message: "a listing stopped before its end"}},
				{Entity: "persons", Phase: syncrun.PhaseFailed, LastEnd: ended, Extracted: 13, StateEntities: 17,
					DeleteGuardTrip: true,
					LastErrorDetail: &syncrun.ErrorInfo{Code: syncrun.CodeFieldLoss, Message: "the field-loss guard withheld the entity"}},
			},
		}},
		Schedule: ScheduleStatus{NextFull: now.Add(5 * time.Minute), NextIncremental: now.Add(3 * time.Minute),
			FullSyncRetry: &FullSyncRetry{ConsecutiveFailures: 3, Reason: syncrun.CodeFieldLoss, Outcome: "failed",
				BackoffSeconds: 1200, NextAttempt: now.Add(5 * time.Minute)}},
		Activity: []Activity{{Tenant: "acme",
			EventsLast24h: map[string]map[string]int{"compensations": {"c": 19, "u": 23}},
			PersonioAPI: APIActivity{Requests: 2917, RateLimited: 29, Retries: 31, LimiterWaitSeconds: 75,
				Budgets: []BudgetActivity{{Budget: "default", PerMinute: 37, ConfiguredPerMinute: 150}}}}},
	}
	srv, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
		Status: func() any { return st }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	page := string(body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", rec.Code, page)
	}
	for what, want := range map[string]string{
		"version":          "version 9.8.7",
		"tenant":           "Tenant acme",
		"last result":      "full, failed, ended " + ended.Format("2006-01-02 15:04:05 UTC"),
		"phase partial":    `<span class="badge partial">PARTIAL</span>`,
		"phase failed":     `<span class="badge failed">FAILED</span>`,
		"last success":     ended.Add(-26 * time.Hour).Format("2006-01-02 15:04:05 UTC"),
		"age":              ">1d 2h<",
		"op c":             `data-field="op-c">3<`,
		"op u":             `data-field="op-u">5<`,
		"op d":             `data-field="op-d">7<`,
		"op r":             `data-field="op-r">11<`,
		"extracted":        `data-field="extracted">41<`,
		"in state":         `data-field="in-state">43<`,
		"events 24h":       `data-field="events-24h">42<`,
		"guard":            `<span class="warn">field-loss</span>`,
		"error code":       "<code>listing.broken_off</code> a listing stopped before its end",
		"retry failures":   `data-field="retry-failures" class="warn">3<`,
		"retry reason":     "guard.field_loss (failed)",
		"retry backoff":    `data-field="retry-backoff">20m 0s<`,
		"api requests":     `data-field="api-requests">2917<`,
		"api 429":          `data-field="api-429" class="warn">29<`,
		"api retries":      `data-field="api-retries">31<`,
		"api limiter wait": `data-field="api-wait">1m 15s<`,
		"api budget":       "37/min <span class=\"small\">of 150/min configured",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("%s: page lacks %q", what, want)
		}
	}
	if strings.Contains(page, "sync-id-1") {
		t.Error("page carries the sync id")
	}
}
