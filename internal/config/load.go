package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Loader binds the settings of some groups to a flag.FlagSet and resolves them once the flags
// are parsed. Commands that have flags of their own register those on the same FlagSet.
type Loader struct {
	fs     *flag.FlagSet
	groups Group
	values map[string]*flagValue // by flag name
}

// NewLoader registers a flag for every non-secret setting of groups on fs. Each flag's help
// names its environment variable.
func NewLoader(fs *flag.FlagSet, groups Group) *Loader {
	l := &Loader{fs: fs, groups: groups, values: make(map[string]*flagValue)}
	for _, s := range settings {
		if s.group&groups == 0 || s.flag == "" {
			continue
		}
		v := &flagValue{s: s.def, isBool: s.isBool}
		l.values[s.flag] = v
		fs.Var(v, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	return l
}

// Groups returns the setting groups the loader resolves.
func (l *Loader) Groups() Group { return l.groups }

// Load resolves the configuration after the FlagSet has been parsed: defaults, then the
// environment (read through getenv), then flags that were given on the command line. It then
// validates the loaded groups. A non-nil error is an *Error listing every problem; the returned
// Config is still filled in as far as possible.
func (l *Loader) Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := Default()
	var probs []Problem
	given := make(map[string]bool)
	if l.fs.Parsed() {
		l.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	}
	for _, s := range settings {
		if s.group&l.groups == 0 {
			continue
		}
		if s.secret {
			v, p := secretFromEnv(getenv, s.env)
			if p != nil {
				probs = append(probs, *p)
			} else if v != "" {
				_ = s.set(&c, v) // secrets are plain strings: setting one cannot fail
			}
			continue
		}
		if v := getenv(s.env); strings.TrimSpace(v) != "" {
			if err := s.set(&c, v); err != nil {
				probs = append(probs, Problem{Setting: s.env, Message: fmt.Sprintf("%s: %v", s.env, err)})
			}
		}
		if s.flag != "" && given[s.flag] {
			if err := s.set(&c, l.values[s.flag].s); err != nil {
				probs = append(probs, Problem{Setting: s.env, Message: fmt.Sprintf("--%s: %v", s.flag, err)})
			}
		}
	}
	// A setting that failed to load is reported once, not again by validation.
	failed := make(map[string]bool)
	for _, p := range probs {
		failed[p.Setting] = true
	}
	if l.groups&GroupSync != 0 && !failed["FIELD_POLICY_FILE"] && !failed["FIELD_POLICY_HASH_KEY"] {
		if p := c.loadFieldPolicy(); p != nil {
			probs = append(probs, *p)
		}
	}
	for _, p := range c.problems(l.groups) {
		if !failed[p.Setting] {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return c, &Error{Problems: probs}
	}
	return c, nil
}

// Load parses args as the service's flags and resolves every setting group. It is the whole
// configuration of `personio-cdc run`.
func Load(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("personio-cdc", flag.ContinueOnError)
	fs.SetOutput(discard{})
	l := NewLoader(fs, GroupAll)
	if err := fs.Parse(args); err != nil {
		return Default(), &Error{Problems: []Problem{{Message: err.Error()}}}
	}
	if fs.NArg() > 0 {
		return Default(), &Error{Problems: []Problem{{Message: fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}}}
	}
	return l.Load(getenv)
}

// secretFromEnv reads a secret from NAME or from the file named by NAME_FILE. Setting both is a
// problem: which one wins would be a guess. Problems never contain the secret, nor the value of
// NAME_FILE: a secret pasted there instead of a path would otherwise be printed as the path that
// could not be read.
func secretFromEnv(getenv func(string) string, name string) (string, *Problem) {
	direct := getenv(name)
	path := strings.TrimSpace(getenv(name + "_FILE"))
	switch {
	case direct != "" && path != "":
		return "", &Problem{Setting: name, Message: fmt.Sprintf("%s and %s_FILE are both set; set only one", name, name)}
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", &Problem{Setting: name, Message: fmt.Sprintf("%s_FILE: the file it names cannot be read: %s "+
				"(its value is not printed, in case it is the secret itself)", name, readProblem(err))}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", &Problem{Setting: name, Message: fmt.Sprintf("%s_FILE: the file it names is empty", name)}
		}
		return v, nil
	default:
		return direct, nil
	}
}

// readProblem says why a file could not be read, in words that never contain its path.
func readProblem(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not found"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.EISDIR):
		return "it is a directory"
	case errors.As(err, &pe):
		return pe.Err.Error() // the cause alone; pe.Error() would add the path
	default:
		return "unreadable"
	}
}

// flagValue is a flag that remembers its text; the setting parses it, so that a bad value is
// reported with every other problem instead of stopping flag parsing.
type flagValue struct {
	s      string
	isBool bool
}

// IsBoolFlag lets boolean settings be given as a bare --flag.
func (v *flagValue) IsBoolFlag() bool { return v.isBool }

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *flagValue) Set(s string) error { v.s = s; return nil }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Usage writes the table of environment variables of groups to help text: name, default and
// meaning. Commands print it under their flags.
func Usage(groups Group) string {
	type row struct{ name, def, usage string }
	var rows []row
	width := 0
	for _, s := range settings {
		if s.group&groups == 0 {
			continue
		}
		r := row{s.env, s.def, s.usage}
		if s.secret {
			r.name += " (or " + s.env + "_FILE)"
		}
		if r.def == "" {
			r.def = "-"
		}
		width = max(width, len(r.name))
		rows = append(rows, r)
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %-22s  %s\n", width, r.name, r.def, r.usage)
	}
	return b.String()
}

// EnvNames returns the environment variable of every setting of groups, in documentation
// order (secrets without their _FILE form).
func EnvNames(groups Group) []string {
	var out []string
	for _, s := range settings {
		if s.group&groups != 0 {
			out = append(out, s.env)
		}
	}
	return out
}

// Placeholder returns the help-text placeholder of a setting's flag ("duration", "url", …);
// empty for boolean flags and for flags that are not settings.
func (l *Loader) Placeholder(flagName string) string {
	for _, s := range settings {
		if s.flag == flagName {
			return s.kind
		}
	}
	return ""
}

// loadFieldPolicy reads and checks FIELD_POLICY_FILE into c.Sync.FieldPolicy. Its problem
// names the setting and the entity and field at fault, never a value or the hash key.
func (c *Config) loadFieldPolicy() *Problem {
	path := c.Sync.FieldPolicyFile
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &Problem{Setting: "FIELD_POLICY_FILE", Message: "FIELD_POLICY_FILE: the file it names cannot be read: " + readProblem(err)}
	}
	p, err := change.ParsePolicy(b, []byte(c.Sync.FieldPolicyHashKey.Value()))
	if err != nil {
		msg := "FIELD_POLICY_FILE: " + err.Error()
		var pe *change.PolicyError
		if errors.As(err, &pe) && pe.Entity == "" && c.Sync.FieldPolicyHashKey.Value() == "" && strings.Contains(pe.Reason, "hash key") {
			msg += " (set FIELD_POLICY_HASH_KEY or FIELD_POLICY_HASH_KEY_FILE)"
		}
		return &Problem{Setting: "FIELD_POLICY_FILE", Message: msg}
	}
	c.Sync.FieldPolicy = p
	return nil
}
