package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/personio-cdc/personio-cdc/schemas"
)

func TestNames(t *testing.T) {
	got := schemas.Names()
	want := []string{schemas.Compensations, schemas.Employments, schemas.Persons}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			s, err := schemas.Parse(name)
			if err != nil {
				t.Fatal(err)
			}
			rec, ok := s.(*avro.RecordSchema)
			if !ok {
				t.Fatalf("schema is %T, want a record", s)
			}
			if rec.Namespace() != "io.personio.cdc" {
				t.Errorf("namespace = %q", rec.Namespace())
			}
			for _, f := range []string{"event_id", "op", "ts_ms", "source", "before", "after", "changed_fields", "version"} {
				if !hasField(rec, f) {
					t.Errorf("envelope has no field %s", f)
				}
			}
		})
	}
	if _, err := schemas.Parse("nope"); err == nil {
		t.Error("Parse(nope) succeeded")
	}
}

func hasField(r *avro.RecordSchema, name string) bool {
	for _, f := range r.Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// TestDocEverywhere checks that every record and every field carries a doc, and that every
// nullable field defaults to null (so that future additions stay backward compatible).
func TestDocEverywhere(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			var root any
			if err := json.Unmarshal([]byte(schemas.MustSource(name)), &root); err != nil {
				t.Fatal(err)
			}
			var walk func(path string, v any)
			walk = func(path string, v any) {
				switch x := v.(type) {
				case []any:
					for _, e := range x {
						walk(path, e)
					}
				case map[string]any:
					if x["type"] == "record" {
						if doc, _ := x["doc"].(string); doc == "" {
							t.Errorf("record %s has no doc", x["name"])
						}
						for _, f := range x["fields"].([]any) {
							fm := f.(map[string]any)
							fp := path + "." + fm["name"].(string)
							if doc, _ := fm["doc"].(string); doc == "" {
								t.Errorf("field %s has no doc", fp)
							}
							if u, ok := fm["type"].([]any); ok && len(u) > 0 && u[0] == "null" {
								if d, ok := fm["default"]; !ok || d != nil {
									t.Errorf("nullable field %s does not default to null", fp)
								}
							}
							walk(fp, fm["type"])
						}
						return
					}
					walk(path, x["items"])
				}
			}
			walk(name, root)
		})
	}
}

// TestBackwardTransitive checks every current schema against every recorded version: the
// current schema must read data written with any of them.
func TestBackwardTransitive(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			current, err := schemas.Parse(name)
			if err != nil {
				t.Fatal(err)
			}
			history, err := schemas.History(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(history) == 0 {
				t.Fatal("no recorded versions: record the released schema as history/" + name + "/v1.avsc")
			}
			for i, text := range history {
				old, err := schemas.ParseText(text)
				if err != nil {
					t.Fatalf("v%d: %v", i+1, err)
				}
				if err := avro.NewSchemaCompatibility().Compatible(current, old); err != nil {
					t.Errorf("current schema cannot read v%d: %v", i+1, err)
				}
			}
		})
	}
}

// TestCompatibilityCheckBites makes sure the check above would catch incompatible edits.
func TestCompatibilityCheckBites(t *testing.T) {
	type field = map[string]any
	edits := map[string]func(fields []any) []any{
		"new required field": func(fs []any) []any {
			return append(fs, field{"name": "extra", "type": "long", "doc": "x"})
		},
		"changed type": func(fs []any) []any {
			for _, f := range fs {
				if f.(field)["name"] == "version" {
					f.(field)["type"] = "int"
				}
			}
			return fs
		},
		"renamed field": func(fs []any) []any {
			for _, f := range fs {
				if f.(field)["name"] == "event_id" {
					f.(field)["name"] = "id"
				}
			}
			return fs
		},
	}
	src := schemas.MustSource(schemas.Compensations)
	old, err := schemas.ParseText(src)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			var root field
			if err := json.Unmarshal([]byte(src), &root); err != nil {
				t.Fatal(err)
			}
			root["fields"] = edit(root["fields"].([]any))
			b, err := json.Marshal(root)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := schemas.ParseText(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := avro.NewSchemaCompatibility().Compatible(cur, old); err == nil {
				t.Error("incompatible edit passed the compatibility check")
			}
		})
	}
}

