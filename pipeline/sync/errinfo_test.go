package sync

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// personalData is what a Personio error body echoes in the test below; none of it may reach
// /status, a sync result or a log line.
var personalData = []string{"Jane", "Doe", "jane.doe", "example.com", "4242424", "cannot be listed"}

// echoingPersonio answers every persons listing with an error whose body echoes a person's
// name, e-mail address and id, and passes everything else to the simulator.
func echoingPersonio(t *testing.T, h *harness, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v2/persons" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			fmt.Fprint(w, `{"personio_trace_id":"7f3c-91ab","timestamp":"2026-12-06T09:00:00Z","errors":[`+
				`{"title":"Jane Doe (4242424) cannot be listed","detail":"person 4242424 Jane Doe <jane.doe@example.com> cannot be listed","type":"persons.invalid"}]}`)
			return
		}
		h.sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A Personio error body that echoes a name, an e-mail address and a person id must not reach
// /status, the sync result (what `sync --output json` prints), the error Run returns (what the
// scheduler and the command log) or the runner's log: they carry an error code, the entity,
// the HTTP status and the route template instead.
func TestRunErrorsCarryNoPersonalData(t *testing.T) {
	for _, status := range []int{http.StatusUnprocessableEntity, http.StatusForbidden, http.StatusBadRequest} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t, 10)
			client, err := personio.New(personio.Config{BaseURL: echoingPersonio(t, h, status), ClientID: personiotest.DefaultClientID,
				ClientSecret: personiotest.DefaultClientSecret, MaxAttempts: 1, RateLimit: unlimited, CompensationRateLimit: unlimited})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r := h.runner(func(c *Config) {
				c.Source = client
				c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			res, runErr := r.Run(t.Context(), Full)
			if res.Outcome == Complete {
				t.Fatalf("outcome %s, want the persons listing to fail", res.Outcome)
			}
			resJSON, _ := json.Marshal(res)
			stJSON, _ := json.Marshal(r.Status())
			errText := ""
			if runErr != nil {
				errText = runErr.Error()
			}
			for what, text := range map[string]string{"result": string(resJSON), "status": string(stJSON),
				"error": errText, "log": logs.String()} {
				for _, pd := range personalData {
					if strings.Contains(text, pd) {
						t.Errorf("%s carries %q: %s", what, pd, text)
					}
				}
			}
			var ps EntityStatus
			for _, e := range r.Status().Entities {
				if e.Entity == string(change.Persons) {
					ps = e
				}
			}
			d := ps.LastErrorDetail
			wantCode := CodePersonioHTTP + fmt.Sprint(status)
			if status == http.StatusForbidden {
				wantCode = CodeCredentialRefused
			}
			if d == nil || d.Code != wantCode || d.Entity != "persons" || d.HTTPStatus != status ||
				d.Endpoint != "GET /v2/persons" || d.TraceID != "7f3c-91ab" {
				t.Errorf("persons last error %+v, want code %s, entity, status %d, endpoint and trace id", d, wantCode, status)
			}
			if status == http.StatusForbidden && (runErr == nil || !strings.Contains(d.Setting, "PERSONIO_CLIENT_SECRET")) {
				t.Errorf("a refused credential: error %v, detail %+v, want the settings to check", runErr, d)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	api := &personio.APIError{Status: 500, Endpoint: "GET /v2/compensations", TraceID: "jane@example.com",
		Type: "Jane Doe"}
	tests := []struct {
		name string
		err  error
		want ErrorInfo
	}{
		{"mass delete", fmt.Errorf("x: %w", &diff.MassDeleteError{Entity: change.Persons, Deletes: 9, Count: 10, Ratio: 0.2}),
			ErrorInfo{Code: CodeMassDelete, Entity: "persons", Count: 9}},
		{"field loss", &diff.FieldLossError{Entity: change.Persons, Field: "email", Lost: 5, Count: 10, Ratio: 0.2},
			ErrorInfo{Code: CodeFieldLoss, Entity: "persons", Field: "email", Count: 5}},
		{"listing with a server error, trace id that is no trace id dropped",
			&locatedError{entity: "compensations", scope: "compensations:2026-11",
				err: fmt.Errorf("compensations:2026-11: %w: %w", extract.ErrIncomplete, api)},
			ErrorInfo{Code: "personio.http_500", Entity: "compensations", Scope: "compensations:2026-11", HTTPStatus: 500,
				Endpoint: "GET /v2/compensations"}},
		{"listing broken off", &locatedError{entity: "persons", scope: "persons",
			err: fmt.Errorf("persons: %w: %w", extract.ErrIncomplete, errors.New("person 77 gone"))},
			ErrorInfo{Code: CodeListingBroken, Entity: "persons", Scope: "persons"}},
		{"invalid items: ids in the path become *", &locatedError{entity: "persons", scope: "persons", count: 2,
			err: fmt.Errorf("2 items skipped: %w", &change.FieldError{Entity: change.Persons, ID: "4242",
				Field: "employments.4711.weekly_working_hours", Reason: `strconv.ParseFloat: parsing "4242": invalid syntax`})},
			ErrorInfo{Code: CodeRecordInvalid, Entity: "persons", Scope: "persons", Count: 2, Field: "employments.*.weekly_working_hours"}},
		{"a month too large even for one day: the code is Personio's error type",
			&locatedError{entity: "compensations", scope: "compensations:2026-11",
				err: fmt.Errorf("compensations:2026-11: %w: %w", extract.ErrIncomplete, &extract.TooMuchDataError{
					Window: personio.Window{Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
					Limit:  12, Err: &personio.APIError{Status: 422, Endpoint: "GET /v2/compensations",
						Type: "compensations.unprocessable_content"}})},
			ErrorInfo{Code: "personio.compensations.unprocessable_content", Entity: "compensations", Scope: "compensations:2026-11",
				HTTPStatus: 422, Endpoint: "GET /v2/compensations", ErrorType: "compensations.unprocessable_content"}},
		{"503 of the compensations API after every retry",
			fmt.Errorf("x: %w", &personio.APIError{Status: 503, Endpoint: "GET /v2/compensations",
				Type: "https://developer.personio.de/reference/errors#compensations.service_unavailable"}),
			ErrorInfo{Code: "personio.compensations.service_unavailable", HTTPStatus: 503, Endpoint: "GET /v2/compensations",
				ErrorType: "compensations.service_unavailable"}},
		{"an error type that is free text is not passed on",
			fmt.Errorf("x: %w", &personio.APIError{Status: 400, Endpoint: "GET /v2/persons", Type: "Jane Doe is unknown"}),
			ErrorInfo{Code: "personio.http_400", HTTPStatus: 400, Endpoint: "GET /v2/persons"}},
		{"repeated cursor", fmt.Errorf("list: %w", personio.ErrRepeatedCursor), ErrorInfo{Code: CodeBadNextLink}},
		{"registry down: its address, without user or path", fmt.Errorf("register: %w", &codec.RegistryError{Op: "register",
			Subject: "personio.persons-value", Err: &url.Error{Op: "Post", URL: "http://svc:pw@127.0.0.1:8081/subjects/x?y=1",
				Err: errors.New("connection refused")}}),
			ErrorInfo{Code: CodeRegistry, Host: "127.0.0.1:8081"}},
		{"state rebuild: the topic, not the key of the record", atStage(CodeStateRebuild, "the state could not be rebuilt",
			&locatedError{entity: "persons", scope: "personio.persons",
				err: fmt.Errorf("state: rebuild persons: event e names key %q: %w", "acme:4242", codec.ErrBadMagicByte)}),
			ErrorInfo{Code: CodeStateRebuild, Entity: "persons", Scope: "personio.persons"}},
		{"unknown", errors.New("jane@example.com"), ErrorInfo{Code: CodeUnclassified}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(tt.err)
			msg := got.Message
			got.Message, got.Setting = "", ""
			if got != tt.want {
				t.Errorf("Describe = %+v, want %+v", got, tt.want)
			}
			text := Describe(tt.err).String()
			for _, pd := range []string{"Jane", "jane", "4242", "123456", "77", "parsing"} {
				if strings.Contains(text, pd) {
					t.Errorf("%q carries %q", text, pd)
				}
			}
			if msg == "" {
				t.Error("no message")
			}
		})
	}
}

// A person Personio serves with an unusable field is skipped; the result and /status name the
// field and the count, never the person's id (a change.FieldError's text holds it).
func TestRunInvalidItemErrorCarriesNoID(t *testing.T) {
	h := newHarness(t, 10)
	victim := h.sim.Truth().Persons[3].ID
	src := &tamperSource{Source: h.client, persons: func(ps []personio.Person) []personio.Person {
		for i := range ps {
			if ps[i].ID == victim {
				ps[i].CreatedAt = "not-a-time"
			}
		}
		return ps
	}}
	r := h.runner(func(c *Config) { c.Source = src })
	res, _ := r.Run(t.Context(), Full)
	resJSON, _ := json.Marshal(res)
	stJSON, _ := json.Marshal(r.Status())
	for what, text := range map[string]string{"result": string(resJSON), "status": string(stJSON)} {
		if strings.Contains(text, `\"`+victim+`\"`) || strings.Contains(text, " "+victim+" ") || strings.Contains(text, `"`+victim+`"`) {
			t.Errorf("%s carries the person id %s: %s", what, victim, text)
		}
		if !strings.Contains(text, "created_at") {
			t.Errorf("%s does not name the field: %s", what, text)
		}
	}
}

// TestDescribeNamesTheSettingOfARefusal: a registry that refuses the credential, or a broker
// certificate that does not verify, names the settings to fix (they named SCHEMA_REGISTRY_URL
// and nothing).
func TestDescribeNamesTheSettingOfARefusal(t *testing.T) {
	for _, tt := range []struct {
		err           error
		code, setting string
	}{
		{fmt.Errorf("register: %w", &codec.RegistryError{Op: "look up", Status: http.StatusUnauthorized}),
			CodeRegistry, "SCHEMA_REGISTRY_USERNAME, SCHEMA_REGISTRY_PASSWORD"},
		{atStage(CodeKafkaTopics, "the output topics could not be created or checked",
			fmt.Errorf("kafka: metadata: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})),
			CodeKafkaTopics, "KAFKA_TLS_CA_FILE"},
		{fmt.Errorf("sync: %w", kafkago.SASLAuthenticationFailed), CodeKafkaAuth, "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"},
	} {
		got := Describe(tt.err)
		if got.Code != tt.code || got.Setting != tt.setting {
			t.Errorf("Describe(%v) = code %s setting %q, want %s and %q", tt.err, got.Code, got.Setting, tt.code, tt.setting)
		}
	}
}
