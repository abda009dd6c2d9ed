package change

import (
	"math/big"
	"time"
)

// Record is an entity in normal form: *Person or *Compensation.
type Record interface {
	// Entity names the kind of record.
	Entity() Entity
	// RecordID is the entity id, the id part of the Kafka key.
	RecordID() string
	// EntityUpdatedAt is Personio's updated_at of the record, or nil.
	EntityUpdatedAt() *time.Time
	// SubjectID is the id of the person the record is about: a person's own id, a
	// compensation's (and an employment's) person_id. It is the one place that says which keys
	// belong to a person, so that erasing a person (internal/erasure) finds every one of them
	// and a sync leaves out every record of an erased person.
	SubjectID() string
}

// Person is the normal form of a Personio person, field for field the Avro record
// io.personio.cdc.Person of schemas/persons.avsc.
type Person struct {
	ID                string            `avro:"id" json:"id"`
	Email             *string           `avro:"email" json:"email"`
	FirstName         *string           `avro:"first_name" json:"first_name"`
	LastName          *string           `avro:"last_name" json:"last_name"`
	PreferredName     *string           `avro:"preferred_name" json:"preferred_name"`
	Gender            *string           `avro:"gender" json:"gender"`
	Status            *string           `avro:"status" json:"status"`
	ProfilePictureURL *string           `avro:"profile_picture_url" json:"profile_picture_url"`
	CreatedAt         *time.Time        `avro:"created_at" json:"created_at"`
	UpdatedAt         *time.Time        `avro:"updated_at" json:"updated_at" diff:"volatile"`
	CustomAttributes  []CustomAttribute `avro:"custom_attributes" json:"custom_attributes" diff:"byid,atomic"`
	Employments       []Employment      `avro:"employments" json:"employments" diff:"byid"`
}

// CustomAttribute is one company-defined attribute of a person. ValueJSON holds the value as
// canonical JSON (compact, object keys sorted, numbers as sent, no HTML escaping).
type CustomAttribute struct {
	ID        string  `avro:"id" json:"id"`
	GlobalID  *string `avro:"global_id" json:"global_id"`
	Label     *string `avro:"label" json:"label"`
	Type      *string `avro:"type" json:"type"`
	ValueJSON *string `avro:"value_json" json:"value_json"`
}

// Employment is the normal form of a Personio employment. Dates are UTC midnight.
//
// Optional decimals are **big.Rat: hamba/avro decodes a ["null", decimal] union into the
// element type, so the field needs one pointer for null and one for the *big.Rat (see Dec).
type Employment struct {
	ID                         string       `avro:"id" json:"id"`
	Status                     *string      `avro:"status" json:"status"`
	Type                       *string      `avro:"type" json:"type"`
	PositionTitle              *string      `avro:"position_title" json:"position_title"`
	StartDate                  *time.Time   `avro:"start_date" json:"start_date"`
	EndDate                    *time.Time   `avro:"end_date" json:"end_date"`
	ProbationEndDate           *time.Time   `avro:"probation_end_date" json:"probation_end_date"`
	ContractEndDate            *time.Time   `avro:"contract_end_date" json:"contract_end_date"`
	WeeklyWorkingHours         **big.Rat    `avro:"weekly_working_hours" json:"weekly_working_hours"`
	FullTimeWeeklyWorkingHours **big.Rat    `avro:"full_time_weekly_working_hours" json:"full_time_weekly_working_hours"`
	SupervisorID               *string      `avro:"supervisor_id" json:"supervisor_id"`
	OfficeID                   *string      `avro:"office_id" json:"office_id"`
	LegalEntityID              *string      `avro:"legal_entity_id" json:"legal_entity_id"`
	SubCompanyID               *string      `avro:"sub_company_id" json:"sub_company_id"`
	JobID                      *string      `avro:"job_id" json:"job_id"`
	OrgUnits                   []OrgUnit    `avro:"org_units" json:"org_units" diff:"byid"`
	CostCenters                []CostCenter `avro:"cost_centers" json:"cost_centers" diff:"byid"`
	Termination                *Termination `avro:"termination" json:"termination"`
	CreatedAt                  *time.Time   `avro:"created_at" json:"created_at"`
	UpdatedAt                  *time.Time   `avro:"updated_at" json:"updated_at" diff:"volatile"`
}

// OrgUnit is a department or team of an employment.
type OrgUnit struct {
	ID   string  `avro:"id" json:"id"`
	Type *string `avro:"type" json:"type"`
}

// CostCenter is a cost center of an employment with its weight.
type CostCenter struct {
	ID     string    `avro:"id" json:"id"`
	Weight **big.Rat `avro:"weight" json:"weight"`
}

// Termination describes how an employment ended.
type Termination struct {
	TerminationDate *time.Time `avro:"termination_date" json:"termination_date"`
	LastWorkingDay  *time.Time `avro:"last_working_day" json:"last_working_day"`
	TerminatedAt    *time.Time `avro:"terminated_at" json:"terminated_at"`
	Type            *string    `avro:"type" json:"type"`
	Reason          *string    `avro:"reason" json:"reason"`
}

// Compensation is the normal form of a Personio compensation, field for field the Avro record
// io.personio.cdc.Compensation of schemas/compensations.avsc. Amount has at most
// AmountPrecision digits, AmountScale of them after the point.
type Compensation struct {
	ID                         string    `avro:"id" json:"id"`
	PersonioID                 *string   `avro:"personio_id" json:"personio_id"`
	PersonID                   string    `avro:"person_id" json:"person_id"`
	LegalEntityID              *string   `avro:"legal_entity_id" json:"legal_entity_id"`
	TypeID                     *string   `avro:"type_id" json:"type_id"`
	TypeName                   *string   `avro:"type_name" json:"type_name"`
	TypeCategory               *string   `avro:"type_category" json:"type_category"`
	Amount                     *big.Rat  `avro:"amount" json:"amount"`
	Currency                   string    `avro:"currency" json:"currency"`
	EffectiveFrom              time.Time `avro:"effective_from" json:"effective_from"`
	Interval                   *string   `avro:"interval" json:"interval"`
	WeeklyWorkingHours         **big.Rat `avro:"weekly_working_hours" json:"weekly_working_hours"`
	FullTimeWeeklyWorkingHours **big.Rat `avro:"full_time_weekly_working_hours" json:"full_time_weekly_working_hours"`
}

// Entity implements Record.
func (*Person) Entity() Entity { return Persons }

// RecordID implements Record.
func (p *Person) RecordID() string { return p.ID }

// EntityUpdatedAt implements Record.
func (p *Person) EntityUpdatedAt() *time.Time { return p.UpdatedAt }

// SubjectID implements Record: a person is its own subject.
func (p *Person) SubjectID() string { return p.ID }

// Entity implements Record.
func (*Compensation) Entity() Entity { return Compensations }

// RecordID implements Record.
func (c *Compensation) RecordID() string { return c.ID }

// EntityUpdatedAt implements Record; compensations carry no updated_at, so it is nil.
func (*Compensation) EntityUpdatedAt() *time.Time { return nil }

// SubjectID implements Record: the person the compensation is paid to.
func (c *Compensation) SubjectID() string { return c.PersonID }

// Scale and precision of the decimals in the schemas.
const (
	AmountPrecision = 19
	AmountScale     = 4
	HoursPrecision  = 9
	HoursScale      = 4
)
