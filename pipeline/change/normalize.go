package change

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// NewPerson converts a person as Personio sent it, with its employments, into normal form.
// When emps is nil the employments were not fetched and only the ids the person lists are
// kept; a caller must then do so on every sync, or the missing details look like a change.
// An entity that cannot be converted yields a *FieldError (errors.Is(err, ErrInvalid)).
func NewPerson(p personio.Person, emps []personio.Employment) (*Person, error) {
	n := normalizer{entity: Persons, id: strings.TrimSpace(p.ID)}
	out := &Person{
		ID:               n.id,
		Email:            n.text(strings.ToLower(p.Email)),
		FirstName:        n.text(p.FirstName),
		LastName:         n.text(p.LastName),
		PreferredName:    n.text(p.PreferredName),
		Gender:           n.text(p.Gender),
		Status:           n.text(p.Status),
		CreatedAt:        n.timestamp("", "created_at", p.CreatedAt),
		UpdatedAt:        n.timestamp("", "updated_at", p.UpdatedAt),
		CustomAttributes: make([]CustomAttribute, 0, len(p.CustomAttributes)),
		Employments:      make([]Employment, 0, max(len(emps), len(p.Employments))),
	}
	if n.id == "" {
		n.fail("id", "missing")
	}
	if p.ProfilePicture != nil {
		out.ProfilePictureURL = n.text(p.ProfilePicture.URL)
	}
	for _, a := range p.CustomAttributes {
		id := strings.TrimSpace(a.ID)
		if id == "" {
			n.fail("custom_attributes", "attribute without id")
			continue
		}
		out.CustomAttributes = append(out.CustomAttributes, CustomAttribute{
			ID:        id,
			GlobalID:  n.text(a.GlobalID),
			Label:     n.text(a.Label),
			Type:      n.text(strings.ToUpper(a.Type)),
			ValueJSON: n.canonicalJSON("custom_attributes."+id, a.Value),
		})
	}
	out.CustomAttributes = uniqueByID(&n, "custom_attributes", out.CustomAttributes,
		func(a CustomAttribute) string { return a.ID })

	if emps == nil {
		for _, r := range p.Employments {
			if id := strings.TrimSpace(r.ID); id != "" {
				out.Employments = append(out.Employments, Employment{ID: id, OrgUnits: []OrgUnit{}, CostCenters: []CostCenter{}})
			}
		}
	} else {
		for _, e := range emps {
			out.Employments = append(out.Employments, n.employment(e))
		}
	}
	out.Employments = uniqueByID(&n, "employments", out.Employments, func(e Employment) string { return e.ID })
	if n.err != nil {
		return nil, n.err
	}
	return out, nil
}

// Normalizer converts the persons of one listing into normal form like NewPerson, and applies
// its field policy (UsePolicy) to each. The zero Normalizer is ready to use; it is not safe for
// concurrent use.
type Normalizer struct {
	policy *Policy // applied to every record; nil keeps every field
}

// UsePolicy makes Person apply p to every record it returns, right after normalisation: the
// content hash, the differ and the state only ever see the record as the policy leaves it.
// nil keeps every field.
func (b *Normalizer) UsePolicy(p *Policy) { b.policy = p }

// Person is NewPerson with the Normalizer's policy applied.
func (b *Normalizer) Person(p personio.Person, emps []personio.Employment) (*Person, error) {
	out, err := NewPerson(p, emps)
	if err != nil {
		return nil, err
	}
	b.policy.Apply(out)
	return out, nil
}

// Policy returns the policy set with UsePolicy (nil when none). A compensation is put into
// normal form with NewCompensation and, once its identity is settled (NumberCompensations),
// gets the policy with Policy().Apply.
func (b *Normalizer) Policy() *Policy { return b.policy }

