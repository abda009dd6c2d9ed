package personio

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Route templates: the endpoint label of metrics and the Endpoint of errors.
const (
	endpointListPersons     = "GET /v2/persons"
	endpointGetPerson       = "GET /v2/persons/{id}"
	endpointListEmployments = "GET /v2/persons/{person_id}/employments"
	endpointGetEmployment   = "GET /v2/persons/{person_id}/employments/{id}"
)

// Page size bounds of the persons and employments listings.
const (
	MaxPersonsLimit = 50
	// DefaultPersonsLimit is the page size used when a filter leaves Limit at 0. It is the
	// maximum, to spend as few requests as possible.
	DefaultPersonsLimit = 50
)

// PersonFilter narrows GET /v2/persons. Zero fields are not sent. Times are sent in RFC 3339,
// UTC, whole seconds.
type PersonFilter struct {
	IDs           []string  // id (comma list)
	Emails        []string  // email (comma list)
	FirstName     string    // first_name
	LastName      string    // last_name
	PreferredName string    // preferred_name
	Status        string    // status: ACTIVE or INACTIVE
	CreatedAt     time.Time // created_at
	CreatedAfter  time.Time // created_at.gt
	CreatedBefore time.Time // created_at.lt
	UpdatedAt     time.Time // updated_at
	UpdatedAfter  time.Time // updated_at.gt
	UpdatedBefore time.Time // updated_at.lt
	Limit         int       // page size 1–50; 0 means 50
}

func (f PersonFilter) query() (url.Values, error) {
	q := url.Values{}
	limit, err := pageLimit(f.Limit, DefaultPersonsLimit, MaxPersonsLimit)
	if err != nil {
		return nil, err
	}
	q.Set("limit", strconv.Itoa(limit))
	if err := setList(q, "id", f.IDs); err != nil {
		return nil, err
	}
	if err := setList(q, "email", f.Emails); err != nil {
		return nil, err
	}
	setString(q, "first_name", f.FirstName)
	setString(q, "last_name", f.LastName)
	setString(q, "preferred_name", f.PreferredName)
	setString(q, "status", f.Status)
	setTime(q, "created_at", f.CreatedAt)
	setTime(q, "created_at.gt", f.CreatedAfter)
	setTime(q, "created_at.lt", f.CreatedBefore)
	setTime(q, "updated_at", f.UpdatedAt)
	setTime(q, "updated_at.gt", f.UpdatedAfter)
	setTime(q, "updated_at.lt", f.UpdatedBefore)
	return q, nil
}

// EmploymentFilter narrows GET /v2/persons/{person_id}/employments. Zero fields are not sent.
type EmploymentFilter struct {
	IDs           []string  // id (comma list)
	UpdatedAt     time.Time // updated_at
	UpdatedAfter  time.Time // updated_at.gt
	UpdatedBefore time.Time // updated_at.lt
	Limit         int       // page size 1–50; 0 means 50
}

func (f EmploymentFilter) query() (url.Values, error) {
	q := url.Values{}
	limit, err := pageLimit(f.Limit, DefaultPersonsLimit, MaxPersonsLimit)
	if err != nil {
		return nil, err
	}
	q.Set("limit", strconv.Itoa(limit))
	if err := setList(q, "id", f.IDs); err != nil {
		return nil, err
	}
	setTime(q, "updated_at", f.UpdatedAt)
	setTime(q, "updated_at.gt", f.UpdatedAfter)
	setTime(q, "updated_at.lt", f.UpdatedBefore)
	return q, nil
}

// ListPersons lists the persons matching f, calling fn once per page in order. It stops at the
// first error, including one returned by fn.
func (c *Client) ListPersons(ctx context.Context, f PersonFilter, fn func([]Person) error) error {
	q, err := f.query()
	if err != nil {
		return fmt.Errorf("list persons: %w", err)
	}
	u := c.endpointURL(q, "v2", "persons")
	if err := list(ctx, c, endpointListPersons, c.persons, u, fn); err != nil {
		return c.scrub(fmt.Errorf("list persons: %w", err))
	}
	return nil
}

// GetPerson returns one person. A person that does not exist gives an error matching
// ErrNotFound.
func (c *Client) GetPerson(ctx context.Context, id string) (Person, error) {
	if err := checkID("id", id); err != nil {
		return Person{}, fmt.Errorf("get person: %w", err)
	}
	p, err := getOne[Person](ctx, c, endpointGetPerson, c.endpointURL(nil, "v2", "persons", id))
	if err != nil {
		return Person{}, c.scrub(fmt.Errorf("get person: %w", err))
	}
	return p, nil
}

// ListEmployments lists the employments of one person, calling fn once per page in order.
func (c *Client) ListEmployments(ctx context.Context, personID string, f EmploymentFilter, fn func([]Employment) error) error {
	if err := checkID("person id", personID); err != nil {
		return fmt.Errorf("list employments: %w", err)
	}
	q, err := f.query()
	if err != nil {
		return fmt.Errorf("list employments: %w", err)
	}
	u := c.endpointURL(q, "v2", "persons", personID, "employments")
	if err := list(ctx, c, endpointListEmployments, c.persons, u, fn); err != nil {
		return c.scrub(fmt.Errorf("list employments: %w", err))
	}
	return nil
}

// GetEmployment returns one employment of a person; ErrNotFound when it does not exist.
func (c *Client) GetEmployment(ctx context.Context, personID, id string) (Employment, error) {
	if err := checkID("person id", personID); err != nil {
		return Employment{}, fmt.Errorf("get employment: %w", err)
	}
	if err := checkID("id", id); err != nil {
		return Employment{}, fmt.Errorf("get employment: %w", err)
	}
	e, err := getOne[Employment](ctx, c, endpointGetEmployment, c.endpointURL(nil, "v2", "persons", personID, "employments", id))
	if err != nil {
		return Employment{}, c.scrub(fmt.Errorf("get employment: %w", err))
	}
	return e, nil
}

// endpointURL joins path segments (escaping each) to the base URL and adds q.
func (c *Client) endpointURL(q url.Values, segments ...string) *url.URL {
	u := c.base.JoinPath(segments...)
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u
}

func pageLimit(limit, def, maxLimit int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || limit > maxLimit {
		return 0, fmt.Errorf("%w: limit %d outside 1–%d", ErrInvalidArgument, limit, maxLimit)
	}
	return limit, nil
}

func checkID(name, id string) error {
	if strings.TrimSpace(id) == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidArgument, name)
	}
	if strings.ContainsAny(id, "/?#") || id == "." || id == ".." {
		return fmt.Errorf("%w: %s contains a reserved character", ErrInvalidArgument, name)
	}
	return nil
}

// setList sets a comma-separated list parameter. Elements must be non-empty and free of commas;
// the error names the parameter only, never a value.
func setList(q url.Values, name string, vs []string) error {
	if len(vs) == 0 {
		return nil
	}
	for _, v := range vs {
		if strings.TrimSpace(v) == "" || strings.Contains(v, ",") {
			return fmt.Errorf("%w: %s filter has an empty value or one containing a comma", ErrInvalidArgument, name)
		}
	}
	q.Set(name, strings.Join(vs, ","))
	return nil
}

func setString(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339))
	}
}
