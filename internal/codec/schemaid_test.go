package codec

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// schemaText is the JSON the registry stores for s.
func schemaText(t testing.TB, s avro.Schema) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// idNames reports whether the registry's GET /schemas/ids/{id} answers a schema with the
// canonical form of want, as an independent consumer resolving the id would see it.
func idNames(t testing.TB, base string, id int, want avro.Schema) bool {
	t.Helper()
	resp, err := http.Get(base + "/schemas/ids/" + strconv.Itoa(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var body struct {
		Schema string `json:"schema"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got, err := avro.ParseWithCache(body.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return false
	}
	return got.String() == want.String()
}

// TestRegisterRechecksIDAfterRegistryReset is issue 11.2: the registry came back empty and
// handed the id the client had cached to another schema. Register must not answer the cached
// id: it registers the schema again and answers the id that names it now.
func TestRegisterRechecksIDAfterRegistryReset(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	ours, other := mustSchema(t, "payment_v1.avsc"), mustSchema(t, "plain.avsc")
	subject := Subject("test.reset")
	old, err := reg.Register(ctx, subject, ours)
	if err != nil {
		t.Fatal(err)
	}

	fake.Reset()
	fake.SeedSchema(Subject("someone.else"), 1, old, sr.Schema{Schema: schemaText(t, other)})

	id, err := reg.Register(ctx, subject, ours)
	if err != nil {
		t.Fatalf("Register after the reset: %v", err)
	}
	if !idNames(t, fake.URL(), id, ours) {
		t.Fatalf("Register after the reset answered id %d, which the registry gives to another schema (old id %d)", id, old)
	}
	if id == old {
		t.Fatalf("Register answered the old id %d", old)
	}
	// The schema cache now answers the new id with our schema.
	if s, err := reg.SchemaByID(ctx, id); err != nil || s.String() != ours.String() {
		t.Fatalf("SchemaByID(%d) = %v, %v", id, s, err)
	}
}

// TestRegisterLostSchemaRegistersAgain: the registry came back empty and nothing took the
// id: the schema is registered again, and the id it gets is used.
func TestRegisterLostSchemaRegistersAgain(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	ours := mustSchema(t, "payment_v1.avsc")
	subject := Subject("test.lost")
	if _, err := reg.Register(ctx, subject, ours); err != nil {
		t.Fatal(err)
	}
	fake.Reset()
	id, err := reg.Register(ctx, subject, ours)
	if err != nil {
		t.Fatalf("Register after the reset: %v", err)
	}
	if !fake.SubjectExists(subject) || !idNames(t, fake.URL(), id, ours) {
		t.Fatalf("Register after the reset answered id %d without registering the schema again", id)
	}
}

// TestRegisterRefusesStaleID: the id names another schema and ours cannot be registered
// again (here the registry refuses it as incompatible): Register fails with
// ErrSchemaIDMismatch, never answers the stale id, and CheckIDs reports it until a
// registration succeeds.
func TestRegisterRefusesStaleID(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	ours, other := mustSchema(t, "payment_v1.avsc"), mustSchema(t, "plain.avsc")
	subject := Subject("test.refuse")
	old, err := reg.Register(ctx, subject, ours)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.CheckIDs(ctx); err != nil {
		t.Fatalf("CheckIDs with a good id: %v", err)
	}

	fake.Reset()
	fake.SeedSchema(subject, 1, old, sr.Schema{Schema: schemaText(t, other)})
	if err := reg.CheckIDs(ctx); !errors.Is(err, ErrSchemaIDMismatch) || !strings.Contains(err.Error(), subject) {
		t.Fatalf("CheckIDs after the reset = %v, want ErrSchemaIDMismatch naming %s", err, subject)
	}
	refuse := true
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if refuse && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error_code":409,"message":"incompatible"}`)
			return true
		}
		return false
	})
	id, err := reg.Register(ctx, subject, ours)
	if err == nil {
		t.Fatalf("Register answered id %d; want a refusal, the old id %d names another schema", id, old)
	}
	if !errors.Is(err, ErrSchemaIDMismatch) || !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Register = %v, want ErrSchemaIDMismatch wrapping ErrIncompatible", err)
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), subject) || !strings.Contains(err.Error(), strconv.Itoa(old)) {
		t.Errorf("error %q does not name the subject and the stale id", err)
	}
	// Still refused on the next call, and readiness says so.
	if _, err := reg.Register(ctx, subject, ours); !errors.Is(err, ErrSchemaIDMismatch) {
		t.Fatalf("second Register = %v, want ErrSchemaIDMismatch", err)
	}
	if err := reg.CheckIDs(ctx); !errors.Is(err, ErrSchemaIDMismatch) {
		t.Fatalf("CheckIDs after a refusal = %v, want ErrSchemaIDMismatch", err)
	} else {
		t.Logf("readiness: %v", err)
	}

	// Once the registry takes the schema, its new id is used and readiness recovers.
	refuse = false
	id, err = reg.Register(ctx, subject, ours)
	if err != nil || id == old || !idNames(t, fake.URL(), id, ours) {
		t.Fatalf("Register once the registry accepts = %d, %v", id, err)
	}
	if err := reg.CheckIDs(ctx); err != nil {
		t.Fatalf("CheckIDs after the new registration: %v", err)
	}
}

