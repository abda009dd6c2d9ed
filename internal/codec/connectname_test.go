package codec

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestRegisterKeepsConnectName registers the service's value schemas, which carry a connect.name
// property for Kafka Connect (issue 13): the registry must store the property (Connect's Avro
// converters read it from the schema the id names), and Register must still confirm the id, since
// the check compares canonical forms, which leave properties out.
func TestRegisterKeepsConnectName(t *testing.T) {
	ctx := t.Context()
	fake, reg := newFakeRegistry(t)
	for _, entity := range schemas.Names() {
		schema, err := schemas.Parse(entity)
		if err != nil {
			t.Fatal(err)
		}
		subject := Subject("test." + entity)
		id, err := reg.Register(ctx, subject, schema)
		if err != nil {
			t.Fatalf("%s: Register: %v", entity, err)
		}
		if again, err := reg.Register(ctx, subject, schema); err != nil || again != id {
			t.Fatalf("%s: Register again = %d, %v; want %d confirmed", entity, again, err, id)
		}
		if err := reg.CheckIDs(ctx); err != nil {
			t.Fatalf("%s: CheckIDs: %v", entity, err)
		}
		resp, err := http.Get(fake.URL() + "/schemas/ids/" + strconv.Itoa(id))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Schema string `json:"schema"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]any
		if err := json.Unmarshal([]byte(body.Schema), &top); err != nil {
			t.Fatal(err)
		}
		if want := "io.personio.cdc." + entity + ".Envelope"; top["connect.name"] != want {
			t.Errorf("%s: the registry holds connect.name %v, want %q", entity, top["connect.name"], want)
		}
	}
}
