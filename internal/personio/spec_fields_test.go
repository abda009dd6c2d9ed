package personio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestEmploymentCoversTheSpec walks the Employment schema of Personio's employment spec
// (GET /v2/persons/{person_id}/employments) and checks that the client's Employment decodes
// every property, nested objects and list items included: the employments topic can only
// carry what the client reads. _meta (links) is the one property left out on purpose.
func TestEmploymentCoversTheSpec(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("personiotest", "testdata", "personio-v2", "employment-contract-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Ref        string                     `json:"$ref"`
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Items      json.RawMessage            `json:"items"`
	}
	resolve := func(b json.RawMessage) schema {
		var s schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
			if err := json.Unmarshal(spec.Components.Schemas[name], &s); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	jsonFields := func(t reflect.Type) map[string]reflect.Type {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		m := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			m[name] = t.Field(i).Type
		}
		return m
	}
	var checked []string
	var walk func(path string, s schema, goType reflect.Type)
	walk = func(path string, s schema, goType reflect.Type) {
		fields := jsonFields(goType)
		for name, prop := range s.Properties {
			if name == "_meta" {
				continue
			}
			p := resolve(prop)
			ft, ok := fields[name]
			if !ok {
				t.Errorf("the client's %s has no field for the spec's %s%s", goType, path, name)
				continue
			}
			checked = append(checked, path+name)
			switch {
			case p.Type == "array" && p.Items != nil:
				walk(path+name+"[].", resolve(p.Items), ft)
			case len(p.Properties) > 0:
				walk(path+name+".", p, ft)
			}
		}
	}
	walk("", resolve(spec.Components.Schemas["Employment"]), reflect.TypeFor[Employment]())
	slices.Sort(checked)
	for _, want := range []string{"cost_centers[].weight", "employment_start_date", "full_time_weekly_working_hours",
		"job.id", "legal_entity.id", "org_units[].type", "person.id", "position.title", "supervisor.id",
		"termination.reason", "termination.terminated_at", "termination.type", "updated_at"} {
		if !slices.Contains(checked, want) {
			t.Errorf("the walk did not reach %s (checked %v)", want, checked)
		}
	}
}
