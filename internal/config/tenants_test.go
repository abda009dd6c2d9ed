package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Secrets of the tenant fixtures; none may ever be printed.
const (
	acmeSecret   = "tenant-secret-acme-41d7"
	globexSecret = "tenant-secret-globex-90ab"
	pastedSecret = "tenant-secret-pasted-c3f2" // pasted where a path or a value should be
)

var tenantSecrets = []string{acmeSecret, globexSecret, pastedSecret}

// tenantDir makes a directory with the secret files the fixtures name: secrets/acme,
// secrets/globex, secrets/empty, and a directory secrets/dir.
func tenantDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "secrets", "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "secrets", "acme"), []byte(acmeSecret+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "secrets", "globex"), []byte(globexSecret), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "secrets", "empty"), []byte("\n"), 0o600))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeTenants(t *testing.T, dir, doc string) string {
	t.Helper()
	p := filepath.Join(dir, "tenants.yaml")
	must(t, os.WriteFile(p, []byte(doc), 0o644))
	return p
}

// tenantBase is the process's settings under a tenants file: no tenant of its own.
func tenantBase() Config {
	c := Default()
	c.Kafka.Brokers = []string{"kafka-1:9092", "kafka-2:9092"}
	c.Sync.FullInterval = 2 * time.Hour
	c.Personio.RateLimitPerMinute = 240
	return c
}

const twoTenants = `
defaults:
  rate_burst: 10
  incremental_sync_interval: 10m
tenants:
  - name: acme-gmbh
    client_id: papi-acme
    client_secret_file: secrets/acme
    rate_limit_per_minute: 600
    full_sync_interval: 30m
    entities: [persons, employments]
    employment_refresh_period: 12h
    compensation_lookback_months: 5
    delete_guard_ratio: 0.05
  - name: globex
    client_id: papi-globex
    client_secret_file: secrets/globex
    app_id: globex-app
`

func TestLoadTenantsOverrides(t *testing.T) {
	dir := tenantDir(t)
	base := tenantBase()
	cfgs, err := LoadTenants(writeTenants(t, dir, twoTenants), base)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Fatalf("%d tenants, want 2", len(cfgs))
	}
	acme, globex := cfgs[0], cfgs[1]
	checks := []struct {
		name string
		ok   bool
	}{
		{"names in file order", acme.Personio.Tenant == "acme-gmbh" && globex.Personio.Tenant == "globex"},
		{"client ids", acme.Personio.ClientID == "papi-acme" && globex.Personio.ClientID == "papi-globex"},
		{"secrets from their files, trailing newline cut", acme.Personio.ClientSecret.Value() == acmeSecret && globex.Personio.ClientSecret.Value() == globexSecret},
		{"a tenant's budget wins", acme.Personio.RateLimitPerMinute == 600},
		{"the process's budget otherwise", globex.Personio.RateLimitPerMinute == 240},
		{"defaults over the process", acme.Personio.RateBurst == 10 && globex.Personio.RateBurst == 10},
		{"a tenant's interval wins", acme.Sync.FullInterval == 30*time.Minute},
		{"the process's interval otherwise", globex.Sync.FullInterval == 2*time.Hour},
		{"default interval", acme.Sync.IncrementalInterval == 10*time.Minute && globex.Sync.IncrementalInterval == 10*time.Minute},
		{"a tenant's entities", reflect.DeepEqual(acme.Sync.Synced(), []change.Entity{change.Persons, change.Employments})},
		{"every entity otherwise", reflect.DeepEqual(globex.Sync.Synced(), change.Entities())},
		{"refresh, look-back, guard", acme.Sync.EmploymentRefreshPeriod == 12*time.Hour && acme.Sync.CompensationLookbackMonths == 5 && acme.Sync.DeleteGuardRatio == 0.05},
		{"their defaults otherwise", globex.Sync.EmploymentRefreshPeriod == 24*time.Hour && globex.Sync.CompensationLookbackMonths == 2 && globex.Sync.DeleteGuardRatio == 0.2},
		{"app id", globex.Personio.AppID == "globex-app" && acme.Personio.AppID == ""},
		{"the rest is the process's", reflect.DeepEqual(acme.Kafka, base.Kafka) && reflect.DeepEqual(globex.SchemaRegistry, base.SchemaRegistry) && acme.Admin == base.Admin},
		{"no tenants file of their own", acme.Tenants.File == "" && globex.Tenants.File == ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: acme %+v\nglobex %+v", c.name, acme, globex)
		}
	}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			t.Errorf("tenant %s does not validate: %v", c.Personio.Tenant, err)
		}
	}
	// Tenants share nothing they could change for one another.
	cfgs[0].Kafka.Brokers[0] = "changed:1"
	if cfgs[1].Kafka.Brokers[0] != "kafka-1:9092" || base.Kafka.Brokers[0] != "kafka-1:9092" {
		t.Error("tenants share the brokers slice")
	}
}

