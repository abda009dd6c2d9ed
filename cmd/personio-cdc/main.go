// Command personio-cdc turns the Personio HR API into Avro change events on Kafka.
//
// It is the service (run) and its tools (sync, resnapshot, replay, tail, schemas, demo). main
// only parses flags, wires packages together and maps the outcome to an exit code:
// 0 success (`run` also when stopped by a signal), 1 runtime error or a sync that did not
// complete (interrupted included), 2 bad configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/service"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version string

// Exit codes.
const (
	exitOK     = 0 // success; `run` stopped by a signal
	exitError  = 1 // runtime error; failed, partial or interrupted sync or resnapshot
	exitConfig = 2 // bad flags or configuration
)

// app is what every command gets from main: the process' streams and environment, so that
// tests can run commands in-process.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdoutTTY and stderrTTY tell whether the streams are terminals (colours, progress bars).
	stdoutTTY, stderrTTY bool
}

// color reports whether stdout may carry ANSI colours: a terminal, and NO_COLOR unset.
func (a *app) color() bool {
	return a.stdoutTTY && a.getenv("NO_COLOR") == "" && a.getenv("TERM") != "dumb"
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) int
}

func commands() []command {
	return []command{
		{"run", "run the service: scheduled syncs, /metrics, /healthz, /readyz, /status", cmdRun},
		{"sync", "run one sync now and exit (0 complete, 1 failed, partial or interrupted)", cmdSync},
		{"resnapshot", "publish an \"r\" event for every current entity (bootstrap new consumers)", cmdResnapshot},
		{"replay", "read topics from offset 0 and show their current state", cmdReplay},
		{"tail", "print the events of the topics as they arrive, decoded (a kcat for our Avro)", cmdTail},
		{"erase", "erase a person: tombstone their keys, keep syncs from publishing them (--lift undoes)", cmdErase},
		{"schemas", "print, register or check the Avro schemas", cmdSchemas},
		{"webhooks", "register, list or delete the Personio webhook subscription", cmdWebhooks},
		{"demo", "run everything in-process against a simulated Personio and print the events", cmdDemo},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	// The first SIGINT/SIGTERM cancels ctx: the command stops taking new work and shuts down
	// in order. A second signal exits at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hard := make(chan os.Signal, 1)
	go func() {
		<-ctx.Done()
		stop() // the first handler is done; the next signal goes to hard
		signal.Notify(hard, os.Interrupt, syscall.SIGTERM)
		<-hard
		fmt.Fprintln(os.Stderr, "personio-cdc: second signal, exiting immediately")
		os.Exit(exitError)
	}()
	a := &app{
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		getenv:    os.Getenv,
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	os.Exit(runMain(ctx, a, os.Args[1:]))
}

// runMain dispatches to a command and returns its exit code.
func runMain(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 {
		mainUsage(a.stderr)
		return exitConfig
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		mainUsage(a.stdout)
		return exitOK
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, a, args[1:])
		}
	}
	fmt.Fprintf(a.stderr, "personio-cdc: unknown command %q\n\n", name)
	mainUsage(a.stderr)
	return exitConfig
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "personio-cdc turns the Personio HR API into Avro change events on Kafka.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: personio-cdc <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Try it with nothing set up:  personio-cdc demo")
	fmt.Fprintln(w, "Help on a command:          personio-cdc <command> --help")
	fmt.Fprintln(w, "Exit codes: 0 ok (run: also stopped by a signal), 1 runtime error or a sync that did not")
	fmt.Fprintln(w, "complete (interrupted included), 2 bad configuration.")
}

// flags is one command's FlagSet with its help text.
type flags struct {
	*flag.FlagSet
	loader *config.Loader // nil for commands without settings
	// tenants is every tenant of TENANTS_FILE (or the one of the PERSONIO_* settings) after
	// parse, for a command that serves many (many set); the others get one tenant's config.
	many    bool
	tenants []config.Config
}

