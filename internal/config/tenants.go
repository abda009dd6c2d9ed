package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// tenantFile is the document of TENANTS_FILE:
//
//	defaults:            # optional; what every tenant has unless it says otherwise
//	  rate_limit_per_minute: 300
//	tenants:
//	  - name: acme-gmbh  # PERSONIO_TENANT: the key prefix
//	    client_id: papi-…
//	    client_secret_file: secrets/acme-gmbh   # relative to the file's directory
//	    full_sync_interval: 30m
//
// Every leaf is kept as its YAML node and parsed by the setting it names (tenantSettings), so
// that a bad value is reported with the tenant, the field and the line. A field left out has
// the zero Node (Kind 0).
type tenantFile struct {
	Defaults *tenantSettings `yaml:"defaults"`
	Tenants  []tenantEntry   `yaml:"tenants"`
}

// tenantEntry is one tenant: its name and credential, and the settings it overrides.
type tenantEntry struct {
	Name             yaml.Node `yaml:"name" env:"PERSONIO_TENANT"`
	ClientID         yaml.Node `yaml:"client_id" env:"PERSONIO_CLIENT_ID"`
	ClientSecretFile yaml.Node `yaml:"client_secret_file" env:"PERSONIO_CLIENT_SECRET"`
	// WebhookTokenFile names the file of the tenant's webhook token (WEBHOOK_TOKEN): its
	// deliveries on <WEBHOOK_PATH>/<name> must carry it. Default: the process's WEBHOOK_TOKEN.
	WebhookTokenFile yaml.Node `yaml:"webhook_token_file" env:"WEBHOOK_TOKEN"`
	// ClientSecret is refused with a message saying why: secrets come from files only.
	ClientSecret yaml.Node      `yaml:"client_secret"`
	Settings     tenantSettings `yaml:",inline"`
}

// tenantSettings are the settings a tenant (or the defaults block) may override, each tagged
// with the setting (environment variable) it sets: parsed and validated as that setting is.
// The rest of a tenant's Config is the process's.
type tenantSettings struct {
	BaseURL                        yaml.Node `yaml:"base_url" env:"PERSONIO_BASE_URL"`
	AppID                          yaml.Node `yaml:"app_id" env:"PERSONIO_APP_ID"`
	PartnerID                      yaml.Node `yaml:"partner_id" env:"PERSONIO_PARTNER_ID"`
	RateLimitPerMinute             yaml.Node `yaml:"rate_limit_per_minute" env:"PERSONIO_RATE_LIMIT_PER_MINUTE"`
	RateBurst                      yaml.Node `yaml:"rate_burst" env:"PERSONIO_RATE_BURST"`
	CompensationRateLimitPerMinute yaml.Node `yaml:"compensation_rate_limit_per_minute" env:"COMPENSATION_RATE_LIMIT_PER_MINUTE"`
	CompensationRateBurst          yaml.Node `yaml:"compensation_rate_burst" env:"COMPENSATION_RATE_BURST"`
	RequestTimeout                 yaml.Node `yaml:"request_timeout" env:"PERSONIO_REQUEST_TIMEOUT"`
	FullSyncInterval               yaml.Node `yaml:"full_sync_interval" env:"FULL_SYNC_INTERVAL"`
	IncrementalSyncInterval        yaml.Node `yaml:"incremental_sync_interval" env:"INCREMENTAL_SYNC_INTERVAL"`
	Entities                       yaml.Node `yaml:"entities" env:"SYNC_ENTITIES"`
	EmploymentRefreshPeriod        yaml.Node `yaml:"employment_refresh_period" env:"EMPLOYMENT_REFRESH_PERIOD"`
	EmploymentRefreshBudgetShare   yaml.Node `yaml:"employment_refresh_budget_share" env:"EMPLOYMENT_REFRESH_BUDGET_SHARE"`
	CompensationLookbackMonths     yaml.Node `yaml:"compensation_lookback_months" env:"COMPENSATION_LOOKBACK_MONTHS"`
	DeleteGuardRatio               yaml.Node `yaml:"delete_guard_ratio" env:"DELETE_GUARD_RATIO"`
	DeleteGuardOverride            yaml.Node `yaml:"delete_guard_override" env:"DELETE_GUARD_OVERRIDE"`
	PersonListChains               yaml.Node `yaml:"person_list_chains" env:"PERSON_LIST_CHAINS"`
	CompensationSubWindows         yaml.Node `yaml:"compensation_sub_windows" env:"COMPENSATION_SUB_WINDOWS"`
}

