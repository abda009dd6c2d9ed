// Package schemas holds the Avro schemas of the events the service publishes, one change
// envelope per entity, and every version of them that was ever released.
//
// The schemas are the public contract (DESIGN.md §3). They evolve BACKWARD_TRANSITIVE only:
// a new field is optional with a default, nothing is renamed or removed. Before a changed
// schema is released, its previous text is recorded as history/<entity>/v<N>.avsc; the
// package tests check the current schema against every recorded version.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/personio-cdc/personio-cdc/internal/codec"
)

// Entity names, equal to the topic suffixes (<prefix>.persons, <prefix>.compensations,
// <prefix>.employments).
const (
	Persons       = "persons"
	Compensations = "compensations"
	Employments   = "employments"
)

//go:embed *.avsc history
var files embed.FS

// Names returns the entity names that have a schema, sorted.
func Names() []string {
	entries, err := fs.Glob(files, "*.avsc")
	if err != nil {
		panic(err) // the pattern is a constant
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e, ".avsc"))
	}
	slices.Sort(names)
	return names
}

// Source returns the current schema text of an entity.
func Source(entity string) (string, error) {
	b, err := files.ReadFile(entity + ".avsc")
	if err != nil {
		return "", fmt.Errorf("schemas: no schema for entity %q", entity)
	}
	return string(b), nil
}

// MustSource is Source for the entities this package is known to hold; it panics otherwise.
func MustSource(entity string) string {
	s, err := Source(entity)
	if err != nil {
		panic(err)
	}
	return s
}

// PersonChange returns the schema text of the persons topic value.
func PersonChange() string { return MustSource(Persons) }

// CompensationChange returns the schema text of the compensations topic value.
func CompensationChange() string { return MustSource(Compensations) }

// EmploymentChange returns the schema text of the employments topic value.
func EmploymentChange() string { return MustSource(Employments) }

// Parse parses the current schema of an entity. Each call parses into a fresh name cache, so
// schemas of different versions never see each other's named types.
func Parse(entity string) (codec.Schema, error) {
	s, err := Source(entity)
	if err != nil {
		return nil, err
	}
	return ParseText(s)
}

// ParseText parses a schema text into a fresh name cache.
func ParseText(text string) (codec.Schema, error) {
	sch, err := codec.ParseSchema(text)
	if err != nil {
		return nil, fmt.Errorf("schemas: parse: %w", err)
	}
	return sch, nil
}

// History returns the recorded schema texts of an entity, oldest (v1) first.
func History(entity string) ([]string, error) {
	dir := path.Join("history", entity)
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("schemas: no history for entity %q", entity)
	}
	type version struct {
		n    int
		name string
	}
	var vs []version
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutPrefix(strings.TrimSuffix(name, ".avsc"), "v")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".avsc") {
			return nil, fmt.Errorf("schemas: unexpected history file %s/%s", dir, name)
		}
		vs = append(vs, version{n, name})
	}
	slices.SortFunc(vs, func(a, b version) int { return a.n - b.n })
	out := make([]string, 0, len(vs))
	for i, v := range vs {
		if v.n != i+1 {
			return nil, fmt.Errorf("schemas: history of %q misses v%d", entity, i+1)
		}
		b, err := files.ReadFile(path.Join(dir, v.name))
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}