// The file's entity selection is the whole selection: it turns employments on or off whatever
// SYNC_EMPLOYMENT_DETAILS and SYNC_ENTITIES say.
func TestLoadTenantsEntitySelection(t *testing.T) {
	dir := tenantDir(t)
	base := tenantBase()
	base.Sync.EmploymentDetails = false
	base.Sync.Entities = []change.Entity{change.Persons}
	cfgs, err := LoadTenants(writeTenants(t, dir, `
tenants:
  - {name: a, client_id: ca, client_secret_file: secrets/acme, entities: [employments, persons]}
  - {name: b, client_id: cb, client_secret_file: secrets/acme, entities: [compensations]}
  - {name: c, client_id: cc, client_secret_file: secrets/acme}
`), base)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]change.Entity{
		{change.Persons, change.Employments},
		{change.Compensations},
		{change.Persons},
	}
	for i, c := range cfgs {
		if got := c.Sync.Synced(); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("tenant %s syncs %v, want %v", c.Personio.Tenant, got, want[i])
		}
	}
}

func TestLoadTenantsErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string // "" leaves the file out
		want []string
	}{
		{"no file", "", []string{"tenants.yaml: cannot be read: not found"}},
		{"empty file", "\n# nothing\n", []string{"is empty"}},
		{"empty list", "tenants: []\n", []string{"lists no tenant"}},
		{"no list", "defaults:\n  rate_burst: 3\n", []string{"lists no tenant"}},
		{"not a mapping", "- name: a\n", []string{"must be a mapping with tenants:"}},
		{"tenants not a list", "tenants: acme\n", []string{"tenants: must be a list of tenants"}},
		{"a tenant not a mapping", "tenants:\n  - acme\n", []string{"tenant #1: must be a mapping"}},
		{"two documents", "tenants: []\n---\ntenants: []\n", []string{"more than one YAML document"}},
		{"not YAML", "tenants: [\n", []string{"is not YAML"}},
		{"unknown top-level field", "tenant:\n  - name: a\n", []string{`tenants.yaml:1: unknown field "tenant"`}},
		{"unknown field of a tenant", `
tenants:
  - name: acme
    client_id: c1
    client_secret_file: secrets/acme
  - name: globex
    client_id: c2
    client_secret_file: secrets/globex
    rate_limt_per_minute: 5
`, []string{`tenants.yaml:9: tenant #2 "globex": unknown field "rate_limt_per_minute" (known: name, client_id`}},
		{"unknown field of the defaults", "defaults:\n  full_sync: 1h\ntenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme}\n",
			[]string{`tenants.yaml:2: defaults: unknown field "full_sync"`}},
		{"a tenant's own field in the defaults", "defaults:\n  client_id: c\ntenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme}\n",
			[]string{`defaults: client_id belongs to each tenant`}},
		{"a field twice", "tenants:\n  - name: a\n    client_id: c\n    client_id: d\n    client_secret_file: secrets/acme\n",
			[]string{`tenants.yaml:4: tenant #1 "a": client_id is given twice`}},
		{"inline secret", "tenants:\n  - name: a\n    client_id: c\n    client_secret: " + pastedSecret + "\n    client_secret_file: secrets/acme\n",
			[]string{`tenants.yaml:4: tenant #1 "a": client_secret is not allowed: secrets come from files only`}},
		{"inline secret in the defaults", "defaults:\n  client_secret: " + pastedSecret + "\ntenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme}\n",
			[]string{`defaults: client_secret is not allowed`}},
		{"secret where a mapping belongs", "defaults: " + pastedSecret + "\ntenants: []\n", []string{"defaults: must be a mapping"}},
		{"missing name, id and secret file", "tenants:\n  - rate_burst: 3\n", []string{
			`tenants.yaml:2: tenant #1: client_secret_file is required`,
			`tenant #1: name is required`,
			`tenant #1: client_id is required`}},
		{"bad name", "tenants:\n  - {name: 'acme:gmbh', client_id: c, client_secret_file: secrets/acme}\n",
			[]string{`tenant #1 "acme:gmbh": name "acme:gmbh" must be 1-63 letters, digits`}},
		{"secret file missing", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/none}\n",
			[]string{`tenant #1 "a": client_secret_file: the file it names cannot be read: not found`}},
		{"secret file is a directory", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/dir}\n",
			[]string{`client_secret_file: the file it names cannot be read: it is a directory`}},
		{"secret file empty", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/empty}\n",
			[]string{`tenant #1 "a": client_secret_file: the file it names is empty`}},
		{"secret pasted as the path", "tenants:\n  - {name: a, client_id: c, client_secret_file: " + pastedSecret + "}\n",
			[]string{`client_secret_file: the file it names cannot be read: not found (its value is not printed`}},
		{"bad duration", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, full_sync_interval: 1x}\n",
			[]string{`tenants.yaml:2: tenant #1 "a": full_sync_interval: "1x" is not a duration`}},
		{"bad number", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, rate_limit_per_minute: lots}\n",
			[]string{`tenant #1 "a": rate_limit_per_minute: "lots" is not a number`}},
		{"value out of range", "tenants:\n  - name: a\n    client_id: c\n    client_secret_file: secrets/acme\n    rate_burst: 0\n",
			[]string{`tenants.yaml:5: tenant #1 "a": rate_burst must be at least 1`}},
		{"no value", "tenants:\n  - name: a\n    client_id: c\n    client_secret_file: secrets/acme\n    rate_burst:\n",
			[]string{`tenant #1 "a": rate_burst has no value`}},
		{"a list where a value belongs", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, rate_burst: [1]}\n",
			[]string{`tenant #1 "a": rate_burst must be a single value`}},
		{"cross-field rule", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, incremental_sync_interval: 3h}\n",
			[]string{`tenant #1 "a": incremental_sync_interval (3h0m0s) must be shorter than FULL_SYNC_INTERVAL (2h0m0s)`}},
		{"unknown entity", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, entities: [persons, absences]}\n",
			[]string{`tenant #1 "a": entities: "absences" is not an entity`}},
		{"no entity", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, entities: []}\n",
			[]string{`tenant #1 "a": entities names no entity`}},
		{"employments without persons", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, entities: [employments]}\n",
			[]string{`tenant #1 "a": entities names employments without persons`}},
		{"an entity twice", "tenants:\n  - {name: a, client_id: c, client_secret_file: secrets/acme, entities: [persons, persons]}\n",
			[]string{`tenant #1 "a": entities: names persons twice`}},
		{"bad default reported once", "defaults:\n  rate_burst: 0\ntenants:\n  - {name: a, client_id: c1, client_secret_file: secrets/acme}\n  - {name: b, client_id: c2, client_secret_file: secrets/acme}\n",
			[]string{`tenants.yaml:2: defaults: rate_burst must be at least 1`}},
		{"duplicate names", "tenants:\n  - {name: acme, client_id: c1, client_secret_file: secrets/acme}\n  - {name: ACME, client_id: c2, client_secret_file: secrets/globex}\n",
			[]string{`tenants.yaml:3: tenant #2 "ACME": has the name of tenant #1 "acme"`}},
		{"one credential, two names", "tenants:\n  - {name: acme, client_id: c1, client_secret_file: secrets/acme}\n  - {name: acme2, client_id: c1, client_secret_file: secrets/acme}\n",
			[]string{`tenant #2 "acme2": has the client_id of tenant #1 "acme": one Personio account under two names`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tenantDir(t)
			path := filepath.Join(dir, "tenants.yaml")
			if tt.doc != "" {
				path = writeTenants(t, dir, tt.doc)
			}
			cfgs, err := LoadTenants(path, tenantBase())
			if err == nil {
				t.Fatalf("loaded %d tenants, want an error", len(cfgs))
			}
			if cfgs != nil {
				t.Errorf("returned %d tenants with an error", len(cfgs))
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T, want *Error: %v", err, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%s", w, msg)
				}
			}
			if tt.name == "bad default reported once" && len(ce.Problems) != 1 {
				t.Errorf("%d problems, want the default's once:\n%s", len(ce.Problems), msg)
			}
			for _, p := range ce.Problems {
				if p.Setting != "TENANTS_FILE" {
					t.Errorf("problem of %q, want TENANTS_FILE: %s", p.Setting, p.Message)
				}
			}
			for _, s := range tenantSecrets {
				if strings.Contains(msg, s) {
					t.Errorf("error prints a secret:\n%s", msg)
				}
			}
		})
	}
}