// TestRegisterRefusesIDOfOtherSchema: a registry that answers a registration with an id that
// names another schema is not believed.
func TestRegisterRefusesIDOfOtherSchema(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	ours, other := mustSchema(t, "payment_v1.avsc"), mustSchema(t, "plain.avsc")
	otherID, _, err := fake.RegisterSchema(Subject("someone.else"), sr.Schema{Schema: schemaText(t, other)})
	if err != nil {
		t.Fatal(err)
	}
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			_, _ = io.WriteString(w, `{"id":`+strconv.Itoa(otherID)+`}`)
			return true
		}
		return false
	})
	if id, err := reg.Register(ctx, Subject("test.liar"), ours); !errors.Is(err, ErrSchemaIDMismatch) {
		t.Fatalf("Register = %d, %v; want ErrSchemaIDMismatch", id, err)
	}
}

// TestRegisterUnreachableRegistry: while the registry does not answer, a cached id is not
// confirmed, so Register fails (retryably) instead of answering it.
func TestRegisterUnreachableRegistry(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	ours := mustSchema(t, "payment_v1.avsc")
	subject := Subject("test.down")
	if _, err := reg.Register(ctx, subject, ours); err != nil {
		t.Fatal(err)
	}
	fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	id, err := reg.Register(ctx, subject, ours)
	if err == nil || !Retryable(err) || errors.Is(err, ErrSchemaIDMismatch) {
		t.Fatalf("Register with the registry down = %d, %v; want a retryable error", id, err)
	}
	if err := reg.CheckIDs(ctx); err == nil {
		t.Fatal("CheckIDs with the registry down passed")
	}
	fake.ClearInterceptors()
	if _, err := reg.Register(ctx, subject, ours); err != nil {
		t.Fatalf("Register once the registry is back: %v", err)
	}
}

// TestSameSchemaCanonical: a default or doc may differ (the wire format does not depend on
// them), a decimal's scale may not.
func TestSameSchemaCanonical(t *testing.T) {
	ours := mustSchema(t, "payment_v1.avsc")
	text := schemaText(t, ours)
	tests := []struct {
		name  string
		text  string
		match bool
	}{
		{"same", text, true},
		{"whitespace and doc", strings.Replace(text, `{`, "{ \"doc\": \"x\",\n ", 1), true},
		{"other schema", schemaText(t, mustSchema(t, "plain.avsc")), false},
		{"not avro", `{"type":"object"}`, false},
	}
	if strings.Contains(text, `"scale":2`) {
		tests = append(tests, struct {
			name  string
			text  string
			match bool
		}{"other scale", strings.Replace(text, `"scale":2`, `"scale":4`, 1), false})
	} else {
		t.Fatalf("payment_v1.avsc has no decimal of scale 2: %s", text)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameSchema(ours, tt.text); got != tt.match {
				t.Errorf("sameSchema = %v, want %v", got, tt.match)
			}
		})
	}
}

// TestSchemaIDCheckMetrics: every check is counted by result.
func TestSchemaIDCheckMetrics(t *testing.T) {
	ctx := t.Context()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	pr := prometheus.NewRegistry()
	reg, err := NewRegistry(fake.URL(), WithRegisterer(pr))
	if err != nil {
		t.Fatal(err)
	}
	ours, other := mustSchema(t, "payment_v1.avsc"), mustSchema(t, "plain.avsc")
	subject := Subject("test.metrics")
	old, err := reg.Register(ctx, subject, ours)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, subject, ours); err != nil {
		t.Fatal(err)
	}
	fake.Reset()
	fake.SeedSchema(Subject("someone.else"), 1, old, sr.Schema{Schema: schemaText(t, other)})
	if _, err := reg.Register(ctx, subject, ours); err != nil {
		t.Fatal(err)
	}
	fake.Reset()
	fake.SeedSchema(subject, 1, old+1, sr.Schema{Schema: schemaText(t, other)})
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusConflict)
			return true
		}
		return false
	})
	if _, err := reg.Register(ctx, subject, ours); !errors.Is(err, ErrSchemaIDMismatch) {
		t.Fatalf("Register = %v, want ErrSchemaIDMismatch", err)
	}
	want := `
# HELP personio_cdc_schema_id_checks_total Checks that a schema id still names the service's schema in the registry, by result (ok, replaced: registered again under a new id, refused: no id names the schema, error: no answer).
# TYPE personio_cdc_schema_id_checks_total counter
personio_cdc_schema_id_checks_total{result="error"} 0
personio_cdc_schema_id_checks_total{result="ok"} 2
personio_cdc_schema_id_checks_total{result="refused"} 1
personio_cdc_schema_id_checks_total{result="replaced"} 1
`
	if err := testutil.GatherAndCompare(pr, strings.NewReader(want), "personio_cdc_schema_id_checks_total"); err != nil {
		t.Error(err)
	}
}
