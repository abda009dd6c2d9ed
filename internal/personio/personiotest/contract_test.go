package personiotest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The contract test checks the simulator's replies against Personio's official v2 specs, kept
// in testdata/personio-v2 with their provenance (testdata/personio-v2/SOURCE.txt: where each file
// comes from, its commit and SHA-256). They live in the repository so a fresh clone tests with Go
// alone; TestContractSpecsMatchSource checks that they are the files SOURCE.txt names. Missing
// specs fail the test: a simulator that is not checked against Personio is not trusted.
//
// Deliberate, documented deviations from a plain validation:
//   - The specs' servers (https://api.personio.de) are replaced by the simulator's URL so the
//     router matches requests; nothing about the payloads changes.
//   - The specs' examples are not validated as part of the document: Personio's own person
//     example sends a custom attribute type in lower case ("string"), which its enum does not
//     allow. Where the spec contradicts itself the simulator follows the schema (the enum:
//     TestContractAttributeTypesFollowTheEnum); the examples are instead decoded through our
//     client, which accepts both casings (TestContractExamplesDecode).
//   - The formats "email", "uri", "url" and "uuid" are not built into kin-openapi; they are
//     validated with document-scoped validators below rather than ignored.
//   - Statuses the specs do not document (401, 429, 5xx) are validated against the common
//     ErrorResponse schema of common-components-v2.json.
//   - Compensations have no public spec; they are checked against testdata/compensation.schema.json,
//     written from DESIGN.md §2.

// specFiles are the Personio specs the contract test loads, all in specDirName.
var specFiles = []string{
	"common-components-v2.json",
	"credentials-service-api-v2.json",
	"employment-contract-v2.json",
	"persons-service-api-v2.json",
}

// specDirName is where the specs live, relative to this package.
const specDirName = "testdata/personio-v2"

// specDir returns the directory holding the specs, relative to the working directory, or fails
// the test when one of them is missing.
func specDir(t testing.TB) string {
	t.Helper()
	for _, name := range specFiles {
		p := filepath.Join(specDirName, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			t.Fatalf("Personio v2 spec %s missing (%v): the specs belong in the repository, see %s/SOURCE.txt",
				p, err, specDirName)
		}
	}
	return specDirName
}

var formatOptions = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidator("email", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail)),
	openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
	openapi3.WithStringFormatValidator("uri", openapi3.NewCallbackValidator(absoluteURL)),
	openapi3.WithStringFormatValidator("url", openapi3.NewCallbackValidator(absoluteURL)),
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	return nil
}

type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t testing.TB, dir, name, baseURL string) spec {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", name, err)
	}
	doc.Servers = openapi3.Servers{{URL: baseURL}}
	r, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("router for %s: %v", name, err)
	}
	return spec{doc: doc, router: r}
}

// validate sends req and validates the reply against sp; it returns status and body.
func (sp spec) validate(t testing.TB, c *apiClient, req *http.Request, wantStatus int) []byte {
	t.Helper()
	route, params, err := sp.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no route in spec: %v", req.Method, req.URL, err)
	}
	var reqBody []byte
	if req.Body != nil {
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(req.Body)
		reqBody = b.Bytes()
		req.Body.Close()
		req.Body = readCloser(reqBody)
	}
	resp, body := c.do(req)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, resp.StatusCode, wantStatus, body)
	}
	if reqBody != nil {
		req.Body = readCloser(reqBody)
	}
	if err := sp.check(req, params, route, resp.StatusCode, resp.Header, body); err != nil {
		t.Fatalf("%s %s: reply violates the spec: %v\nbody: %.600s", req.Method, req.URL, err, body)
	}
	return body
}

