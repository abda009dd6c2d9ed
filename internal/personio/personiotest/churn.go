package personiotest

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Churn asks for changes to the company: each field is how many of that kind to make.
type Churn struct {
	Hires            int `json:"hires,omitempty"`             // new person + employment + salary
	Terminations     int `json:"terminations,omitempty"`      // status INACTIVE, termination set
	Deletions        int `json:"deletions,omitempty"`         // person, employments and compensations gone
	Renames          int `json:"renames,omitempty"`           // new last name (or first name)
	EmailChanges     int `json:"email_changes,omitempty"`     // new unique email
	AttributeChanges int `json:"attribute_changes,omitempty"` // one custom attribute gets a new value
	SalaryChanges    int `json:"salary_changes,omitempty"`    // current salary gets a new amount
	Bonuses          int `json:"bonuses,omitempty"`           // new one-time bonus

	// TwinBonusChanges raises the first listed bonus of that many twin pairs by 100
	// (Options.TwinBonuses; it stays the larger of its pair).
	TwinBonusChanges int `json:"twin_bonus_changes,omitempty"`
}

// ChurnResult lists the ids of the persons affected, per kind of change. Within one Churn the
// kinds affect disjoint persons. A kind may list fewer ids than asked for when there are not
// enough candidates (e.g. no active person left).
type ChurnResult struct {
	Hires            []string `json:"hires"`
	Terminations     []string `json:"terminations"`
	Deletions        []string `json:"deletions"`
	Renames          []string `json:"renames"`
	EmailChanges     []string `json:"email_changes"`
	AttributeChanges []string `json:"attribute_changes"`
	SalaryChanges    []string `json:"salary_changes"`
	Bonuses          []string `json:"bonuses"`

	TwinBonusChanges []string `json:"twin_bonus_changes,omitempty"`
}

// timestamp returns the time to stamp a change with: the clock to the second, never before
// the last stamp handed out, and strictly after prev (the entity's previous updated_at).
func (d *dataset) timestamp(now, prev time.Time) time.Time {
	t := now.UTC().Truncate(time.Second)
	if t.Before(d.lastTS) {
		t = d.lastTS
	}
	if !t.After(prev) {
		t = prev.Add(time.Second)
	}
	d.lastTS = t
	return t
}