// tenantField is one field of the file that was given: its YAML key, the setting it sets and
// its node.
type tenantField struct {
	key, env string
	node     *yaml.Node
	where    string // "defaults" or the tenant's label, once applied
}

// given returns the fields of v (a *tenantSettings or *tenantEntry) that the file sets, in
// declaration order.
func given(v any) []tenantField {
	var out []tenantField
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Type().Field(i)
		env := f.Tag.Get("env")
		n, ok := rv.Field(i).Addr().Interface().(*yaml.Node)
		if !ok || env == "" || n.Kind == 0 {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		out = append(out, tenantField{key: key, env: env, node: n})
	}
	return out
}

// TenantKeys returns the fields a tenant entry of TENANTS_FILE may have, in documentation
// order: name, client_id, client_secret_file, webhook_token_file and then those the defaults
// block may have too.
func TenantKeys() []string {
	var out []string
	for _, t := range []reflect.Type{reflect.TypeFor[tenantEntry](), reflect.TypeFor[tenantSettings]()} {
		for i := 0; i < t.NumField(); i++ {
			if key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); key != "" && t.Field(i).Tag.Get("env") != "" {
				out = append(out, key)
			}
		}
	}
	return out
}

// Tenants returns the tenants the process serves: those of base.Tenants.File (LoadTenants),
// or, without a file, base alone, the one tenant of the PERSONIO_* settings as Load validated
// it.
func Tenants(base Config) ([]Config, error) {
	if base.Tenants.File == "" {
		return []Config{base}, nil
	}
	return LoadTenants(base.Tenants.File, base)
}

// LoadTenants reads the tenants file at path and returns one Config per tenant, in the file's
// order: base, then the file's defaults block, then the tenant's own fields (each wins over
// the one before). Config.Personio.Tenant is the tenant's name, its client secret is read
// from client_secret_file (a relative path is relative to the file's directory), and
// Config.Tenants.File is empty: each Config is what the single-tenant settings of that tenant
// would be, and passes Validate.
//
// A non-nil error is an *Error listing every problem: each names the file (and line), the
// tenant (by index and name) and the field, never a secret nor the path of a secret file. An
// unknown field, a secret given inline, a bad value, an unreadable or empty secret file, a
// missing or empty tenant list, two tenants with one name (compared without case) or with one
// credential (client_id at one base_url) are all errors; no Config is returned then.
func LoadTenants(path string, base Config) ([]Config, error) {
	cfgs, _, err := loadTenants(path, base)
	return cfgs, err
}

// loadTenants is LoadTenants, also returning a digest of everything it read (the file and the
// secret files) and of its outcome: equal digests mean equal results (WatchTenants).
func loadTenants(path string, base Config) ([]Config, [sha256.Size]byte, error) {
	l := tenantLoader{path: path, digest: sha256.New()}
	cfgs := l.load(base)
	var sum [sha256.Size]byte
	var err error
	if len(l.probs) > 0 {
		cfgs = nil
		err = &Error{Problems: l.probs}
		l.write([]byte(err.Error()))
	}
	copy(sum[:], l.digest.Sum(nil))
	return cfgs, sum, err
}

// tenantLoader collects the problems of one reading of a tenants file.
type tenantLoader struct {
	path   string
	digest hash.Hash
	probs  []Problem
	seen   map[string]bool // base problems reported, by message
}

// write adds b to the digest, length first so that adjacent parts cannot run together.
func (l *tenantLoader) write(b []byte) {
	_, _ = l.digest.Write(strconv.AppendInt(nil, int64(len(b)), 10))
	_, _ = l.digest.Write([]byte{':'})
	_, _ = l.digest.Write(b)
}

// bad records a problem of the file; line 0 leaves the line out.
func (l *tenantLoader) bad(line int, where, format string, args ...any) {
	at := l.path
	if line > 0 {
		at += ":" + strconv.Itoa(line)
	}
	if where != "" {
		at += ": " + where
	}
	l.probs = append(l.probs, Problem{Setting: "TENANTS_FILE", Message: "TENANTS_FILE " + at + ": " + fmt.Sprintf(format, args...)})
}

