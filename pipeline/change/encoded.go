package change

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Encoded is a record in normal form held only as its Avro encoding (AppendRecord), with its
// content hash: what Normalizer.Encode makes of a listed person without building a Person.
// A listing's records are mostly unchanged or new, and for those the differ needs nothing but
// the encoding and the hash; Decode gives the Person when a change has to be looked into.
// Every function of this package that takes a Record takes an *Encoded as the record it
// stands for.
type Encoded struct {
	entity    Entity
	id        string
	updatedAt *time.Time
	data      []byte
	hash      Hash
}

// Entity implements Record.
func (e *Encoded) Entity() Entity { return e.entity }

// RecordID implements Record.
func (e *Encoded) RecordID() string { return e.id }

// EntityUpdatedAt implements Record.
func (e *Encoded) EntityUpdatedAt() *time.Time { return e.updatedAt }

// SubjectID implements Record. Only persons are held as an Encoded (Normalizer.Encode), and a
// person is its own subject.
func (e *Encoded) SubjectID() string { return e.id }

// Data returns the record's Avro encoding. It must not be modified.
func (e *Encoded) Data() []byte { return e.data }

// Hash returns the record's content hash.
func (e *Encoded) Hash() Hash { return e.hash }

// Decode returns the record as Go values (*Person or *Compensation).
func (e *Encoded) Decode() (Record, error) { return UnmarshalRecord(e.entity, e.data) }

// Decoded returns r as Go values: r itself, or the record an *Encoded stands for.
func Decoded(r Record) (Record, error) {
	if e, ok := r.(*Encoded); ok {
		return e.Decode()
	}
	return r, nil
}

// Encode returns the person in normal form for the differ. For a person as listings send
// them it is an *Encoded, written straight from p: no Person is built. A person that needs
// more than the common treatment (a list out of id order or with an id twice, a custom value
// not in canonical JSON, a decimal or an instant in an unusual notation, an invalid field)
// goes through Person instead, which also gives the error. Both stand for one normal form:
// the encoding is AppendRecord's of NewPerson's result (TestEncodeMatchesNewPerson and
// FuzzEncodePerson hold it to that). With a policy (UsePolicy) that drops or hashes a field,
// every person takes the general path, which applies it: there is one place where fields are
// dropped, and the fast path never writes a value the policy would have removed.
func (b *Normalizer) Encode(p personio.Person, emps []personio.Employment) (Record, error) {
	if b.policy.Active() {
		return b.Person(p, emps)
	}
	e := &b.enc
	e.b, e.track, e.volatile, e.emp, e.err = e.b[:0], true, e.volatile[:0], -1, nil
	var updated *time.Time
	if !e.listedPerson(&p, emps, &updated) {
		return b.Person(p, emps)
	}
	enc := &carve(&b.encoded, 1, blockPersons)[:1][0]
	data := carve(&b.bytes, len(e.b), blockBytes)
	enc.entity, enc.id, enc.data, enc.hash = Persons, trim(p.ID), append(data, e.b...), e.hash(0)
	if updated != nil {
		t := carve(&b.times, 1, blockTimes)
		enc.updatedAt = &append(t, *updated)[0]
	}
	return enc, nil
}

// Release hands back the memory of r, the record the last Encode returned, once the caller
// is done with it: a differ that found the person unchanged keeps nothing of it, and the next
// Encode reuses the memory, so a sync that finds little changed allocates little. r must not
// be used afterwards (it reads as empty). Any other record is left alone.
func (b *Normalizer) Release(r Record) {
	e, ok := r.(*Encoded)
	if !ok || len(b.encoded) == 0 || e != &b.encoded[len(b.encoded)-1] {
		return
	}
	if n := len(e.data); n > 0 && n <= len(b.bytes) && &b.bytes[len(b.bytes)-n] == &e.data[0] {
		b.bytes = b.bytes[:len(b.bytes)-n]
	}
	if e.updatedAt != nil && len(b.times) > 0 && e.updatedAt == &b.times[len(b.times)-1] {
		b.times = b.times[:len(b.times)-1]
	}
	b.encoded = b.encoded[:len(b.encoded)-1]
	*e = Encoded{}
}

// blockBytes is the size of the Normalizer's blocks of encodings.
const blockBytes = 256 << 10