func (n *normalizer) employment(e personio.Employment) Employment {
	id := strings.TrimSpace(e.ID)
	if id == "" {
		n.fail("employments", "employment without id")
	}
	n.scope, n.scoped = id, true // fields below are named within this employment
	out := Employment{
		ID:                         id,
		Status:                     n.text(e.Status),
		Type:                       n.text(e.Type),
		StartDate:                  n.date("", "start_date", e.EmploymentStartDate),
		EndDate:                    n.date("", "end_date", e.EmploymentEndDate),
		ProbationEndDate:           n.date("", "probation_end_date", e.ProbationEndDate),
		ContractEndDate:            n.date("", "contract_end_date", e.ContractEndDate),
		WeeklyWorkingHours:         Dec(n.decimal("", "weekly_working_hours", ptrDecimal(e.WeeklyWorkingHours), HoursPrecision, HoursScale)),
		FullTimeWeeklyWorkingHours: Dec(n.decimal("", "full_time_weekly_working_hours", ptrDecimal(e.FullTimeWeeklyWorkingHours), HoursPrecision, HoursScale)),
		SupervisorID:               n.ref(e.Supervisor),
		OfficeID:                   n.ref(e.Office),
		LegalEntityID:              n.ref(e.LegalEntity),
		SubCompanyID:               n.ref(e.SubCompany),
		JobID:                      n.ref(e.Job),
		OrgUnits:                   make([]OrgUnit, 0, len(e.OrgUnits)),
		CostCenters:                make([]CostCenter, 0, len(e.CostCenters)),
		CreatedAt:                  n.timestamp("", "created_at", e.CreatedAt),
		UpdatedAt:                  n.timestamp("", "updated_at", e.UpdatedAt),
	}
	if e.Position != nil {
		out.PositionTitle = n.text(e.Position.Title)
	}
	for _, u := range e.OrgUnits {
		uid := strings.TrimSpace(u.ID)
		if uid == "" {
			n.fail("org_units", "org unit without id")
			continue
		}
		out.OrgUnits = append(out.OrgUnits, OrgUnit{ID: uid, Type: n.text(u.Type)})
	}
	out.OrgUnits = uniqueByID(n, "org_units", out.OrgUnits, func(u OrgUnit) string { return u.ID })
	for _, c := range e.CostCenters {
		cid := strings.TrimSpace(c.ID)
		if cid == "" {
			n.fail("cost_centers", "cost center without id")
			continue
		}
		var weight *big.Rat
		if d := ptrDecimal(c.Weight); d != "" {
			r, err := ParseDecimal(string(d), HoursPrecision, HoursScale)
			if err != nil {
				n.fail("cost_centers."+cid+".weight", err.Error())
			}
			weight = r
		}
		out.CostCenters = append(out.CostCenters, CostCenter{ID: cid, Weight: Dec(weight)})
	}
	out.CostCenters = uniqueByID(n, "cost_centers", out.CostCenters, func(c CostCenter) string { return c.ID })
	if t := e.Termination; t != nil {
		term := Termination{
			TerminationDate: n.date("", "termination.termination_date", t.TerminationDate),
			LastWorkingDay:  n.date("", "termination.last_working_day", t.LastWorkingDay),
			TerminatedAt:    n.timestamp("", "termination.terminated_at", t.TerminatedAt),
			Type:            n.text(t.Type),
			Reason:          n.text(t.Reason),
		}
		if term != (Termination{}) {
			out.Termination = &term
		}
	}
	n.scoped = false
	return out
}

// CompensationID returns the identity of a compensation: Personio's id when present,
// otherwise the composite "<person_id>|<type_id>|<effective_from YYYY-MM-DD>|<interval>"
// of the normal-form values (an absent part is empty text), which NumberCompensations
// numbers where items of one listing share it.
func CompensationID(personioID, personID, typeID string, effectiveFrom time.Time, interval string) string {
	if personioID != "" {
		return personioID
	}
	return personID + "|" + typeID + "|" + effectiveFrom.Format(time.DateOnly) + "|" + interval
}