// A tenant's Config prints, logs and encodes no secret, like any Config.
func TestTenantConfigRedactsSecrets(t *testing.T) {
	dir := tenantDir(t)
	cfgs, err := LoadTenants(writeTenants(t, dir, twoTenants), tenantBase())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
		for name, out := range map[string]string{
			"String": c.String(), "JSON": string(j), "log": logged.String(),
			"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		} {
			for _, s := range tenantSecrets {
				if strings.Contains(out, s) {
					t.Errorf("%s of tenant %s prints its secret", name, c.Personio.Tenant)
				}
			}
			if name == "JSON" && !strings.Contains(out, `"PERSONIO_TENANT":"`+c.Personio.Tenant+`"`) {
				t.Errorf("JSON does not name the tenant: %s", out)
			}
		}
	}
}

func TestTenantsWithoutFile(t *testing.T) {
	base := tenantBase()
	base.Personio.Tenant = "solo"
	cfgs, err := Tenants(base)
	if err != nil || len(cfgs) != 1 || !reflect.DeepEqual(cfgs[0], base) {
		t.Fatalf("Tenants without a file = %d configs, %v; want the process's own", len(cfgs), err)
	}
	dir := tenantDir(t)
	base = tenantBase()
	base.Tenants.File = writeTenants(t, dir, twoTenants)
	cfgs, err = Tenants(base)
	if err != nil || len(cfgs) != 2 {
		t.Fatalf("Tenants with a file = %d configs, %v; want the file's 2", len(cfgs), err)
	}
}