// listedPerson writes p in normal form, as AppendRecord writes NewPerson's result, and
// reports true; it reports false, having written part of it, when p needs the general path.
// updated receives the person's updated_at (nil when absent).
func (e *recordEncoder) listedPerson(p *personio.Person, emps []personio.Employment, updated **time.Time) bool {
	id := trim(p.ID)
	if id == "" {
		return false
	}
	e.str(id)
	if !e.caseText(p.Email, 'A', 'Z') {
		return false
	}
	e.text(p.FirstName)
	e.text(p.LastName)
	e.text(p.PreferredName)
	e.text(p.Gender)
	e.text(p.Status)
	if p.ProfilePicture != nil {
		e.text(p.ProfilePicture.URL)
	} else {
		e.null()
	}
	if !e.timestamp(p.CreatedAt, nil) {
		return false
	}
	from := len(e.b)
	if !e.timestamp(p.UpdatedAt, updated) {
		return false
	}
	e.volatile = append(e.volatile, span{from, len(e.b)})

	attrs := p.CustomAttributes
	for i := range attrs {
		if !idAfter(attrs, i, func(a *personio.CustomAttribute) string { return a.ID }) {
			return false
		}
	}
	ok := e.array(len(attrs), func(i int) bool {
		a := &attrs[i]
		e.str(trim(a.ID))
		e.text(a.GlobalID)
		e.text(a.Label)
		if !e.caseText(a.Type, 'a', 'z') {
			return false
		}
		raw := bytes.TrimSpace(a.Value)
		switch {
		case len(raw) == 0 || string(raw) == "null":
			e.null()
		case canonicalScalar(raw):
			e.present()
			e.b = append(appendLong(e.b, int64(len(raw))), raw...)
		default:
			return false
		}
		return true
	})
	if !ok {
		return false
	}

	if emps == nil {
		return e.employmentIDs(p.Employments)
	}
	// A person's few employments come in any order (Personio lists them by start): write
	// them by id.
	var order [maxSorted]int
	if len(emps) > len(order) {
		return false
	}
	for i := range emps {
		order[i] = i
		if trim(emps[i].ID) == "" {
			return false
		}
	}
	idAt := func(i int) string { return trim(emps[order[i]].ID) }
	for i := 1; i < len(emps); i++ { // insertion sort of a handful
		for j := i; j > 0 && idAt(j-1) > idAt(j); j-- {
			order[j-1], order[j] = order[j], order[j-1]
		}
	}
	for i := 1; i < len(emps); i++ {
		if idAt(i-1) == idAt(i) {
			return false // the general path decides between two with one id
		}
	}
	return e.array(len(emps), func(i int) bool { return e.listedEmployment(&emps[order[i]]) })
}

// maxSorted is the most employments the fast path puts in order itself.
const maxSorted = 16

// employmentIDs writes the employments of a person listed without their details: the ids it
// lists, each with every other field absent.
func (e *recordEncoder) employmentIDs(refs []personio.Ref) bool {
	ids := make([]string, 0, 4)
	for _, r := range refs {
		if id := trim(r.ID); id != "" {
			if len(ids) > 0 && ids[len(ids)-1] >= id {
				return false // out of order or twice: the general path sorts
			}
			ids = append(ids, id)
		}
	}
	return e.array(len(ids), func(i int) bool {
		e.str(ids[i])
		for range 14 { // status … job: all absent
			e.null()
		}
		e.null() // no org units
		e.null() // no cost centers
		e.null() // no termination
		e.null() // created_at
		from := len(e.b)
		e.null() // updated_at
		e.volatile = append(e.volatile, span{from, len(e.b)})
		return true
	})
}

func (e *recordEncoder) listedEmployment(m *personio.Employment) bool {
	e.str(trim(m.ID))
	e.text(m.Status)
	e.text(m.Type)
	if m.Position != nil {
		e.text(m.Position.Title)
	} else {
		e.null()
	}
	for _, d := range [...]string{m.EmploymentStartDate, m.EmploymentEndDate, m.ProbationEndDate, m.ContractEndDate} {
		if !e.date(d) {
			return false
		}
	}
	if !e.hours(m.WeeklyWorkingHours) || !e.hours(m.FullTimeWeeklyWorkingHours) {
		return false
	}
	for _, r := range [...]*personio.Ref{m.Supervisor, m.Office, m.LegalEntity, m.SubCompany, m.Job} {
		if r == nil {
			e.null()
		} else {
			e.text(r.ID)
		}
	}
	units := m.OrgUnits
	for i := range units {
		if !idAfter(units, i, func(u *personio.OrgUnit) string { return u.ID }) {
			return false
		}
	}
	e.array(len(units), func(i int) bool {
		e.str(trim(units[i].ID))
		e.text(units[i].Type)
		return true
	})
	centers := m.CostCenters
	for i := range centers {
		if !idAfter(centers, i, func(c *personio.CostCenter) string { return c.ID }) {
			return false
		}
	}
	ok := e.array(len(centers), func(i int) bool {
		e.str(trim(centers[i].ID))
		return e.hours(centers[i].Weight)
	})
	if !ok {
		return false
	}
	if t := m.Termination; t == nil || blank(t.TerminationDate, t.LastWorkingDay, t.TerminatedAt, t.Type, t.Reason) {
		e.null() // a termination with nothing in it is none
	} else {
		e.present()
		if !e.date(t.TerminationDate) || !e.date(t.LastWorkingDay) || !e.timestamp(t.TerminatedAt, nil) {
			return false
		}
		e.text(t.Type)
		e.text(t.Reason)
	}
	if !e.timestamp(m.CreatedAt, nil) {
		return false
	}
	from := len(e.b)
	if !e.timestamp(m.UpdatedAt, nil) {
		return false
	}
	e.volatile = append(e.volatile, span{from, len(e.b)})
	return true
}