// NewCompensation converts a compensation as Personio sent it into normal form. The person
// id, the amount with its currency and the effective date are required: a compensation
// without them cannot be paid and is rejected rather than published half empty. An entity
// that cannot be converted yields a *FieldError (errors.Is(err, ErrInvalid)).
func NewCompensation(c personio.Compensation) (*Compensation, error) {
	n := normalizer{entity: Compensations, id: strings.TrimSpace(c.ID)}
	out := &Compensation{
		PersonioID:                 n.text(c.ID),
		PersonID:                   strings.TrimSpace(c.Person.ID),
		LegalEntityID:              n.text(c.LegalEntity.ID),
		TypeID:                     n.text(c.Type.ID),
		TypeName:                   n.text(c.Type.Name),
		TypeCategory:               n.text(c.Type.Category),
		Amount:                     n.decimal("", "amount", c.Amount.Value, AmountPrecision, AmountScale),
		Currency:                   strings.ToUpper(strings.TrimSpace(c.Amount.Currency)),
		Interval:                   n.text(c.Interval),
		WeeklyWorkingHours:         Dec(n.decimal("", "weekly_working_hours", ptrDecimal(c.WeeklyWorkingHours), HoursPrecision, HoursScale)),
		FullTimeWeeklyWorkingHours: Dec(n.decimal("", "full_time_weekly_working_hours", ptrDecimal(c.FullTimeWeeklyWorkingHours), HoursPrecision, HoursScale)),
	}
	if out.PersonID == "" {
		n.fail("person_id", "missing")
	}
	if out.Amount == nil && c.Amount.Value == "" {
		n.fail("amount", "missing")
	}
	if out.Currency == "" {
		n.fail("currency", "missing")
	}
	if eff := n.date("", "effective_from", c.EffectiveFrom); eff != nil {
		out.EffectiveFrom = *eff
	} else if strings.TrimSpace(c.EffectiveFrom) == "" {
		n.fail("effective_from", "missing")
	}
	if n.err != nil {
		return nil, n.err
	}
	out.ID = CompensationID(deref(out.PersonioID), out.PersonID, deref(out.TypeID), out.EffectiveFrom, deref(out.Interval))
	return out, nil
}

// Dec wraps a decimal for an optional decimal field (nil stays nil).
func Dec(r *big.Rat) **big.Rat {
	if r == nil {
		return nil
	}
	return &r
}

// ParseDecimal converts decimal text exactly and checks it against an Avro decimal's
// precision and scale. It never rounds: more places than scale, or more digits than
// precision, is an error.
func ParseDecimal(s string, precision, scale int) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if r, ok, err := parsePlainDecimal(s, precision, scale); ok {
		return r, err
	}
	return parseDecimalSlow(s, precision, scale)
}

// parseDecimalSlow is ParseDecimal for any text: big.Rat reads it, the regular expression
// having made sure it is decimal notation.
func parseDecimalSlow(s string, precision, scale int) (*big.Rat, error) {
	m := decimalRE.FindStringSubmatch(s)
	if m == nil {
		return nil, errors.New("not a decimal number")
	}
	if m[1] != "" {
		// Bound the exponent before big.Rat expands it: no real amount needs more.
		if e, err := strconv.Atoi(m[1]); err != nil || e > maxExponent || e < -maxExponent {
			return nil, errors.New("exponent out of range")
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errors.New("not a decimal number")
	}
	unscaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(scale)))
	if !unscaled.IsInt() {
		return nil, errors.New("more than " + strconv.Itoa(scale) + " decimal places")
	}
	if new(big.Int).Abs(unscaled.Num()).Cmp(pow10(precision)) >= 0 {
		return nil, errors.New("more than " + strconv.Itoa(precision) + " digits")
	}
	return r, nil
}

// parsePlainDecimal is ParseDecimal for the common text: an optional sign, at most 18 digits
// and an optional fraction, no exponent. ok is false for any other text, which the general
// path handles; for the text it takes, it accepts and rejects exactly as that path does.
func parsePlainDecimal(s string, precision, scale int) (r *big.Rat, ok bool, err error) {
	num, den, ok, err := parsePlainDecimalFrac(s, precision, scale)
	if !ok || err != nil {
		return nil, ok, err
	}
	return setFrac(new(big.Rat), num, uint64(den)), true, nil
}

