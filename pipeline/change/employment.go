package change

import (
	"math/big"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// EmploymentRecord is the normal form of a Personio employment as the employments topic
// publishes it, field for field the Avro record io.personio.cdc.employments.Employment of
// schemas/employments.avsc: Employment (a person's list item) made flat where Personio's
// data is not a list, with the person's id. Dates are UTC midnight.
//
// It is named apart from Employment, which stays the item of Person.Employments (the
// persons topic's schema history keeps that record), and it is encoded by the schema alone:
// a plain struct with avro tags, no encoder of its own.
type EmploymentRecord struct {
	ID                         string       `avro:"id" json:"id"`
	PersonID                   string       `avro:"person_id" json:"person_id"`
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
	TerminationDate            *time.Time   `avro:"termination_date" json:"termination_date"`
	TerminationLastWorkingDay  *time.Time   `avro:"termination_last_working_day" json:"termination_last_working_day"`
	TerminationTerminatedAt    *time.Time   `avro:"termination_terminated_at" json:"termination_terminated_at"`
	TerminationType            *string      `avro:"termination_type" json:"termination_type"`
	TerminationReason          *string      `avro:"termination_reason" json:"termination_reason"`
	CreatedAt                  *time.Time   `avro:"created_at" json:"created_at"`
	UpdatedAt                  *time.Time   `avro:"updated_at" json:"updated_at" diff:"volatile"`
}

// Entity implements Record.
func (*EmploymentRecord) Entity() Entity { return Employments }

// RecordID implements Record: Personio's employment id.
func (e *EmploymentRecord) RecordID() string { return e.ID }

// EntityUpdatedAt implements Record: Personio's updated_at of the employment.
func (e *EmploymentRecord) EntityUpdatedAt() *time.Time { return e.UpdatedAt }

// SubjectID implements Record: the person the employment belongs to.
func (e *EmploymentRecord) SubjectID() string { return e.PersonID }

// EmploymentChange is the value of the employments topic (Avro record
// io.personio.cdc.EmploymentChange).
type EmploymentChange = Change[EmploymentRecord]

// NewEmployment converts one item of a person's employment listing
// (GET /v2/persons/{person_id}/employments) into normal form. personID is the person whose
// employments were listed; it is the record's person_id. The employment is converted as the
// persons' employments are (the same text, date, decimal and list rules, one code path),
// then made flat. An employment without id, or one that names another person than the one
// listed, or with a field that does not fit, yields a *FieldError (errors.Is(err,
// ErrInvalid)) naming the employment id and the field, never the value.
func NewEmployment(personID string, e personio.Employment) (*EmploymentRecord, error) {
	personID = strings.TrimSpace(personID)
	n := normalizer{entity: Employments, id: strings.TrimSpace(e.ID)}
	// termination.terminated_at is a date in Personio's spec: read it as one here, not as the
	// instant the persons' list item makes of it.
	var terminatedAt string
	if e.Termination != nil {
		t := *e.Termination
		terminatedAt, t.TerminatedAt = t.TerminatedAt, ""
		e.Termination = &t
	}
	if n.id == "" {
		n.fail("id", "missing")
	}
	m := n.employment(e)
	out := &EmploymentRecord{
		ID:                         m.ID,
		PersonID:                   personID,
		Status:                     m.Status,
		Type:                       m.Type,
		PositionTitle:              m.PositionTitle,
		StartDate:                  m.StartDate,
		EndDate:                    m.EndDate,
		ProbationEndDate:           m.ProbationEndDate,
		ContractEndDate:            m.ContractEndDate,
		WeeklyWorkingHours:         m.WeeklyWorkingHours,
		FullTimeWeeklyWorkingHours: m.FullTimeWeeklyWorkingHours,
		SupervisorID:               m.SupervisorID,
		OfficeID:                   m.OfficeID,
		LegalEntityID:              m.LegalEntityID,
		SubCompanyID:               m.SubCompanyID,
		JobID:                      m.JobID,
		OrgUnits:                   m.OrgUnits,
		CostCenters:                m.CostCenters,
		CreatedAt:                  m.CreatedAt,
		UpdatedAt:                  m.UpdatedAt,
	}
	if t := m.Termination; t != nil {
		out.TerminationDate = t.TerminationDate
		out.TerminationLastWorkingDay = t.LastWorkingDay
		out.TerminationType = t.Type
		out.TerminationReason = t.Reason
	}
	out.TerminationTerminatedAt = n.date("", "termination.terminated_at", terminatedAt)
	if personID == "" {
		n.fail("person_id", "missing")
	}
	if listed := strings.TrimSpace(e.Person.ID); listed != "" && listed != personID {
		n.fail("person.id", "names another person than the one whose employments were listed")
	}
	if n.err != nil {
		return nil, n.err
	}
	return out, nil
}