// idAfter reports whether the i-th item's id, trimmed, is not empty and comes after the one
// before it: the list is then already as the general path sorts it, with no id twice.
func idAfter[T any](items []T, i int, id func(*T) string) bool {
	cur := trim(id(&items[i]))
	return cur != "" && (i == 0 || trim(id(&items[i-1])) < cur)
}

// trim is strings.TrimSpace, without its work for the common text that starts and ends with
// a printable ASCII character.
func trim(s string) string {
	if len(s) == 0 || s[0] > ' ' && s[0] < utf8.RuneSelf && s[len(s)-1] > ' ' && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	return strings.TrimSpace(s)
}

// blank reports whether every text is empty once trimmed.
func blank(texts ...string) bool {
	for _, s := range texts {
		if trim(s) != "" {
			return false
		}
	}
	return true
}

// text writes an optional text field: trimmed, absent when empty.
func (e *recordEncoder) text(s string) {
	s = trim(s)
	if s == "" {
		e.null()
		return
	}
	e.present()
	e.str(s)
}

// caseText is text of s lower-cased (from 'A', to 'Z') or upper-cased (from 'a', to 'z'),
// as strings.ToLower and strings.ToUpper do; it reports false for text beyond ASCII, which
// it leaves to the general path.
func (e *recordEncoder) caseText(s string, from, to byte) bool {
	s = trim(s)
	if s == "" {
		e.null()
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	e.present()
	e.b = appendLong(e.b, int64(len(s)))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if from <= c && c <= to {
			c ^= 'a' - 'A' // the case bit
		}
		e.b = append(e.b, c)
	}
	return true
}

// timestamp writes an optional instant as the general path normalises it (UTC, whole
// milliseconds); out, when not nil, receives it (nil when absent), in e.at.
func (e *recordEncoder) timestamp(s string, out **time.Time) bool {
	s = trim(s)
	if s == "" {
		e.null()
		return true
	}
	ms, ok := rfc3339Millis(s)
	if !ok {
		t, ok := parseTimestamp(s)
		if !ok {
			return false
		}
		ms = t.UTC().Truncate(time.Millisecond).UnixMilli()
	}
	if !instantInRange(ms) {
		return false // the general path rejects it
	}
	if out != nil {
		e.at = time.UnixMilli(ms).UTC()
		*out = &e.at
	}
	e.present()
	e.long(ms)
	return true
}

// rfc3339Millis reads the common instant text YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) as
// Unix milliseconds (the fraction truncated), exactly as parseTimestamp and a truncation to
// milliseconds would; ok is false for any other text, which the caller leaves to them.
func rfc3339Millis(s string) (ms int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	h, ok4 := digits(s[11:13])
	mi, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || mo < 1 || mo > 12 || d < 1 || d > monthDays(y, mo) ||
		h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var nanos int64
	if rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		frac := rest[1:k]
		if len(frac) == 0 || len(frac) > 9 {
			return 0, false
		}
		f, _ := digits(frac)
		nanos = int64(f) * int64(pow10Uint64[9-len(frac)])
		rest = rest[k:]
	}
	var offset int64
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+sec) - offset
	return secs*1000 + nanos/1e6, true
}

// monthDays returns the number of days of month m (1–12) of year y.
func monthDays(y, m int) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return int([...]uint8{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1])
}

// daysFromCivil returns the days from 1970-01-01 to a date of the proleptic Gregorian
// calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// date writes an optional date as the general path reads it.
func (e *recordEncoder) date(s string) bool {
	s = trim(s)
	if s == "" {
		e.null()
		return true
	}
	if len(s) > 10 {
		if _, ok := parseTimestamp(s); !ok {
			return false
		}
		s = s[:10]
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		y, ok1 := digits(s[0:4])
		m, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= monthDays(y, m) {
			if !dateInRange(y) {
				return false // the general path rejects it
			}
			e.present()
			e.long(daysFromCivil(y, m, d))
			return true
		}
	}
	t, ok := parseDate(s)
	if !ok || !dateInRange(t.Year()) {
		return false
	}
	e.odate(&t)
	return true
}

// hours writes an optional decimal of HoursPrecision and HoursScale in plain notation.
func (e *recordEncoder) hours(d *personio.Decimal) bool {
	if d == nil || *d == "" {
		e.null()
		return true
	}
	num, den, ok, err := parsePlainDecimalFrac(trim(string(*d)), HoursPrecision, HoursScale)
	if !ok || err != nil {
		return false
	}
	// num/den with den = 10^k, k <= scale: the unscaled value is num·10^(scale−k), and the
	// parser made sure it has at most HoursPrecision digits.
	unscaled := num * int64(pow10Uint64[HoursScale]/uint64(den))
	mag := uint64(unscaled)
	if unscaled < 0 {
		mag = -mag
	}
	e.present()
	e.b = codec.AppendUnscaled(e.b, mag, unscaled < 0)
	return true
}