// setFrac sets r to num/den in lowest terms, as SetFrac64 does, but reduces with machine
// words instead of big.Int arithmetic (which allocated most of a compensation's normal form).
// den must be positive.
func setFrac(r *big.Rat, num int64, den uint64) *big.Rat {
	a := uint64(num)
	if num < 0 {
		a = uint64(-num)
	}
	if a == 0 {
		den = 1
	} else {
		x, y := a, den
		for y != 0 {
			x, y = y, x%y
		}
		num /= int64(x)
		den /= x
	}
	r.SetInt64(num) // denominator 1
	if den != 1 {
		r.Denom().SetUint64(den) // a reference to r's denominator once it is set
	}
	return r
}

// parsePlainDecimalFrac is parsePlainDecimal returning the value as num/den.
func parsePlainDecimalFrac(s string, precision, scale int) (numer, denom int64, ok bool, err error) {
	if scale < 0 || scale > 18 || precision < 1 || precision > 19 {
		return 0, 0, false, nil
	}
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[intStart:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return 0, 0, false, nil
		}
	}
	if i != len(s) || intPart == "" || len(intPart)+len(frac) > 18 {
		return 0, 0, false, nil // exponent, junk or long: the general path decides
	}
	frac = strings.TrimRight(frac, "0") // trailing zeros do not count as places
	if len(frac) > scale {
		return 0, 0, true, errors.New("more than " + strconv.Itoa(scale) + " decimal places")
	}
	var num uint64
	for j := 0; j < len(intPart); j++ {
		num = num*10 + uint64(intPart[j]-'0')
	}
	for j := 0; j < len(frac); j++ {
		num = num*10 + uint64(frac[j]-'0')
	}
	// The unscaled value num·10^(scale-len(frac)) must stay below 10^precision.
	tooMany := func() error { return errors.New("more than " + strconv.Itoa(precision) + " digits") }
	unscaled := num
	if unscaled >= pow10Uint64[precision] {
		return 0, 0, true, tooMany()
	}
	for range scale - len(frac) {
		if unscaled >= pow10Uint64[precision-1] && unscaled > 0 {
			return 0, 0, true, tooMany() // ten times it reaches 10^precision
		}
		unscaled *= 10
	}
	n := int64(num) // fewer than 19 digits
	if neg {
		n = -n
	}
	return n, int64(pow10Uint64[len(frac)]), true, nil
}

// pow10Uint64[i] is 10^i.
var pow10Uint64 = func() [20]uint64 {
	var t [20]uint64
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * 10
	}
	return t
}()

// decimalRE is plain decimal text with an optional exponent (group 1).
var decimalRE = regexp.MustCompile(`^[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE]([+-]?[0-9]+))?$`)

const maxExponent = 64

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// normalizer collects the first error while converting one entity.
type normalizer struct {
	entity Entity
	id     string
	err    error
	scope  string // the employment id while scoped
	scoped bool   // field names are within employments.<scope>.
}

func (n *normalizer) fail(field, reason string) {
	if n.err == nil {
		if n.scoped && n.entity == Persons { // an employment's fields within its person
			field = "employments." + n.scope + "." + field
		}
		n.err = &FieldError{Entity: n.entity, ID: n.id, Field: field, Reason: reason}
	}
}

func (n *normalizer) text(s string) *string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return &s
}

func (n *normalizer) ref(r *personio.Ref) *string {
	if r == nil {
		return nil
	}
	return n.text(r.ID)
}

// Layouts accepted for instants; the last ones carry no zone and are read as UTC.
var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", time.DateOnly}

