package personiotest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// specExample returns the value of components.examples[name] of a spec file, with Personio's
// origin replaced by origin so that our client follows its links.
func specExample(t *testing.T, file, name, origin string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(specDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Examples map[string]struct {
				Value json.RawMessage `json:"value"`
			} `json:"examples"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	ex, ok := doc.Components.Examples[name]
	if !ok || len(ex.Value) == 0 {
		t.Fatalf("%s has no example %s", file, name)
	}
	return []byte(strings.ReplaceAll(string(ex.Value), "https://api.personio.de", origin))
}

// withoutNext drops _meta.links.next from a list example: the last page.
func withoutNext(t *testing.T, body []byte) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if meta, ok := v["_meta"].(map[string]any); ok {
		if links, ok := meta["links"].(map[string]any); ok {
			delete(links, "next")
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// Personio's own examples decode through our client (token, a two-page persons listing, a
// person, employments) and normalize: the lower-case attribute type of the examples ("string",
// against the spec's enum) and the examples' termination.last_working_date (against the
// schema's last_working_day) are both understood.
func TestContractExamplesDecode(t *testing.T) {
	const persons, emps, creds = "persons-service-api-v2.json", "employment-contract-v2.json", "credentials-service-api-v2.json"
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v2/auth/token":
			body = specExample(t, creds, "OAuth2TokenSuccessAccessToken", srv.URL)
		case r.URL.Path == "/v2/persons" && r.URL.Query().Get("cursor") == "":
			body = specExample(t, persons, "PersonsListInMultiplePagesResponse", srv.URL)
		case r.URL.Path == "/v2/persons":
			body = withoutNext(t, specExample(t, persons, "PersonsListInSinglePageResponse", srv.URL))
		case strings.HasSuffix(r.URL.Path, "/employments"):
			body = withoutNext(t, specExample(t, emps, "EmploymentsListInMultiplePagesResponse", srv.URL))
		case strings.HasPrefix(r.URL.Path, "/v2/persons/"):
			body = specExample(t, persons, "PersonsResponse", srv.URL)
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := personio.New(personio.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "secret",
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	var listed []personio.Person
	if err := c.ListPersons(ctx, personio.PersonFilter{}, func(ps []personio.Person) error {
		listed = append(listed, ps...)
		return nil
	}); err != nil {
		t.Fatalf("ListPersons over the spec's examples: %v", err)
	}
	got, err := c.GetPerson(ctx, "3003")
	if err != nil {
		t.Fatalf("GetPerson over the spec's example: %v", err)
	}
	var employments []personio.Employment
	if err := c.ListEmployments(ctx, "3003", personio.EmploymentFilter{}, func(es []personio.Employment) error {
		employments = append(employments, es...)
		return nil
	}); err != nil {
		t.Fatalf("ListEmployments over the spec's example: %v", err)
	}
	if len(listed) < 2 || len(employments) == 0 {
		t.Fatalf("decoded %d persons over two pages and %d employments; want at least 2 and 1", len(listed), len(employments))
	}
	for _, p := range append(listed, got) {
		if p.ID == "" || p.Email == "" || p.ProfilePicture == nil || p.ProfilePicture.URL == "" || len(p.Employments) == 0 {
			t.Fatalf("example person decoded incompletely: %+v", p)
		}
		if len(p.CustomAttributes) == 0 {
			t.Fatalf("example person %s: no custom attributes decoded", p.ID)
		}
		for _, a := range p.CustomAttributes {
			if a.Type != "STRING" {
				t.Fatalf("example person %s: attribute %s type %q, want the enum's STRING", p.ID, a.ID, a.Type)
			}
		}
		rec, err := change.NewPerson(p, employments)
		if err != nil {
			t.Fatalf("normalize example person %s: %v", p.ID, err)
		}
		if rec.CustomAttributes[0].Type == nil || *rec.CustomAttributes[0].Type != "STRING" {
			t.Fatalf("normalized attribute type %v, want STRING", rec.CustomAttributes[0].Type)
		}
	}
	for _, e := range employments {
		if e.ID == "" || e.Person.ID == "" || e.WeeklyWorkingHours == nil || e.Termination == nil {
			t.Fatalf("example employment decoded incompletely: %+v", e)
		}
		if e.Termination.LastWorkingDay == "" {
			t.Errorf("example employment %s: termination.last_working_date was not read", e.ID)
		}
	}
}