// With TENANTS_FILE the process's settings name no tenant and no credential: each tenant of
// the file has its own; one given in the environment as well is an error, not a guess.
func TestLoadWithTenantsFile(t *testing.T) {
	env := map[string]string{"TENANTS_FILE": "/etc/personio-cdc/tenants.yaml"}
	c, err := Load(nil, mapEnv(env))
	if err != nil {
		t.Fatalf("TENANTS_FILE alone: %v", err)
	}
	if c.Tenants.File != "/etc/personio-cdc/tenants.yaml" || c.Tenants.PollInterval != 10*time.Second {
		t.Errorf("tenants source %+v", c.Tenants)
	}
	env["PERSONIO_TENANT"] = "acme"
	env["PERSONIO_CLIENT_ID"] = "c"
	env["PERSONIO_CLIENT_SECRET"] = pastedSecret
	env["TENANTS_POLL_INTERVAL"] = "10ms"
	_, err = Load(nil, mapEnv(env))
	if err == nil {
		t.Fatal("TENANTS_FILE with PERSONIO_TENANT loaded")
	}
	for _, w := range []string{"PERSONIO_TENANT is set, but TENANTS_FILE", "PERSONIO_CLIENT_ID is set, but TENANTS_FILE",
		"PERSONIO_CLIENT_SECRET is set, but TENANTS_FILE", "TENANTS_POLL_INTERVAL must be at least 1s"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), pastedSecret) {
		t.Errorf("error prints the secret: %v", err)
	}
	// Without the file they are required, as before.
	_, err = Load(nil, mapEnv(map[string]string{}))
	if err == nil || !strings.Contains(err.Error(), "PERSONIO_TENANT is required") {
		t.Errorf("no tenant and no file: %v", err)
	}
}