// The range of dates and instants accepted from Personio; a value outside it is invalid
// (FieldError), as unparsable text is. Dates run from 1900-01-01 to 9999-12-31: no payroll
// date lies before 1900, and the upper bound is the last day every common date type holds,
// so an open end written as 9999-12-31 passes. Instants are the system's own record times
// (created_at, updated_at, terminated_at) and run from the Unix epoch to the end of 2200.
// Year 0 — which Python's datetime cannot represent, so that consumers crashed on it — and
// every other date before 1900 or instant before 1970 is rejected rather than published.
const (
	minDateYear      = 1900
	maxDateYear      = 9999
	minInstantMillis = 0             // 1970-01-01T00:00:00Z
	maxInstantMillis = 7289654399999 // 2200-12-31T23:59:59.999Z
	dateRangeReason  = "date out of range (1900-01-01 to 9999-12-31)"
	instRangeReason  = "instant out of range (1970-01-01T00:00:00Z to 2200-12-31T23:59:59.999Z)"
)

// instantInRange reports whether an instant in Unix milliseconds is in the accepted range.
func instantInRange(ms int64) bool { return ms >= minInstantMillis && ms <= maxInstantMillis }

// dateInRange reports whether a date's year is in the accepted range.
func dateInRange(year int) bool { return year >= minDateYear && year <= maxDateYear }

func (n *normalizer) timestamp(prefix, name, s string) *time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	t, ok := parseTimestamp(s)
	if !ok {
		n.fail(prefix+name, "not a timestamp")
		return nil
	}
	t = t.UTC().Truncate(time.Millisecond)
	if !instantInRange(t.UnixMilli()) {
		n.fail(prefix+name, instRangeReason)
		return nil
	}
	return &t
}

func parseTimestamp(s string) (time.Time, bool) {
	// The layouts accept disjoint sets of text, so trying the one the text looks like first
	// gives the same result as trying them in order, without a failed parse.
	var guess string
	switch {
	case len(s) == len(time.DateOnly):
		guess = time.DateOnly
	case len(s) > 19 && s[10] == 'T' && (s[len(s)-1] == 'Z' || strings.ContainsAny(s[19:], "+-")):
		guess = time.RFC3339Nano
	}
	if guess != "" {
		if t, err := time.Parse(guess, s); err == nil {
			return t, true
		}
	}
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// date accepts YYYY-MM-DD, or a full timestamp of which it keeps the date as written.
func (n *normalizer) date(prefix, name, s string) *time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if len(s) > 10 {
		if _, ok := parseTimestamp(s); !ok {
			n.fail(prefix+name, "not a date")
			return nil
		}
		s = s[:10]
	}
	t, ok := parseDate(s)
	if !ok {
		n.fail(prefix+name, "not a date")
		return nil
	}
	if !dateInRange(t.Year()) {
		n.fail(prefix+name, dateRangeReason)
		return nil
	}
	return &t
}

// parseDate reads a YYYY-MM-DD date.
func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

func (n *normalizer) decimal(prefix, name string, d personio.Decimal, precision, scale int) *big.Rat {
	if d == "" {
		return nil
	}
	r, err := ParseDecimal(string(d), precision, scale)
	if err != nil {
		n.fail(prefix+name, err.Error())
		return nil
	}
	return r
}

func ptrDecimal(d *personio.Decimal) personio.Decimal {
	if d == nil {
		return ""
	}
	return *d
}

// canonicalJSON re-encodes a JSON value compactly with sorted object keys, numbers exactly as
// sent and no HTML escaping, by decoding and encoding it again unless canonicalScalar finds
// it canonical already. Absent and null values give nil.
func (n *normalizer) canonicalJSON(field string, raw json.RawMessage) *string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if canonicalScalar(raw) { // already canonical: re-encoding would give the same text
		s := string(raw)
		return &s
	}
	return n.canonicalJSONSlow(field, raw)
}

// canonicalJSONSlow is canonicalJSON by decoding and encoding again.
func (n *normalizer) canonicalJSONSlow(field string, raw json.RawMessage) *string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		n.fail(field, "value is not JSON")
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		n.fail(field, "value is not one JSON value")
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		n.fail(field, "value is not JSON")
		return nil
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	return &s
}