func (l *tenantLoader) load(base Config) []Config {
	data, err := os.ReadFile(l.path)
	if err != nil {
		l.write([]byte("unreadable"))
		l.bad(0, "", "cannot be read: %s", readProblem(err))
		return nil
	}
	l.write(data)
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		l.bad(0, "", "is empty: it must list at least one tenant under tenants:")
		return nil
	case err != nil:
		l.bad(0, "", "is not YAML: %s", yamlMessage(err))
		return nil
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		l.bad(0, "", "holds more than one YAML document (a second '---'): one document lists every tenant")
		return nil
	}
	items, ok := l.shape(&root)
	if !ok {
		return nil
	}
	var doc tenantFile
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		l.decodeProblems(err, items)
		return nil
	}
	if len(doc.Tenants) == 0 {
		l.bad(0, "", "lists no tenant: add at least one under tenants:")
		return nil
	}

	defaults := base
	defaults.Kafka.Brokers = slices.Clone(base.Kafka.Brokers)
	defaults.Sync.Entities = slices.Clone(base.Sync.Entities)
	defaults.Tenants.File = ""
	fromFile := map[string]tenantField{} // setting → the field that set it, for messages
	failedDefaults := map[string]bool{}
	if doc.Defaults != nil {
		l.apply(&defaults, "defaults", given(doc.Defaults), fromFile, failedDefaults)
		// A bad default is reported once, as the defaults', not again for every tenant.
		for _, p := range defaults.problems(GroupAll) {
			if f, ok := fromFile[p.Setting]; ok && !failedDefaults[p.Setting] {
				l.bad(f.node.Line, "defaults", "%s", f.key+strings.TrimPrefix(p.Message, p.Setting))
				failedDefaults[p.Setting] = true
			}
		}
	}
	cfgs := make([]Config, 0, len(doc.Tenants))
	labels := make([]string, 0, len(doc.Tenants))
	for i := range doc.Tenants {
		t := &doc.Tenants[i]
		label := fmt.Sprintf("tenant #%d", i+1)
		if t.Name.Kind == yaml.ScalarNode && t.Name.Value != "" {
			label += " " + strconv.Quote(t.Name.Value)
		}
		line := items[i].Line
		c := defaults
		c.Kafka.Brokers = slices.Clone(defaults.Kafka.Brokers)
		c.Sync.Entities = slices.Clone(defaults.Sync.Entities)
		c.Personio.Tenant, c.Personio.ClientID, c.Personio.ClientSecret = "", "", ""
		set := maps.Clone(fromFile)
		failed := maps.Clone(failedDefaults)
		if t.ClientSecret.Kind != 0 {
			l.bad(t.ClientSecret.Line, label, "client_secret is not allowed: secrets come from files only; name the file with client_secret_file (the value is not printed)")
		}
		set["PERSONIO_CLIENT_SECRET"] = tenantField{key: "client_secret_file", node: &t.ClientSecretFile}
		if t.ClientSecretFile.Kind == 0 {
			l.bad(line, label, "client_secret_file is required: the file holding the tenant's Personio client secret")
			failed["PERSONIO_CLIENT_SECRET"] = true
		} else if secret, ok := l.secret(&t.ClientSecretFile, label, "client_secret_file"); ok {
			c.Personio.ClientSecret = Secret(secret)
		} else {
			failed["PERSONIO_CLIENT_SECRET"] = true
		}
		c.Webhook.PerTenant = true
		if t.WebhookTokenFile.Kind != 0 {
			set["WEBHOOK_TOKEN"] = tenantField{key: "webhook_token_file", node: &t.WebhookTokenFile}
			if token, ok := l.secret(&t.WebhookTokenFile, label, "webhook_token_file"); ok {
				c.Webhook.Token = Secret(token)
			} else {
				failed["WEBHOOK_TOKEN"] = true
			}
		}
		l.apply(&c, label, append(given(t), given(&t.Settings)...), set, failed)
		if t.Name.Kind == 0 {
			l.bad(line, label, "name is required: a stable name for the Personio account, e.g. acme-gmbh; it prefixes every event key")
			failed["PERSONIO_TENANT"] = true
		}
		if t.ClientID.Kind == 0 {
			l.bad(line, label, "client_id is required")
			failed["PERSONIO_CLIENT_ID"] = true
		}
		l.validate(c, line, label, set, failed)
		cfgs = append(cfgs, c)
		labels = append(labels, label)
	}
	l.unique(cfgs, labels, items)
	return cfgs
}

