package personio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// The types below mirror Personio's v2 resources as the API sends them. Decoding is tolerant:
// every field is optional, unknown fields are ignored, and a field the credential may not read
// is simply empty. Timestamps and dates stay as the text Personio sent; the differ normalises
// them. Numbers that can carry money or hours are Decimal, never float64.

// Ref is a reference to another resource by id.
type Ref struct {
	ID string `json:"id,omitempty"`
}

// Person is one item of GET /v2/persons.
type Person struct {
	ID               string            `json:"id"`
	Email            string            `json:"email,omitempty"`
	FirstName        string            `json:"first_name,omitempty"`
	LastName         string            `json:"last_name,omitempty"`
	PreferredName    string            `json:"preferred_name,omitempty"`
	Gender           string            `json:"gender,omitempty"`
	Status           string            `json:"status,omitempty"`
	ProfilePicture   *ProfilePicture   `json:"profile_picture,omitempty"`
	CustomAttributes []CustomAttribute `json:"custom_attributes,omitempty"`
	Employments      []Ref             `json:"employments,omitempty"`
	CreatedAt        string            `json:"created_at,omitempty"`
	UpdatedAt        string            `json:"updated_at,omitempty"`
}

// ProfilePicture holds the URL of a person's picture.
type ProfilePicture struct {
	URL string `json:"url,omitempty"`
}

// CustomAttribute is a company-defined attribute. Value keeps the JSON exactly as sent (string,
// number, bool, list of strings, list of objects, null): nothing is lost in decoding.
type CustomAttribute struct {
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type,omitempty"`
	GlobalID string          `json:"global_id,omitempty"`
	Label    string          `json:"label,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"`
}

// UnmarshalJSON decodes a custom attribute and upper-cases its type, which Personio is known to
// send in either case.
func (a *CustomAttribute) UnmarshalJSON(b []byte) error {
	type plain CustomAttribute
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	p.Type = strings.ToUpper(strings.TrimSpace(p.Type))
	if bytes.Equal(bytes.TrimSpace(p.Value), []byte("null")) {
		p.Value = nil
	}
	*a = CustomAttribute(p)
	return nil
}

// Employment is one item of GET /v2/persons/{person_id}/employments.
type Employment struct {
	ID                         string       `json:"id"`
	Person                     Ref          `json:"person,omitempty"`
	Position                   *Position    `json:"position,omitempty"`
	Status                     string       `json:"status,omitempty"`
	Type                       string       `json:"type,omitempty"`
	WeeklyWorkingHours         *Decimal     `json:"weekly_working_hours,omitempty"`
	FullTimeWeeklyWorkingHours *Decimal     `json:"full_time_weekly_working_hours,omitempty"`
	ProbationEndDate           string       `json:"probation_end_date,omitempty"`
	EmploymentStartDate        string       `json:"employment_start_date,omitempty"`
	EmploymentEndDate          string       `json:"employment_end_date,omitempty"`
	ContractEndDate            string       `json:"contract_end_date,omitempty"`
	Supervisor                 *Ref         `json:"supervisor,omitempty"`
	Office                     *Ref         `json:"office,omitempty"`
	OrgUnits                   []OrgUnit    `json:"org_units,omitempty"`
	LegalEntity                *Ref         `json:"legal_entity,omitempty"`
	SubCompany                 *Ref         `json:"sub_company,omitempty"`
	Job                        *Ref         `json:"job,omitempty"`
	CostCenters                []CostCenter `json:"cost_centers,omitempty"`
	Termination                *Termination `json:"termination,omitempty"`
	CreatedAt                  string       `json:"created_at,omitempty"`
	UpdatedAt                  string       `json:"updated_at,omitempty"`
}

// Position is an employment's job title.
type Position struct {
	Title string `json:"title,omitempty"`
}

// OrgUnit is a department or team an employment belongs to.
type OrgUnit struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`
}

// CostCenter attaches an employment to a cost center with a weight.
type CostCenter struct {
	ID     string   `json:"id,omitempty"`
	Weight *Decimal `json:"weight,omitempty"`
}

// Termination describes how an employment ended.
type Termination struct {
	TerminationDate string `json:"termination_date,omitempty"`
	LastWorkingDay  string `json:"last_working_day,omitempty"`
	TerminatedAt    string `json:"terminated_at,omitempty"`
	Type            string `json:"type,omitempty"`
	Reason          string `json:"reason,omitempty"`
}

// UnmarshalJSON decodes a termination. The spec's schema names the last working day
// last_working_day, its examples last_working_date: both are read, the schema's name first.
func (t *Termination) UnmarshalJSON(b []byte) error {
	type plain Termination
	var p struct {
		plain
		LastWorkingDate string `json:"last_working_date,omitempty"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if strings.TrimSpace(p.LastWorkingDay) == "" {
		p.LastWorkingDay = p.LastWorkingDate
	}
	*t = Termination(p.plain)
	return nil
}

// Compensation is one item of GET /v2/compensations. Personio publishes no spec for it; the
// shape is the one public clients agree on (see DESIGN.md §2). ID may be empty.
type Compensation struct {
	ID                         string           `json:"id,omitempty"`
	Person                     Ref              `json:"person,omitempty"`
	LegalEntity                Ref              `json:"legal_entity,omitempty"`
	Type                       CompensationType `json:"type,omitempty"`
	Amount                     Money            `json:"amount,omitempty"`
	EffectiveFrom              string           `json:"effective_from,omitempty"`
	Interval                   string           `json:"interval,omitempty"`
	WeeklyWorkingHours         *Decimal         `json:"weekly_working_hours,omitempty"`
	FullTimeWeeklyWorkingHours *Decimal         `json:"full_time_weekly_working_hours,omitempty"`
}

// CompensationType names the kind of payment (salary, bonus, one-time payment, …).
type CompensationType struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Category string `json:"category,omitempty"`
}

// Money is an amount in a currency. Value keeps the exact decimal text.
type Money struct {
	Value    Decimal `json:"value,omitempty"`
	Currency string  `json:"currency,omitempty"`
}

// Decimal is a decimal number kept as the exact text Personio sent (a JSON number or a numeric
// string), so a salary never passes through float64. The empty Decimal means "absent".
//
// Decoding never fails: text that is not a decimal number ("1.234,56", true, {}) is kept as
// sent, and the normalizer (change.ParseDecimal) rejects the one item that carries it. An
// error here would fail the whole page, and with it every other item on it.
type Decimal string

// jsonNumberRE is a number as the JSON grammar writes it.
var jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// UnmarshalJSON accepts a JSON number, a string (trimmed; kept whether or not it holds a
// number), or null. Any other JSON value is kept as its text.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*d = ""
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decimal: %w", err) // not reached: the page decoded as JSON
		}
		s = strings.TrimSpace(s)
	}
	*d = Decimal(s)
	return nil
}

// MarshalJSON writes the decimal as a JSON number, as a JSON string when its text is not
// one, or null when absent.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	if !jsonNumberRE.MatchString(string(d)) {
		return json.Marshal(string(d))
	}
	return []byte(d), nil
}

// String returns the decimal text.
func (d Decimal) String() string { return string(d) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