// uniqueByID sorts items by id, drops exact duplicates and rejects two different items with
// the same id (list elements are addressed by id in changed_fields).
func uniqueByID[T any](n *normalizer, field string, items []T, id func(T) string) []T {
	strict := true // already in order without duplicates, as most listings send them
	for i := 1; i < len(items) && strict; i++ {
		strict = id(items[i-1]) < id(items[i])
	}
	if strict {
		return items
	}
	slices.SortStableFunc(items, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
	out := items[:0]
	for i, it := range items {
		if i > 0 && id(items[i-1]) == id(it) {
			if !equalJSON(items[i-1], it) {
				n.fail(field, "two different elements with the same id")
			}
			continue
		}
		out = append(out, it)
	}
	return out
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// canonicalScalar reports whether raw is a JSON scalar that is already in canonical form, so
// that decoding and encoding it again would give the same text: true, false, a number (kept as
// sent), or a string of printable ASCII without escapes.
func canonicalScalar(raw []byte) bool {
	switch string(raw) {
	case "true", "false":
		return true
	}
	if raw[0] == '"' {
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return false
		}
		for _, c := range raw[1 : len(raw)-1] {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	if raw[0] == '[' || raw[0] == '{' {
		rest, ok := canonicalValue(raw, 0)
		return ok && len(rest) == 0
	}
	return isJSONNumber(raw)
}

// canonicalValue checks that raw starts with a JSON value already in canonical form (as
// canonicalScalar, and compact arrays and objects whose keys are strictly increasing) and
// returns what follows it. depth bounds the nesting; deeper values take the general path.
func canonicalValue(raw []byte, depth int) (rest []byte, ok bool) {
	if len(raw) == 0 || depth > 16 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		end := canonicalStringEnd(raw)
		if end < 0 {
			return nil, false
		}
		return raw[end:], true
	case '[':
		raw = raw[1:]
		if len(raw) > 0 && raw[0] == ']' {
			return raw[1:], true
		}
		for {
			raw, ok = canonicalValue(raw, depth+1)
			if !ok || len(raw) == 0 {
				return nil, false
			}
			switch raw[0] {
			case ',':
				raw = raw[1:]
			case ']':
				return raw[1:], true
			default:
				return nil, false
			}
		}
	case '{':
		raw = raw[1:]
		if len(raw) > 0 && raw[0] == '}' {
			return raw[1:], true
		}
		var prev []byte
		for i := 0; ; i++ {
			end := canonicalStringEnd(raw)
			if end < 0 || end >= len(raw) || raw[end] != ':' {
				return nil, false
			}
			key := raw[1 : end-1]
			if i > 0 && bytes.Compare(prev, key) >= 0 {
				return nil, false // unsorted or repeated keys
			}
			prev = key
			raw, ok = canonicalValue(raw[end+1:], depth+1)
			if !ok || len(raw) == 0 {
				return nil, false
			}
			switch raw[0] {
			case ',':
				raw = raw[1:]
			case '}':
				return raw[1:], true
			default:
				return nil, false
			}
		}
	}
	// A literal or a number runs to the next delimiter.
	end := 0
	for end < len(raw) && raw[end] != ',' && raw[end] != ']' && raw[end] != '}' {
		end++
	}
	lit := raw[:end]
	switch string(lit) {
	case "true", "false", "null":
		return raw[end:], true
	}
	if !isJSONNumber(lit) {
		return nil, false
	}
	return raw[end:], true
}

// canonicalStringEnd returns the index after the closing quote of the string raw starts
// with, or -1 unless the string is printable ASCII without escapes.
func canonicalStringEnd(raw []byte) int {
	if len(raw) == 0 || raw[0] != '"' {
		return -1
	}
	for i := 1; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			return i + 1
		case c < 0x20 || c >= 0x7f || c == '\\':
			return -1
		}
	}
	return -1
}

// isJSONNumber reports whether b is a number as the JSON grammar writes it.
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