// newFlags builds a command's FlagSet. synopsis and examples feed --help; groups are the
// setting groups offered as flags (0 for none).
func newFlags(a *app, name, synopsis, examples string, groups config.Group) *flags {
	fs := flag.NewFlagSet("personio-cdc "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	f := &flags{FlagSet: fs}
	if groups != 0 {
		f.loader = config.NewLoader(fs, groups)
	}
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: personio-cdc %s\n\n", synopsis)
		if examples != "" {
			fmt.Fprintf(w, "Examples:\n%s\n", examples)
		}
		fmt.Fprintln(w, "Flags:")
		printFlags(w, f)
		if groups != 0 {
			fmt.Fprintln(w, "\nEnvironment (flags win over the environment; secrets only from the environment or *_FILE):")
			fmt.Fprint(w, config.Usage(groups))
		}
	}
	return f
}

// parse parses args and loads the configuration. ok is false when the command must exit with
// code; --help exits 0, every other problem 2, each problem named.
func (f *flags) parse(a *app, args []string) (cfg config.Config, code int, ok bool) {
	// The flag package prints the usage on every parse error; print it only for --help (on
	// stdout), and a one-line hint after an error.
	usage := f.Usage
	f.Usage = func() {}
	err := f.Parse(args)
	f.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.SetOutput(a.stdout)
			f.Usage()
			return cfg, exitOK, false
		}
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", f.Name()) // flag printed the error
		return cfg, exitConfig, false
	}
	if f.NArg() > 0 {
		fmt.Fprintf(a.stderr, "%s: unexpected arguments: %s\n", f.Name(), strings.Join(f.Args(), " "))
		return cfg, exitConfig, false
	}
	if f.loader == nil {
		return config.Default(), exitOK, true
	}
	cfg, err = f.loader.Load(a.getenv)
	switch {
	case err != nil || f.loader.Groups()&config.GroupPersonio == 0:
	case f.many:
		f.tenants, err = config.Tenants(cfg)
	default:
		cfg, err = oneTenant(cfg)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "%s: %v\n", f.Name(), err)
		fmt.Fprintf(a.stderr, "Run '%s --help' for every setting.\n", f.Name())
		return cfg, exitConfig, false
	}
	return cfg, exitOK, true
}

// oneTenant resolves TENANTS_FILE for the commands that serve one tenant: the file is loaded
// and checked whole (config.Tenants), and a file of one tenant is that tenant's configuration.
// A file of several is refused, naming them, until one process serves many tenants.
func oneTenant(cfg config.Config) (config.Config, error) {
	cfgs, err := config.Tenants(cfg)
	if err != nil {
		return cfg, err
	}
	if len(cfgs) > 1 {
		names := make([]string, len(cfgs))
		for i, c := range cfgs {
			names[i] = c.Personio.Tenant
		}
		return cfg, fmt.Errorf("TENANTS_FILE %s: its %d tenants (%s) are valid, but this build serves one tenant per process: "+
			"list one tenant in the file, or run a process per tenant", cfg.Tenants.File, len(cfgs), strings.Join(names, ", "))
	}
	return cfgs[0], nil
}

// redacted returns a copy of a whose stdout and stderr carry none of cfg's secrets, and a
// logger on it that redacts them from every record: the last line of defence against a
// server that echoes a credential in an error.
func redacted(a *app, cfg config.Config) (*app, *slog.Logger) {
	r := service.Redactor(cfg)
	c := *a
	c.stdout, c.stderr = r.Writer(a.stdout), r.Writer(a.stderr)
	return &c, r.Logger(newLogger(&c, cfg.Log))
}

// newLogger builds the process logger: JSON or text on stderr, at the configured level.
func newLogger(a *app, l config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// fail prints a runtime error and returns exitError.
func fail(a *app, cmd string, err error) int {
	fmt.Fprintf(a.stderr, "personio-cdc %s: %v\n", cmd, err)
	return exitError
}

// printFlags lists the flags as --name placeholder, meaning and default, one per line.
func printFlags(w io.Writer, f *flags) {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	f.VisitAll(func(fl *flag.Flag) {
		placeholder, usage := flag.UnquoteUsage(fl)
		if f.loader != nil {
			if p := f.loader.Placeholder(fl.Name); p != "" || placeholder == "value" {
				placeholder = p
			}
		}
		left := "--" + fl.Name
		if placeholder != "" {
			left += " " + placeholder
		}
		if d := fl.DefValue; d != "" && d != "false" {
			usage += " (default " + d + ")"
		}
		width = max(width, len(left))
		rows = append(rows, row{left, usage})
	})
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.usage)
	}
}