func TestHistoryMissingEntity(t *testing.T) {
	if _, err := schemas.History("nope"); err == nil {
		t.Error("History(nope) succeeded")
	}
}

// TestParseGlobalCache parses every schema with avro.Parse, which shares one name cache for
// the process, and checks that a named type defined in more than one schema (io.personio.cdc.Source)
// is the same type everywhere: its canonical form agrees. A consumer that loads all topics'
// schemas into one name space (Java's generated classes, one fastavro named_schemas, hamba's
// global cache, which silently keeps the last definition) would otherwise get one of two
// different types for the name. The persons schema defines io.personio.cdc.Employment as its
// list item, so the employments topic's record must be named otherwise.
func TestParseGlobalCache(t *testing.T) {
	defined := map[string]string{} // full name -> canonical form
	where := map[string]string{}   // full name -> schema that defined it first
	for _, name := range schemas.Names() {
		s, err := avro.Parse(schemas.MustSource(name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for full, canonical := range namedTypes(s) {
			if prev, ok := defined[full]; ok && prev != canonical {
				t.Errorf("%s defines %s unlike %s does", name, full, where[full])
				continue
			}
			defined[full], where[full] = canonical, name
		}
	}
	if _, ok := defined["io.personio.cdc.Source"]; !ok {
		t.Error("no schema defines io.personio.cdc.Source")
	}
}

// namedTypes returns the named types (records, enums, fixed) a schema defines, by full name,
// with their canonical forms.
func namedTypes(s avro.Schema) map[string]string {
	out := map[string]string{}
	var walk func(s avro.Schema)
	walk = func(s avro.Schema) {
		switch x := s.(type) {
		case *avro.RefSchema:
			return // defined where it first appears
		case *avro.RecordSchema:
			out[x.FullName()] = x.String()
			for _, f := range x.Fields() {
				walk(f.Type())
			}
		case *avro.EnumSchema:
			out[x.FullName()] = x.String()
		case *avro.FixedSchema:
			out[x.FullName()] = x.String()
		case *avro.UnionSchema:
			for _, u := range x.Types() {
				walk(u)
			}
		case *avro.ArraySchema:
			walk(x.Items())
		case *avro.MapSchema:
			walk(x.Values())
		}
	}
	walk(s)
	return out
}

// TestConnectName checks that every value schema carries the connect.name property Kafka
// Connect's Avro converters take as the Connect schema name, ending in ".Envelope": Debezium's
// ExtractNewRecordState unwraps only envelopes so named and passes every other record through
// unchanged. It must survive into the text the service registers (the parsed schema marshalled
// to JSON, as codec.Registry.Register sends it), and it is a property, not a rename: the record's
// full name, and with it the canonical form of every recorded version, stays as it was.
func TestConnectName(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			want := "io.personio.cdc." + name + ".Envelope"
			s, err := schemas.Parse(name)
			if err != nil {
				t.Fatal(err)
			}
			rec := s.(*avro.RecordSchema)
			if got, _ := rec.Prop("connect.name").(string); got != want {
				t.Errorf("connect.name = %q, want %q", got, want)
			}
			registered, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]any
			if err := json.Unmarshal(registered, &top); err != nil {
				t.Fatal(err)
			}
			if got := top["connect.name"]; got != want {
				t.Errorf("registered text carries connect.name %v, want %q", got, want)
			}
			history, err := schemas.History(name)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range history {
				old, err := schemas.ParseText(text)
				if err != nil {
					t.Fatal(err)
				}
				if old.(*avro.RecordSchema).FullName() != rec.FullName() {
					t.Errorf("v%d is named %s, the current schema %s", i+1, old.(*avro.RecordSchema).FullName(), rec.FullName())
				}
			}
		})
	}
}
