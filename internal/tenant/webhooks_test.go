package tenant

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// hookTenants configures tenants named names on companies of one simulated Personio, each with
// a webhook token of its own, on one webhook listener.
func (e *env) hookTenants(t *testing.T, co *personiotest.Companies, names ...string) []config.Config {
	t.Helper()
	var cfgs []config.Config
	for i, name := range names {
		c := e.base
		c.Personio.Tenant = name
		c.Personio.BaseURL = co.URL()
		c.Personio.ClientID = personiotest.CompanyID(i + 1)
		c.Personio.ClientSecret = config.Secret(personiotest.CompanySecret("", i+1))
		c.Personio.RateLimitPerMinute, c.Personio.RateBurst = 60000, 200
		c.Personio.CompensationRateLimitPerMinute, c.Personio.CompensationRateBurst = 60000, 200
		c.Webhook.Addr = "127.0.0.1:0"
		c.Webhook.Token = config.Secret(hookToken(name))
		c.Webhook.PerTenant = true
		cfgs = append(cfgs, c)
	}
	return cfgs
}

func hookToken(tenant string) string { return "Bearer hook-" + tenant + "-5d1e8a0c" }

// subscribe registers a webhook of company i (1-based) to the tenant's path on m's listener.
func subscribe(t *testing.T, co *personiotest.Companies, i int, m *Manager, tenant string) {
	t.Helper()
	pc, err := personio.New(personio.Config{BaseURL: co.URL(), ClientID: personiotest.CompanyID(i),
		ClientSecret: personiotest.CompanySecret("", i), RateLimit: personio.Rate{PerMinute: 6e6, Burst: 100}})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + m.WebhookAddr().String() + config.DefaultWebhookPath + "/" + tenant
	if _, err := pc.CreateWebhook(t.Context(), personio.WebhookSpec{URL: url, Description: "cdc " + tenant,
		Status: personio.WebhookEnabled, AuthType: personio.WebhookAuthToken, Token: hookToken(tenant),
		EnabledEvents: personio.PersonEvents}); err != nil {
		t.Fatal(err)
	}
}

// postHook sends a person.updated delivery to path on m's listener and returns the response.
func postHook(t *testing.T, m *Manager, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+m.WebhookAddr().String()+path,
		strings.NewReader(`{"company_id":"1","occurred_at":"2026-12-06T10:00:00Z","event_name":"person.updated","payload":{"id":"1000101"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestWebhooksOfTwoTenants: one process, one webhook listener, two tenants with a path and a
// token each. Each company's changes, delivered by its webhooks alone (no sync runs after the
// first), reach the topics under its own tenant; tenant A's token on tenant B's path is 401,
// a path naming no tenant 404.
func TestWebhooksOfTwoTenants(t *testing.T) {
	e := newEnv(t)
	co := personiotest.NewTestCompanies(t, 2, personiotest.Options{Persons: 10, Seed: 3, NoRateLimit: true,
		Webhooks: personiotest.WebhookOptions{Attempts: 5, Backoff: 10 * time.Millisecond}})
	names := []string{"acme", "globex"}
	m := e.manager(t, e.hookTenants(t, co, names...), nil)
	serve(t, m)
	for _, name := range names {
		waitFor(t, name+"'s first full sync", func() bool { return lastOutcome(m, name) == syncrun.Complete })
	}
	waitFor(t, "the webhook listener", func() bool { return m.WebhookAddr() != nil })

	want := map[string]float64{}
	for i, name := range names {
		subscribe(t, co, i+1, m, name)
		res := co.Company(personiotest.CompanyID(i + 1)).Churn(personiotest.Churn{Renames: 2 + i})
		want[name] = float64(len(res.Renames))
		if want[name] == 0 {
			t.Fatalf("company %d renamed nobody", i+1)
		}
	}
	for _, name := range names {
		waitFor(t, name+"'s deliveries published", func() bool {
			return counterValue(t, m, "personio_cdc_webhook_targets_total", map[string]string{"tenant": name, "result": "published"}) >= want[name]
		})
	}
	topic := publish.Topic(e.base.Kafka.TopicPrefix, change.Persons)
	rp, err := oracle.ReplayTopic(t.Context(), e.kc, codec.New(e.sr), topic, change.Persons)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		exp, err := oracle.Expected(co.Company(personiotest.CompanyID(i+1)).Truth(), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]change.Hash{}
		for k, h := range rp.State[change.Persons] {
			if strings.HasPrefix(k, name+":") {
				got[k] = h
			}
		}
		if d := oracle.Diff(got, exp[change.Persons]); d != "" {
			t.Errorf("%s's persons after its webhooks differ from its Personio: %s", name, d)
		}
		if n := counterValue(t, m, "personio_cdc_sync_runs_total", map[string]string{"tenant": name, "kind": "full"}); n != 1 {
			t.Errorf("%s ran %v full syncs, want 1 (the webhooks alone must carry the renames)", name, n)
		}
	}

	if resp := postHook(t, m, config.DefaultWebhookPath+"/globex", hookToken("acme")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("acme's token on globex's path: %d, want 401", resp.StatusCode)
	}
	if resp := postHook(t, m, config.DefaultWebhookPath+"/initech", hookToken("acme")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a path of no tenant: %d, want 404", resp.StatusCode)
	}
	if resp := postHook(t, m, config.DefaultWebhookPath, hookToken("acme")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the bare path with two tenants: %d, want 404", resp.StatusCode)
	}
}

// TestWebhookOfATenantNotOwned: in a consumer group, a delivery for a configured tenant this
// instance does not own is answered 503 with Retry-After (Personio retries it, maybe on the
// owner), counted, and fetches nothing; the owned tenant's deliveries are taken.
func TestWebhookOfATenantNotOwned(t *testing.T) {
	e := newEnv(t)
	co := personiotest.NewTestCompanies(t, 2, personiotest.Options{Persons: 5, Seed: 4, NoRateLimit: true})
	m := e.manager(t, e.hookTenants(t, co, "acme", "globex"), func(o *Options) { o.Assigned = true })
	serve(t, m)
	waitFor(t, "the webhook listener", func() bool { return m.WebhookAddr() != nil })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := m.Own(ctx, []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "acme's first full sync", func() bool { return lastOutcome(m, "acme") == syncrun.Complete })

	resp := postHook(t, m, config.DefaultWebhookPath+"/globex", hookToken("globex"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("globex, not owned: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := counterValue(t, e.reg, "personio_cdc_webhook_unserved_total", map[string]string{"reason": "not_owned"}); got != 1 {
		t.Errorf("personio_cdc_webhook_unserved_total{reason=not_owned} = %v, want 1", got)
	}
	if got := counterValue(t, m, "personio_cdc_webhook_events_total", map[string]string{"tenant": "globex"}); got != 0 {
		t.Errorf("globex's webhook events = %v, want none: nothing of it runs here", got)
	}
	if resp := postHook(t, m, config.DefaultWebhookPath+"/acme", hookToken("acme")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("acme, owned: %d, want 202", resp.StatusCode)
	}
	if st := stateOf(m, "globex"); st.State != StateNotOwned {
		t.Errorf("globex = %+v, want not_owned", st)
	}
}
