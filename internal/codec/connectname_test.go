package codec_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/schemas"
)

// TestRegisterKeepsConnectName (in package codec_test: schemas parses through codec) registers the service's value schemas, which carry a connect.name
// property for Kafka Connect (issue 13): the registry must store the property (Connect's Avro
// converters read it from the schema the id names), and Register must still confirm the id, since
// the check compares canonical forms, which leave properties out.
func TestRegisterKeepsConnectName(t *testing.T) {
	ctx := t.Context()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := codec.NewRegistry(fake.URL())
	if err != nil {
		t.Fatal(err)
	}
	for _, entity := range schemas.Names() {
		schema, err := schemas.Parse(entity)
		if err != nil {
			t.Fatal(err)
		}
		subject := codec.Subject("test." + entity)
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