func (sp spec) check(req *http.Request, params map[string]string, route *routers.Route, status int, h http.Header, body []byte) error {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 h,
		Options: &openapi3filter.Options{
			IncludeResponseStatus:   true,
			MultiError:              true,
			SchemaValidationOptions: formatOptions,
		},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

func readCloser(b []byte) *readCloserT { return &readCloserT{bytes.NewReader(b)} }

type readCloserT struct{ *bytes.Reader }

func (readCloserT) Close() error { return nil }

func TestContract(t *testing.T) {
	dir := specDir(t)
	s := NewTestServer(t, fixed(80, 21))
	c := newAPIClient(t, s)
	creds := loadSpec(t, dir, "credentials-service-api-v2.json", s.URL())
	persons := loadSpec(t, dir, "persons-service-api-v2.json", s.URL())
	emps := loadSpec(t, dir, "employment-contract-v2.json", s.URL())
	common := loadSpec(t, dir, "common-components-v2.json", s.URL())
	errSchema := common.doc.Components.Schemas["ErrorResponse"]
	if errSchema == nil || errSchema.Value == nil {
		t.Fatal("common-components-v2.json has no ErrorResponse schema")
	}
	get := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		return req
	}
	post := func(path string, form url.Values) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}

	t.Run("token", func(t *testing.T) {
		creds.validate(t, c, post("/v2/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}), 200)
		creds.validate(t, c, post("/v2/auth/token", url.Values{"client_id": {DefaultClientID}}), 400)
		creds.validate(t, c, post("/v2/auth/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {"wrong"}}), 400)
		creds.validate(t, c, post("/v2/auth/revoke", url.Values{"token": {"papi-unknown"}}), 200)
	})

	// Churned data too: hires, terminations, changed attributes and pay go through the
	// simulator's other code paths.
	s.Churn(Churn{Hires: 4, Terminations: 3, Renames: 2, EmailChanges: 2, AttributeChanges: 4, SalaryChanges: 3, Bonuses: 3,
		EmploymentChanges: 4, CostCenterChanges: 4})
	tr := s.Truth()
	// The spec marks no field required, but every example of a person carries
	// _meta.links.employments.href (and a client walks from a person to its employments by it).
	hasEmploymentsLink := func(t *testing.T, person []byte) {
		t.Helper()
		var p personLinks
		if err := json.Unmarshal(person, &p); err != nil || p.Meta == nil || p.Meta.Links["employments"].Href == "" {
			t.Fatalf("person without _meta.links.employments.href: %.300s", person)
		}
	}
	t.Run("persons", func(t *testing.T) {
		listed := 0
		for path := "/v2/persons?limit=50"; path != ""; {
			body := persons.validate(t, c, get(strings.TrimPrefix(path, s.URL())), 200)
			var p pageOf[json.RawMessage]
			_ = json.Unmarshal(body, &p)
			for _, item := range p.Data {
				hasEmploymentsLink(t, item)
				listed++
			}
			path = p.next()
		}
		if listed != len(tr.Persons) {
			t.Fatalf("validated %d persons, the truth has %d", listed, len(tr.Persons))
		}
		persons.validate(t, c, get("/v2/persons?status=INACTIVE&limit=3"), 200)
		persons.validate(t, c, get("/v2/persons?limit=0"), 400)
		persons.validate(t, c, get("/v2/persons?created_at.lt=wrong-date-format"), 400)
		for _, p := range tr.Persons[:10] {
			hasEmploymentsLink(t, persons.validate(t, c, get("/v2/persons/"+p.ID), 200))
		}
		persons.validate(t, c, get("/v2/persons/does-not-exist"), 404)
	})
	t.Run("the validator rejects wrong replies", func(t *testing.T) {
		req := get("/v2/persons/" + tr.Persons[0].ID)
		route, params, err := persons.router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Content-Type": {"application/json"}}
		good := s.data.byID[tr.Persons[0].ID].json
		if err := persons.check(req, params, route, 200, h, good); err != nil {
			t.Fatalf("valid person rejected: %v", err)
		}
		for name, body := range map[string]string{
			"unknown gender":       `{"id":"1","gender":"WOMAN"}`,
			"bad email":            `{"id":"1","email":"not an email"}`,
			"bad created_at":       `{"id":"1","created_at":"yesterday"}`,
			"lower-case attr type": `{"id":"1","custom_attributes":[{"id":"a","type":"string","value":"x"}]}`,
			"numeric attr value":   `{"id":"1","custom_attributes":[{"id":"a","type":"INT","value":3}]}`,
			"relative picture url": `{"id":"1","profile_picture":{"url":"/pic.jpg"}}`,
		} {
			if persons.check(req, params, route, 200, h, []byte(body)) == nil {
				t.Errorf("%s: accepted %s", name, body)
			}
		}
		if persons.check(req, params, route, 401, h, []byte(`{}`)) == nil {
			t.Error("an undocumented status was accepted")
		}
	})
	t.Run("employments", func(t *testing.T) {
		for _, p := range tr.Persons {
			emps.validate(t, c, get("/v2/persons/"+p.ID+"/employments"), 200)
			for _, e := range tr.Employments[p.ID] {
				emps.validate(t, c, get("/v2/persons/"+p.ID+"/employments/"+e.ID), 200)
			}
		}
		emps.validate(t, c, get("/v2/persons/"+tr.Persons[0].ID+"/employments?limit=1&updated_at.gt=2023-06-17T14:07:17Z&updated_at.lt=2030-06-17T14:07:17Z"), 200)
		emps.validate(t, c, get("/v2/persons/"+tr.Persons[0].ID+"/employments?updated_at=2023-06-17T14:07:17Z"), 200)
		emps.validate(t, c, get("/v2/persons/"+tr.Persons[0].ID+"/employments?updated_at.gt=wrong-date-format"), 400)
		emps.validate(t, c, get("/v2/persons/"+tr.Persons[0].ID+"/employments?limit=99"), 400)
		emps.validate(t, c, get("/v2/persons/nope/employments"), 404)
		emps.validate(t, c, get("/v2/persons/"+tr.Persons[0].ID+"/employments/nope"), 404)
	})
	t.Run("error bodies", func(t *testing.T) {
		check := func(name string, status int, req *http.Request) {
			t.Helper()
			resp, body := c.do(req)
			if resp.StatusCode != status {
				t.Fatalf("%s: status %d, want %d", name, resp.StatusCode, status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: content type %q", name, ct)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := errSchema.Value.VisitJSON(v, append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, formatOptions...)...); err != nil {
				t.Fatalf("%s: error body violates ErrorResponse: %v\n%s", name, err, body)
			}
		}
		noAuth := get("/v2/persons")
		noAuth.Header.Del("Authorization")
		check("401", 401, noAuth)
		s.SetFaults(Faults{P503: 1})
		check("503", 503, get("/v2/persons"))
		s.SetFaults(Faults{P504: 1})
		check("504", 504, get("/v2/compensations"))
		s.SetFaults(Faults{})
		check("400 compensations", 400, get("/v2/compensations?limit=500"))

		limited := NewTestServer(t, Options{Persons: 1, Seed: 1, RateLimit: Rate{PerMinute: 1, Burst: 1}, Now: func() time.Time { return testNow }})
		lc := newAPIClient(t, limited)
		_, _ = lc.get("/v2/persons") // spends the burst of 1
		req, _ := http.NewRequest(http.MethodGet, limited.URL()+"/v2/persons", nil)
		req.Header.Set("Authorization", "Bearer "+lc.token)
		check("429", 429, req)
	})
	t.Run("compensations", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("testdata", "compensation.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		var schema openapi3.Schema
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatalf("compensation.schema.json: %v", err)
		}
		if err := schema.Validate(context.Background()); err != nil {
			t.Fatalf("compensation.schema.json is not a valid schema: %v", err)
		}
		var n, asString int
		for _, month := range []string{"2025-12", "2026-01", "2026-02", "2026-03"} {
			from := month + "-01"
			to := month + "-28"
			for path := "/v2/compensations?limit=100&start_date=" + from + "&end_date=" + to; path != ""; {
				resp, body := c.get(path)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
				}
				var p pageOf[json.RawMessage]
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				if err := absoluteURL(p.Meta.Links["self"].Href); err != nil {
					t.Fatalf("self link: %v", err)
				}
				for _, item := range p.Data {
					var v any
					dec := json.NewDecoder(bytes.NewReader(item))
					dec.UseNumber()
					if err := dec.Decode(&v); err != nil {
						t.Fatal(err)
					}
					v = numbersToFloat(v)
					if err := schema.VisitJSON(v, append([]openapi3.SchemaValidationOption{openapi3.MultiErrors()}, formatOptions...)...); err != nil {
						t.Fatalf("compensation violates the DESIGN.md shape: %v\n%s", err, item)
					}
					if bytes.Contains(item, []byte(`"value":"`)) {
						asString++
					}
					n++
				}
				path = p.next()
			}
		}
		if n == 0 || asString == 0 {
			t.Fatalf("validated %d compensations, %d with string amounts; want both > 0", n, asString)
		}
		// The validator itself must reject a wrong shape.
		bad := map[string]any{"person": map[string]any{"id": "1"}, "amount": map[string]any{"value": "12,5", "currency": "EUR"}}
		if schema.VisitJSON(bad) == nil {
			t.Fatal("compensation schema accepted a malformed item")
		}
	})
}

func numbersToFloat(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToFloat(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToFloat(e)
		}
	}
	return v
}

// The persons spec contradicts itself: its enum of custom attribute types is upper case, its
// examples send "string". The simulator follows the enum, for every attribute of every person;
// our client accepts both (see internal/personio and pipeline/change tests).
func TestContractAttributeTypesFollowTheEnum(t *testing.T) {
	dir := specDir(t)
	s := NewTestServer(t, fixed(50, 21))
	persons := loadSpec(t, dir, "persons-service-api-v2.json", s.URL())
	enum := persons.doc.Components.Schemas["Person"].Value.Properties["custom_attributes"].Value.Items.Value.Properties["type"].Value.Enum
	allowed := map[string]bool{}
	for _, v := range enum {
		allowed[v.(string)] = true
	}
	if !allowed["STRING"] || allowed["string"] {
		t.Fatalf("the spec's enum is %v; this test expects it upper case", enum)
	}
	seen := map[string]bool{}
	for _, p := range s.Truth().Persons {
		for _, a := range p.CustomAttributes {
			if !allowed[a.Type] {
				t.Fatalf("person %s: attribute %s has type %q, not in the spec's enum %v", p.ID, a.ID, a.Type, enum)
			}
			seen[a.Type] = true
		}
	}
	if len(seen) < 6 {
		t.Errorf("attribute types served: %v; want every enum value but UNSPECIFIED", seen)
	}
}

func TestSpecDirMissingFails(t *testing.T) {
	// specDir must fail, not skip, when no specs are found.
	tmp := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(tmp); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		specDir(ft)
	}()
	if !ft.failed {
		t.Fatal("specDir did not fail without specs")
	}
}