// shape checks what KnownFields decoding would report in the library's words: the document is
// a mapping, defaults a mapping, tenants a list of mappings. It returns the tenants' nodes.
func (l *tenantLoader) shape(root *yaml.Node) ([]*yaml.Node, bool) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		l.bad(0, "", "is empty: it must list at least one tenant under tenants:")
		return nil, false
	}
	if doc.Kind != yaml.MappingNode {
		l.bad(doc.Line, "", "must be a mapping with tenants: (and optionally defaults:)")
		return nil, false
	}
	var items []*yaml.Node
	ok := true
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		switch k.Value {
		case "defaults":
			if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
				l.bad(v.Line, "defaults", "must be a mapping of field to value")
				ok = false
			}
		case "tenants":
			if v.Kind != yaml.SequenceNode {
				if v.Tag != "!!null" {
					l.bad(v.Line, "tenants", "must be a list of tenants (each a mapping, starting with '- name: …')")
					ok = false
				}
				continue
			}
			for j, it := range v.Content {
				if it.Kind != yaml.MappingNode {
					l.bad(it.Line, fmt.Sprintf("tenant #%d", j+1), "must be a mapping of field to value")
					ok = false
				}
			}
			items = v.Content
		}
	}
	return items, ok
}

var (
	unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.*) not found in type config\.(\w+)$`)
	twiceFieldRE   = regexp.MustCompile(`^line (\d+): field (.*) already set in type config\.(\w+)$`)
	twiceKeyRE     = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line \d+$`)
	backquotedRE   = regexp.MustCompile("`[^`]*`")
)

// decodeProblems turns the library's errors into problems that name the tenant.
func (l *tenantLoader) decodeProblems(err error, items []*yaml.Node) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		l.bad(0, "", "is not a tenants file: %s", yamlMessage(err))
		return
	}
	for _, msg := range te.Errors {
		m := unknownFieldRE.FindStringSubmatch(msg)
		twice := false
		if m == nil {
			m = twiceFieldRE.FindStringSubmatch(msg)
			twice = true
		}
		if m == nil {
			if k := twiceKeyRE.FindStringSubmatch(msg); k != nil {
				m = append(k, "") // whose: found by the line
			}
		}
		if m == nil {
			l.bad(0, "", "is not a tenants file: %s", yamlMessage(errors.New(msg)))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		field, typ := m[2], m[3]
		where := ""
		switch typ {
		case "tenantFile":
			where = ""
		case "tenantSettings":
			where = "defaults"
		default:
			where = tenantAt(items, line)
		}
		switch {
		case twice:
			l.bad(line, where, "%s is given twice", field)
		case field == "client_secret":
			l.bad(line, where, "client_secret is not allowed: secrets come from files only; name the file with client_secret_file in each tenant (the value is not printed)")
		case typ == "tenantFile":
			l.bad(line, where, "unknown field %q: the file has tenants: and optionally defaults:", field)
		case typ == "tenantSettings" && (field == "name" || field == "client_id" || field == "client_secret_file" || field == "webhook_token_file"):
			l.bad(line, where, "%s belongs to each tenant, not to the defaults", field)
		default:
			known := TenantKeys()
			if typ == "tenantSettings" {
				known = slices.DeleteFunc(known, func(k string) bool {
					return k == "name" || k == "client_id" || k == "client_secret_file" || k == "webhook_token_file"
				})
			}
			l.bad(line, where, "unknown field %q (known: %s)", field, strings.Join(known, ", "))
		}
	}
}

// tenantAt names the tenant whose entry holds line.
func tenantAt(items []*yaml.Node, line int) string {
	at := -1
	for i, it := range items {
		if it.Line <= line {
			at = i
		}
	}
	if at < 0 {
		return ""
	}
	label := fmt.Sprintf("tenant #%d", at+1)
	it := items[at]
	for i := 0; i+1 < len(it.Content); i += 2 {
		if k, v := it.Content[i], it.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			label += " " + strconv.Quote(v.Value)
		}
	}
	return label
}

// yamlMessage is the library's message without its prefix, and without the values it quotes
// (a secret pasted into the wrong place stays unprinted); it names lines and types.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return backquotedRE.ReplaceAllString(msg, "(a value)")
}