func TestSyncEntitiesSetting(t *testing.T) {
	base := map[string]string{"PERSONIO_TENANT": "a", "PERSONIO_CLIENT_ID": "c", "PERSONIO_CLIENT_SECRET": "s"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		env     map[string]string
		want    []change.Entity
		wantErr string
	}{
		{with(), change.Entities(), ""},
		{with("SYNC_ENTITIES", "persons, compensations"), []change.Entity{change.Persons, change.Compensations}, ""},
		{with("SYNC_ENTITIES", "compensations,persons,employments"), []change.Entity{change.Persons, change.Compensations, change.Employments}, ""},
		{with("SYNC_EMPLOYMENT_DETAILS", "false"), []change.Entity{change.Persons, change.Compensations}, ""},
		{with("SYNC_ENTITIES", "persons,employments", "SYNC_EMPLOYMENT_DETAILS", "false"), nil, "SYNC_ENTITIES names employments, but SYNC_EMPLOYMENT_DETAILS is false"},
		{with("SYNC_ENTITIES", "employments"), nil, "SYNC_ENTITIES names employments without persons"},
		{with("SYNC_ENTITIES", "people"), nil, `SYNC_ENTITIES: "people" is not an entity`},
	}
	for _, tt := range tests {
		c, err := Load(nil, mapEnv(tt.env))
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.env, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tt.env, err)
		case !reflect.DeepEqual(c.Sync.Synced(), tt.want):
			t.Errorf("%v: synced %v, want %v", tt.env, c.Sync.Synced(), tt.want)
		}
	}
}

// Every field of the file names a setting that exists, and every key is documented in the
// README's "Many tenants" section.
func TestTenantFieldsNameSettings(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := TenantKeys()
	if !slices.Contains(keys, "name") || !slices.Contains(keys, "entities") || slices.Contains(keys, "client_secret") {
		t.Errorf("keys %v", keys)
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[tenantEntry](), reflect.TypeFor[tenantSettings]()} {
		for i := 0; i < ty.NumField(); i++ {
			if env := ty.Field(i).Tag.Get("env"); env != "" {
				settingOf(env) // panics on an unknown one
			}
		}
	}
	for _, k := range keys {
		if !strings.Contains(string(readme), "`"+k+"`") {
			t.Errorf("README.md does not document the tenants file field %s", k)
		}
	}
}

// A tenant's webhook_token_file is its webhook token (the process's WEBHOOK_TOKEN otherwise);
// every tenant of the file has its own path and URL; a short or unreadable token file is
// refused naming the field, never the value.
func TestTenantWebhookTokens(t *testing.T) {
	dir := tenantDir(t)
	must(t, os.WriteFile(filepath.Join(dir, "secrets", "acme-hook"), []byte("Bearer acme-hook-6a0f2c9e\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "secrets", "short"), []byte("short"), 0o600))
	base := tenantBase()
	base.Webhook.Addr, base.Webhook.Token, base.Webhook.URL = ":8443", "Bearer process-token-3c1d", "https://cdc.example.com/webhooks/personio"
	p := writeTenants(t, dir, `
tenants:
  - {name: acme, client_id: ca, client_secret_file: secrets/acme, webhook_token_file: secrets/acme-hook}
  - {name: globex, client_id: cg, client_secret_file: secrets/globex}
`)
	cfgs, err := LoadTenants(p, base)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgs[0].Webhook.Token.Value(); got != "Bearer acme-hook-6a0f2c9e" {
		t.Errorf("acme's token = %q", got)
	}
	if got := cfgs[1].Webhook.Token.Value(); got != "Bearer process-token-3c1d" {
		t.Errorf("globex's token = %q, want the process's", got)
	}
	if got := cfgs[0].Webhook.TenantURL("acme"); got != "https://cdc.example.com/webhooks/personio/acme" {
		t.Errorf("acme's URL = %q", got)
	}
	cfgs[0].Webhook.URL = "https://cdc.example.com/webhooks/personio/acme"
	if got := cfgs[0].Webhook.TenantURL("acme"); got != "https://cdc.example.com/webhooks/personio/acme" {
		t.Errorf("acme's URL given whole = %q", got)
	}
	if got := base.Webhook.TenantURL("acme"); got != base.Webhook.URL {
		t.Errorf("a tenant of the PERSONIO_* settings: URL %q, want %q", got, base.Webhook.URL)
	}

	p = writeTenants(t, dir, `
tenants:
  - {name: acme, client_id: ca, client_secret_file: secrets/acme, webhook_token_file: secrets/short}
  - {name: globex, client_id: cg, client_secret_file: secrets/globex, webhook_token_file: secrets/none}
`)
	_, err = LoadTenants(p, base)
	if err == nil {
		t.Fatal("LoadTenants accepted a short and a missing token file")
	}
	for _, want := range []string{`tenant #1 "acme": webhook_token_file must be at least 16 characters`,
		`tenant #2 "globex": webhook_token_file: the file it names cannot be read`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "secrets/") {
		t.Errorf("error %q names a secret file", err)
	}
}
