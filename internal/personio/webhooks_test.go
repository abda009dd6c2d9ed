package personio_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func TestWebhookManagementAgainstSimulator(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 20, NoRateLimit: true, RateLimit: simUnlimited,
		Webhooks: personiotest.WebhookOptions{Backoff: time.Millisecond}})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited})
	got := make(chan personio.WebhookEvent, 100)
	auth := make(chan string, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev personio.WebhookEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("delivery: %v", err)
		}
		auth <- r.Header.Get("Authorization")
		got <- ev
	}))
	defer rcv.Close()

	const token = "Bearer wh-9f2c"
	w, err := c.CreateWebhook(t.Context(), personio.WebhookSpec{
		URL: rcv.URL + "/webhooks/personio", Description: "personio-cdc", Status: personio.WebhookEnabled,
		Token: token, EnabledEvents: personio.PersonEvents,
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.ID == "" || w.Status != personio.WebhookEnabled || w.AuthType != personio.WebhookAuthToken || len(w.EnabledEvents) != len(personio.PersonEvents) {
		t.Fatalf("created %+v", w)
	}
	ws, err := c.ListWebhooks(t.Context())
	if err != nil || len(ws) != 1 || ws[0].ID != w.ID {
		t.Fatalf("ListWebhooks = %+v, %v", ws, err)
	}

	// A second registration of the URL is refused, and the error does not carry the token.
	_, err = c.CreateWebhook(t.Context(), personio.WebhookSpec{URL: w.URL, Description: "again", Token: token, EnabledEvents: personio.PersonEvents})
	var apiErr *personio.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || strings.Contains(err.Error(), token) {
		t.Errorf("second registration: %v", err)
	}

	res := srv.Churn(personiotest.Churn{Renames: 1})
	ev := <-got
	if a := <-auth; a != token {
		t.Errorf("Authorization %q", a)
	}
	if ev.EventName != personio.EventPersonUpdated || ev.PersonID() != res.Renames[0] {
		t.Errorf("delivery %+v, person %q, want %s of %s", ev, ev.PersonID(), personio.EventPersonUpdated, res.Renames[0])
	}

	var listed []personio.WebhookEvent
	err = c.ListWebhookEvents(t.Context(), w.ID, personio.WebhookEventFilter{
		OccurredAfter: time.Now().Add(-time.Hour), EventNames: []string{personio.EventPersonUpdated}, Limit: 1,
	}, func(evs []personio.WebhookEvent) error {
		listed = append(listed, evs...)
		return nil
	})
	if err != nil || len(listed) != 1 || listed[0].ID == "" || listed[0].PersonID() != res.Renames[0] {
		t.Fatalf("ListWebhookEvents = %+v, %v", listed, err)
	}
	if _, err := listed[0].Occurred(); err != nil {
		t.Error(err)
	}

	if w, err = c.SetWebhookStatus(t.Context(), w.ID, personio.WebhookDisabled); err != nil || w.Status != personio.WebhookDisabled {
		t.Errorf("SetWebhookStatus = %+v, %v", w, err)
	}
	if err := c.DeleteWebhook(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteWebhook(t.Context(), w.ID); !errors.Is(err, personio.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := c.GetWebhook(t.Context(), w.ID); !errors.Is(err, personio.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}

func TestWebhookSpecRefusedBeforeSending(t *testing.T) {
	srv := personiotest.NewTestServer(t, personiotest.Options{Persons: 1, NoRateLimit: true})
	c := simClient(t, srv, personio.Config{RateLimit: unlimited})
	for name, spec := range map[string]personio.WebhookSpec{
		"no url":       {Description: "d", Token: "t", EnabledEvents: personio.PersonEvents},
		"no events":    {URL: "https://x.example.com", Description: "d", Token: "t"},
		"none + token": {URL: "https://x.example.com", Description: "d", AuthType: "NONE", Token: "t", EnabledEvents: personio.PersonEvents},
		"bad status":   {URL: "https://x.example.com", Description: "d", Status: "ON", EnabledEvents: personio.PersonEvents},
	} {
		if _, err := c.CreateWebhook(t.Context(), spec); !errors.Is(err, personio.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if srv.Stats().Requests["POST /v2/webhooks"] != nil {
		t.Errorf("an invalid spec was sent: %v", srv.Stats().Requests)
	}
	spec := personio.WebhookSpec{URL: "https://x.example.com", Token: "hush-42"}
	if s := spec.String(); strings.Contains(s, "hush-42") {
		t.Errorf("String shows the token: %s", s)
	}
}

func TestWebhookEventIDs(t *testing.T) {
	for _, tc := range []struct {
		name, payload, person, employment string
	}{
		{"person.updated", `{"id":"123"}`, "123", ""},
		{"person.deleted", `{"id":123}`, "123", ""},
		{"employment.updated", `{"id":"e-1","person":{"id":"77"}}`, "77", "e-1"},
		{"employment.terminated", `{"id":"e-1","person_id":78}`, "78", "e-1"},
		{"employment.created", `{"id":"e-1"}`, "", "e-1"},
		{"person.updated", `{"id":{"nested":1}}`, "", ""},
		{"person.updated", `[1]`, "", ""},
	} {
		ev := personio.WebhookEvent{EventName: tc.name, Payload: json.RawMessage(tc.payload)}
		if p, e := ev.PersonID(), ev.EmploymentID(); p != tc.person || e != tc.employment {
			t.Errorf("%s %s: person %q employment %q, want %q %q", tc.name, tc.payload, p, e, tc.person, tc.employment)
		}
	}
}