// apply sets each given field on c through its setting, recording in set which key set which
// setting and in failed the settings whose value was refused.
func (l *tenantLoader) apply(c *Config, where string, fields []tenantField, set map[string]tenantField, failed map[string]bool) {
	for _, f := range fields {
		if f.env == "PERSONIO_CLIENT_SECRET" || f.env == "WEBHOOK_TOKEN" {
			continue // read by secret
		}
		f.where = where
		set[f.env] = f
		delete(failed, f.env) // the tenant's own value replaces a refused default
		v, ok := l.value(f, where)
		if !ok {
			failed[f.env] = true
			continue
		}
		s := settingOf(f.env)
		if err := s.set(c, v); err != nil {
			l.bad(f.node.Line, where, "%s: %v", f.key, err)
			failed[f.env] = true
			continue
		}
		if f.env == "SYNC_ENTITIES" {
			if len(c.Sync.Entities) == 0 {
				l.bad(f.node.Line, where, "entities names no entity: leave the field out to sync every entity")
				failed[f.env] = true
				continue
			}
			// The file's selection is the whole of it: employments are synced exactly when
			// it names them, whatever SYNC_EMPLOYMENT_DETAILS says.
			c.Sync.EmploymentDetails = slices.Contains(c.Sync.Entities, change.Employments)
		}
	}
}

// value returns the text a field's setting parses: a scalar as it is, a list (entities only)
// comma-separated.
func (l *tenantLoader) value(f tenantField, where string) (string, bool) {
	n := f.node
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		l.bad(n.Line, where, "%s has no value: give one, or leave the field out", f.key)
	case n.Kind == yaml.ScalarNode:
		return n.Value, true
	case n.Kind == yaml.SequenceNode && f.env == "SYNC_ENTITIES":
		parts := make([]string, 0, len(n.Content))
		for _, it := range n.Content {
			if it.Kind != yaml.ScalarNode || strings.Contains(it.Value, ",") {
				l.bad(it.Line, where, "entities must be a list of entity names (%s)", change.NameList())
				return "", false
			}
			parts = append(parts, it.Value)
		}
		return strings.Join(parts, ","), true
	default:
		l.bad(n.Line, where, "%s must be a single value", f.key)
	}
	return "", false
}

// secret reads the secret file a tenant names. Problems never contain the path: a secret
// pasted there instead of a path would otherwise be printed.
func (l *tenantLoader) secret(n *yaml.Node, where, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		l.bad(n.Line, where, "%s must name a file", key)
		return "", false
	}
	p := strings.TrimSpace(n.Value)
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(l.path), p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		l.write([]byte("unreadable"))
		l.bad(n.Line, where, "%s: the file it names cannot be read: %s (its value is not printed, in case it is the secret itself)", key, readProblem(err))
		return "", false
	}
	l.write(b)
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		l.bad(n.Line, where, "%s: the file it names is empty", key)
		return "", false
	}
	return v, true
}

// validate checks a tenant's Config with the settings' own validation. A problem with a
// setting the file set names the file's key; one with a setting only the process set is the
// process's, reported once whatever the number of tenants.
func (l *tenantLoader) validate(c Config, line int, label string, set map[string]tenantField, failed map[string]bool) {
	for _, p := range c.problems(GroupAll) {
		if failed[p.Setting] {
			continue // reported when it was read
		}
		f, fromFile := set[p.Setting]
		if !fromFile {
			if l.seen == nil {
				l.seen = map[string]bool{}
			}
			if !l.seen[p.Message] {
				l.seen[p.Message] = true
				l.probs = append(l.probs, p)
			}
			continue
		}
		at, key := line, f.key
		if f.node != nil {
			at = f.node.Line
		}
		if f.where == "defaults" {
			key += " (from defaults)"
		}
		l.bad(at, label, "%s", key+strings.TrimPrefix(p.Message, p.Setting))
	}
}

// unique reports two tenants with one name, or with one credential.
func (l *tenantLoader) unique(cfgs []Config, labels []string, items []*yaml.Node) {
	byName := map[string]int{}
	byCred := map[string]int{}
	for i, c := range cfgs {
		if c.Personio.Tenant != "" {
			n := strings.ToLower(c.Personio.Tenant)
			if j, ok := byName[n]; ok {
				l.bad(items[i].Line, labels[i], "has the name of %s (names are compared without case): each tenant needs its own key prefix", labels[j])
			} else {
				byName[n] = i
			}
		}
		if c.Personio.ClientID != "" {
			cred := strings.TrimRight(c.Personio.BaseURL, "/") + "\x00" + c.Personio.ClientID
			if j, ok := byCred[cred]; ok {
				l.bad(items[i].Line, labels[i], "has the client_id of %s: one Personio account under two names would publish its people twice", labels[j])
			} else {
				byCred[cred] = i
			}
		}
	}
}

// settingOf returns the setting of an environment variable; the names come from struct tags
// checked by TestTenantFieldsNameSettings.
func settingOf(env string) setting {
	for _, s := range settings {
		if s.env == env {
			return s
		}
	}
	panic("config: no setting " + env)
}