// pick chooses up to n distinct persons that satisfy ok (nil: any), at random.
func (d *dataset) pick(n int, ok func(*personRec) bool) []*personRec {
	if n <= 0 {
		return nil
	}
	var cand []*personRec
	for _, p := range d.persons {
		if ok == nil || ok(p) {
			cand = append(cand, p)
		}
	}
	if n >= len(cand) {
		return cand
	}
	out := make([]*personRec, 0, n)
	for range n {
		i := d.fake.IntRange(0, len(cand)-1)
		out = append(out, cand[i])
		cand[i] = cand[len(cand)-1]
		cand = cand[:len(cand)-1]
	}
	slices.SortFunc(out, func(a, b *personRec) int { return cmpSeq(a.seq, b.seq) })
	return out
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isActive(p *personRec) bool { return p.p.Status == "ACTIVE" }

func (p *personRec) currentEmployment() *employmentRec { return p.emps[len(p.emps)-1] }

func (d *dataset) churn(c Churn, now time.Time) ChurnResult {
	var res ChurnResult
	f := d.fake
	used := map[*personRec]bool{}
	ids := func(ps []*personRec) []string {
		out := make([]string, 0, len(ps))
		for _, p := range ps {
			out = append(out, p.p.ID)
			used[p] = true
		}
		return out
	}
	// pick chooses persons no earlier kind of this churn has touched.
	pick := func(n int, ok func(*personRec) bool) []*personRec {
		return d.pick(n, func(p *personRec) bool { return !used[p] && (ok == nil || ok(p)) })
	}
	touch := func(p *personRec) {
		p.updated = d.timestamp(now, p.updated)
		p.encode()
	}

	for range c.Hires {
		ts := d.timestamp(now, time.Time{})
		p := d.addPerson(ts, ts)
		le := d.pickLegalEntity()
		e := d.addEmployment(p, dateOf(ts), le, ts)
		e.updated = ts
		e.encode()
		cents, typ, interval := d.basePay(e)
		d.addComp(p, e, typ, cents, dateOf(ts), interval)
		p.encode()
		res.Hires = append(res.Hires, p.p.ID)
		used[p] = true
	}

	terms := pick(c.Terminations, isActive)
	for _, p := range terms {
		e := p.currentEmployment()
		ts := d.timestamp(now, maxTime(p.updated, e.updated))
		end := dateOf(ts)
		if start := parseDate(e.e.EmploymentStartDate); end.Before(start) {
			end = start
		}
		d.setTermination(e, end, dateOf(ts))
		e.e.Status = "INACTIVE"
		e.e.EmploymentEndDate = end.Format(dateLayout)
		e.updated = ts
		e.encode()
		p.p.Status = "INACTIVE"
		p.updated = ts
		p.encode()
	}
	res.Terminations = ids(terms)

	dels := pick(c.Deletions, nil)
	for _, p := range dels {
		d.deletePerson(p)
	}
	res.Deletions = ids(dels)

	renames := pick(c.Renames, nil)
	for _, p := range renames {
		if f.IntRange(1, 100) <= 80 {
			p.p.LastName = f.LastName()
		} else {
			p.p.FirstName = f.FirstName()
		}
		touch(p)
	}
	res.Renames = ids(renames)

	emails := pick(c.EmailChanges, nil)
	for _, p := range emails {
		delete(d.emails, p.p.Email)
		p.p.Email = d.uniqueEmail(p.p.FirstName+slug(f.Adjective()), p.p.LastName)
		touch(p)
	}
	res.EmailChanges = ids(emails)

	attrs := pick(c.AttributeChanges, func(p *personRec) bool { return len(p.p.CustomAttributes) > 0 })
	for _, p := range attrs {
		// Copy on write: Truth snapshots share the old slice.
		ca := slices.Clone(p.p.CustomAttributes)
		i := f.IntRange(0, len(ca)-1)
		def := attrDefByID(ca[i].ID)
		old := ca[i].Value
		for range 10 {
			if ca[i].Value = def.gen(f); !jsonEqual(ca[i].Value, old) {
				break
			}
		}
		if jsonEqual(ca[i].Value, old) { // the generator has few values; force a change
			ca[i].Value = changedValue(def, old)
		}
		p.p.CustomAttributes = ca
		touch(p)
	}
	res.AttributeChanges = ids(attrs)

	// Compensation-only changes do not move the person's updated_at, as in Personio.
	sal := pick(c.SalaryChanges, isActive)
	cur := monthStart(dateOf(now))
	for _, p := range sal {
		e := p.currentEmployment()
		var target *compRec
		for _, cr := range d.comps {
			if cr.c.Person.ID == p.p.ID && cr.c.Type.Category == "FIXED" && !cr.effective.Before(cur) {
				target = cr
			}
		}
		if target == nil {
			cents, typ, interval := d.basePay(e)
			eff := maxTime(cur, parseDate(e.e.EmploymentStartDate))
			d.addComp(p, e, typ, cents, eff, interval)
			continue
		}
		cents := parseCents(string(target.c.Amount.Value))
		cents = cents*int64(f.IntRange(102, 112))/100 + d.randomCents()%10
		target.c.Amount.Value = personio.Decimal(centsText(cents))
		target.encode()
	}
	res.SalaryChanges = ids(sal)

	bonus := pick(c.Bonuses, isActive)
	for _, p := range bonus {
		e := p.currentEmployment()
		d.addComp(p, e, typeBonus, int64(f.IntRange(300, 5000))*100+d.randomCents(), dateOf(now), "ONE_TIME")
	}
	res.Bonuses = ids(bonus)
	res.TwinBonusChanges = d.changeTwinBonuses(c.TwinBonusChanges)
	return res
}

func (d *dataset) deletePerson(p *personRec) {
	i := d.personIndex(p.seq - 1)
	d.persons = slices.Delete(d.persons, i, i+1)
	delete(d.byID, p.p.ID)
	delete(d.emails, p.p.Email)
	d.comps = slices.DeleteFunc(d.comps, func(c *compRec) bool { return c.c.Person.ID == p.p.ID })
	d.removed = append(d.removed, p)
}

func attrDefByID(id string) attrDef {
	for _, a := range attrDefs {
		if a.id == id {
			return a
		}
	}
	return attrDefs[0]
}

func jsonEqual(a, b json.RawMessage) bool { return string(a) == string(b) }

// changedValue returns a value of def's type different from old.
func changedValue(def attrDef, old json.RawMessage) json.RawMessage {
	switch def.typ {
	case "BOOLEAN":
		if string(old) == `"true"` {
			return rawString("false")
		}
		return rawString("true")
	case "STRING_LIST":
		var l []string
		_ = json.Unmarshal(old, &l)
		return mustJSON(append(l, "Esperanto"))
	default:
		var s string
		_ = json.Unmarshal(old, &s)
		return rawString(s + "1")
	}
}
