package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
)

// attrIDs returns the ids and global ids of the custom attributes of a raw person.
func attrIDs(p map[string]any) []string {
	var out []string
	list, _ := p["custom_attributes"].([]any)
	for _, a := range list {
		m, _ := a.(map[string]any)
		id, _ := m["id"].(string)
		gid, _ := m["global_id"].(string)
		out = append(out, id, gid)
	}
	return out
}

func TestHiddenFieldsOption(t *testing.T) {
	opts := fixed(30, 7)
	opts.HiddenFields = []string{"email", "custom_attributes.dynamic_1207", "custom_attributes.shirt_size", "amount"}
	s := NewTestServer(t, opts)
	c := newAPIClient(t, s)

	persons := listAll[map[string]any](c, "/v2/persons?limit=50")
	if len(persons) != 30 {
		t.Fatalf("%d persons, want 30", len(persons))
	}
	kept := 0
	for _, p := range persons {
		if _, ok := p["email"]; ok {
			t.Fatalf("person %v carries the hidden email", p["id"])
		}
		if p["first_name"] == nil || p["id"] == nil {
			t.Fatalf("person %v lost a field that is not hidden", p["id"])
		}
		ids := attrIDs(p)
		if slices.Contains(ids, "dynamic_1207") || slices.Contains(ids, "dynamic_1201") || slices.Contains(ids, "shirt_size") {
			t.Fatalf("person %v carries a hidden custom attribute: %v", p["id"], ids)
		}
		var want []string
		for _, tp := range s.Truth().Persons {
			if tp.ID != p["id"] {
				continue
			}
			for _, a := range tp.CustomAttributes {
				if a.ID != "dynamic_1207" && a.ID != "dynamic_1201" {
					want = append(want, a.ID, a.GlobalID)
				}
			}
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("person %v has custom attributes %v, want %v", p["id"], ids, want)
		}
		kept += len(want)
	}
	if kept == 0 {
		t.Fatal("no custom attribute left to check")
	}
	id := persons[0]["id"].(string)
	resp, body := c.get("/v2/persons/" + id)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"email"`)) || !bytes.Contains(body, []byte(`"first_name"`)) {
		t.Fatalf("GET person: %d %s", resp.StatusCode, body)
	}

	comps := listAll[map[string]any](c, "/v2/compensations?limit=100")
	if len(comps) == 0 {
		t.Fatal("no compensations in the current month")
	}
	for _, cm := range comps {
		if _, ok := cm["amount"]; ok {
			t.Fatalf("compensation %v carries the hidden amount", cm["id"])
		}
		if cm["person"] == nil || cm["effective_from"] == nil {
			t.Fatalf("compensation %v lost a field that is not hidden", cm["id"])
		}
	}

	// The truth is what Personio holds, whatever the credential may read.
	for _, p := range s.Truth().Persons {
		if p.Email == "" || len(p.CustomAttributes) == 0 {
			t.Fatalf("truth person %s lost fields", p.ID)
		}
	}
	for _, cm := range s.Truth().Compensations {
		if len(cm.Amount.Value) == 0 {
			t.Fatalf("truth compensation %s lost its amount", cm.ID)
		}
	}
}

func TestSetHiddenFields(t *testing.T) {
	s := NewTestServer(t, fixed(12, 3))
	c := newAPIClient(t, s)
	_, before := c.get("/v2/persons?limit=50")
	if !bytes.Contains(before, []byte(`"email"`)) || !bytes.Contains(before, []byte(`"custom_attributes"`)) {
		t.Fatalf("persons without email or attributes: %s", before)
	}

	if err := s.SetHiddenFields([]string{"first_name", "custom_attributes", "first_name"}); err != nil {
		t.Fatal(err)
	}
	if got := s.HiddenFields(); !slices.Equal(got, []string{"custom_attributes", "first_name"}) {
		t.Errorf("HiddenFields() = %v", got)
	}
	for _, p := range listAll[map[string]any](c, "/v2/persons?limit=5") {
		_, fn := p["first_name"]
		_, ca := p["custom_attributes"]
		if fn || ca || p["email"] == nil {
			t.Fatalf("person with first_name and custom_attributes hidden: %v", p)
		}
	}

	if err := s.SetHiddenFields(nil); err != nil {
		t.Fatal(err)
	}
	if _, after := c.get("/v2/persons?limit=50"); !bytes.Equal(before, after) {
		t.Errorf("unhiding did not restore the replies byte for byte")
	}
	if got := s.HiddenFields(); got == nil || len(got) != 0 {
		t.Errorf("HiddenFields() = %#v, want an empty list", got)
	}

	for _, bad := range [][]string{{""}, {"a.b.c"}, {"id"}, {".x"}, {"custom_attributes."}} {
		if err := s.SetHiddenFields(bad); err == nil {
			t.Errorf("SetHiddenFields(%q) accepted", bad)
		}
	}
	if _, err := New(Options{HiddenFields: []string{"x..y"}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("New with a bad hidden field: %v, want ErrInvalidOptions", err)
	}
}

func TestAdminHiddenFields(t *testing.T) {
	s := NewTestServer(t, fixed(5, 1))
	put := func(body string) (int, []byte) {
		req, err := http.NewRequest(http.MethodPut, s.URL()+"/admin/hidden-fields", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := put(`["email","amount"]`); code != http.StatusOK || string(bytes.TrimSpace(body)) != `["amount","email"]` {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if got := s.HiddenFields(); !slices.Equal(got, []string{"amount", "email"}) {
		t.Errorf("HiddenFields() = %v after PUT", got)
	}
	resp, err := http.Get(s.URL() + "/admin/hidden-fields")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || !slices.Equal(got, []string{"amount", "email"}) {
		t.Errorf("GET: %v %v", got, err)
	}
	for _, bad := range []string{`{"email":true}`, `["a.b.c"]`, `not json`} {
		if code, _ := put(bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: status %d, want 400", bad, code)
		}
	}
	if got := s.HiddenFields(); !slices.Equal(got, []string{"amount", "email"}) {
		t.Errorf("a refused PUT changed the hidden fields to %v", got)
	}
	if code, body := put(`[]`); code != http.StatusOK || string(bytes.TrimSpace(body)) != `[]` {
		t.Fatalf("PUT []: %d %s", code, body)
	}
}
