package service

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestReadyzReportsStaleSchemaIDs is issue 11.2: the registry came back empty and gave the
// service's schema id to another schema, and /readyz stayed green. It must answer 503 naming
// the schema id until the next registration (a sync) replaces the id.
func TestReadyzReportsStaleSchemaIDs(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cfg := config.Default()
	cfg.Personio.BaseURL = "http://127.0.0.1:1"
	cfg.Personio.ClientID = "id"
	cfg.Personio.ClientSecret = config.Secret("secret")
	cfg.Personio.Tenant = "acme"
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.SchemaRegistry.URL = fake.URL()
	pr := prometheus.NewRegistry()
	s, err := Build(cfg, pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	var check *admin.Check
	for _, c := range s.ReadyChecks() {
		if c.Name == "schema-ids" {
			check = &c
		}
	}
	if check == nil {
		t.Fatal("no readiness check schema-ids")
	}
	srv, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Gatherer: pr, Ready: []admin.Check{*check}})
	if err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}

	schema, err := schemas.Parse("persons")
	if err != nil {
		t.Fatal(err)
	}
	subject := codec.Subject(cfg.Kafka.Topic("persons"))
	register := func() int {
		t.Helper()
		id, err := s.Registry.Register(t.Context(), subject, schema)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := register()
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with a good id = %d %s", code, body)
	}

	fake.Reset()
	fake.SeedSchema("someone.else-value", 1, old,
		sr.Schema{Schema: `{"type":"record","name":"Other","fields":[{"name":"x","type":"string"}]}`})
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, fmt.Sprintf("schema id %d of subject %s", old, subject)) {
		t.Fatalf("/readyz after the registry gave id %d away = %d %s; want 503 naming the id", old, code, body)
	}
	var doc struct {
		Checks []admin.CheckResult `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Checks) != 1 || doc.Checks[0].Name != "schema-ids" {
		t.Fatalf("/readyz body %s: %v", body, err)
	}

	if id := register(); id == old {
		t.Fatalf("registered again under the old id %d", id)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz after the schema was registered again = %d %s", code, body)
	}
	mfs, err := pr.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "personio_cdc_schema_id_checks_total"
	}
	if !found {
		t.Error("personio_cdc_schema_id_checks_total is not on the service's registry")
	}
}
