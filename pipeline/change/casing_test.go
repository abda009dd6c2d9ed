package change_test

import (
	"encoding/json"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Personio's persons spec has custom attribute types upper case in its enum and lower case in
// its examples. Both casings give the same normal form: a tenant that switches casing does not make every person look changed.
func TestAttributeTypeCasingGivesOneNormalForm(t *testing.T) {
	person := func(typ string) personio.Person {
		return personio.Person{ID: "3003", Email: "jen.doe@example.com", CustomAttributes: []personio.CustomAttribute{
			{ID: "dynamic_305", Type: typ, GlobalID: "color", Value: json.RawMessage(`"Red"`)},
		}}
	}
	hashes := map[string]change.Hash{}
	var norm change.Normalizer
	for _, typ := range []string{"STRING", "string", "String"} {
		rec, err := change.NewPerson(person(typ), nil)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := rec.CustomAttributes[0].Type; got == nil || *got != "STRING" {
			t.Fatalf("type %q normalized to %v, want STRING", typ, got)
		}
		h, err := change.ContentHash(rec)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := norm.Person(person(typ), nil)
		if err != nil {
			t.Fatalf("%s: Normalizer: %v", typ, err)
		}
		if lh, _ := change.ContentHash(listed); lh != h {
			t.Fatalf("%s: Normalizer and NewPerson disagree", typ)
		}
		hashes[typ] = h
	}
	if hashes["string"] != hashes["STRING"] || hashes["String"] != hashes["STRING"] {
		t.Fatalf("casings give different content: %v", hashes)
	}
}