// fatalRecorder records Fatalf instead of stopping the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

var errFatal = errors.New("fatal")

func (f *fatalRecorder) Fatalf(string, ...any) { f.failed = true; panic(errFatal) }
func (f *fatalRecorder) Fatal(...any)          { f.failed = true; panic(errFatal) }
func (f *fatalRecorder) Helper()               {}

// sourceSums reads the SHA-256 that SOURCE.txt records for each spec file.
func sourceSums(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(specDirName, "SOURCE.txt"))
	if err != nil {
		t.Fatalf("the specs' provenance: %v", err)
	}
	sums := map[string]string{}
	name := ""
	for _, line := range strings.Split(string(raw), "\n") {
		if m := sourceNameRE.FindStringSubmatch(line); m != nil {
			name = m[1]
			continue
		}
		if m := sourceSumRE.FindStringSubmatch(line); m != nil && name != "" {
			sums[name] = m[1]
			name = ""
		}
	}
	return sums
}

var (
	sourceNameRE = regexp.MustCompile(`^\d+\) (\S+\.json)\s*$`)
	sourceSumRE  = regexp.MustCompile(`^\s+sha256:\s+([0-9a-f]{64})\b`)
)

// The specs in testdata are the files SOURCE.txt names, unchanged, and every spec the contract
// test loads has its provenance recorded there.
func TestContractSpecsMatchSource(t *testing.T) {
	sums := sourceSums(t)
	for _, name := range specFiles {
		want, ok := sums[name]
		if !ok {
			t.Errorf("%s: no sha256 recorded in %s/SOURCE.txt", name, specDirName)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(specDirName, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(raw)); got != want {
			t.Errorf("%s: sha256 %s, SOURCE.txt records %s", name, got, want)
		}
	}
}
