// Command personio-sim serves a simulated Personio API v2 (see package personiotest).
//
//	personio-sim --addr 127.0.0.1:0 --persons 500 --seed 1
//
// It prints its base URL as the first line of stdout and serves until SIGINT or SIGTERM. It
// accepts the credential sim-client / sim-secret unless --client-id and --client-secret say
// otherwise.
//
// With --companies N (N > 1) it serves N companies on the one listener (see
// personiotest.NewCompanies): company-01 … company-NN, each with --persons persons of its
// own, the client_id company-NN and the client_secret <--client-secret>-NN
// (sim-secret-01, …); --credentials-dir writes each secret to DIR/company-NN.secret. Admin
// endpoints are per company under /admin/companies/company-NN/; GET /admin/companies lists
// them.
// Exit codes: 0 after a signal, 1 on a runtime error, 2 on a bad flag.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	addr      string
	companies int
	credsDir  string
	opts      personiotest.Options
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	o := &c.opts
	fs := flag.NewFlagSet("personio-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: personio-sim [flags]

Serves a simulated Personio API v2 and prints its base URL as the first line of stdout.
Unless --client-id and --client-secret say otherwise it accepts the test credential
client_id=%s client_secret=%s (POST /v2/auth/token with
grant_type=client_credentials, form-encoded).

With --companies N (N > 1) it serves N companies, each with --persons persons of its own:
client_id=company-01 … company-NN, client_secret=<--client-secret>-NN (%s-01, …);
--credentials-dir DIR writes each secret to DIR/company-NN.secret. Their admin endpoints
are under /admin/companies/company-NN/ (GET /admin/companies lists them).

Flags:
`, personiotest.DefaultClientID, personiotest.DefaultClientSecret, personiotest.DefaultClientSecret)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address")
	fs.IntVar(&c.companies, "companies", 1, "number of companies served on the listener (1: one company with --client-id/--client-secret)")
	fs.StringVar(&c.credsDir, "credentials-dir", "", "with --companies > 1: write each company's client secret to DIR/company-NN.secret")
	fs.IntVar(&o.Persons, "persons", personiotest.DefaultPersons, "number of persons to generate (per company)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the generated data (same seed, same data)")
	fs.StringVar(&o.PublicURL, "public-url", "", "origin clients reach the simulator at, named by profile picture URLs (default: the listen URL)")
	fs.StringVar(&o.ClientID, "client-id", personiotest.DefaultClientID, "accepted client_id")
	fs.StringVar(&o.ClientSecret, "client-secret", personiotest.DefaultClientSecret, "accepted client_secret (a test value, not a secret)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", personiotest.DefaultTokenTTL, "lifetime of issued tokens")
	fs.Float64Var(&o.RateLimit.PerMinute, "rate-per-minute", 300, "requests per minute per credential")
	fs.IntVar(&o.RateLimit.Burst, "burst", 15, "burst per credential")
	fs.Float64Var(&o.CompensationRateLimit.PerMinute, "comp-rate-per-minute", 300, "compensation requests per minute per credential")
	fs.IntVar(&o.CompensationRateLimit.Burst, "comp-burst", 5, "compensation burst per credential")
	fs.BoolVar(&o.NoRateLimit, "no-rate-limit", false, "turn rate limits off")
	fs.IntVar(&o.CompensationConcurrency, "comp-concurrency", personiotest.DefaultCompensationConcurrency, "compensation requests without person.id in progress per credential before 429 compensations.too_many_requests (negative = no limit)")
	fs.IntVar(&o.CompensationWorkLimit, "comp-work-limit", personiotest.DefaultCompensationWorkLimit, "most work (persons x days + 100 x limit) of a compensation request before 422 compensations.unprocessable_content (negative = no limit)")
	fs.Float64Var(&o.CompensationUnavailable, "comp-unavailable", 0, "probability of a 503 compensations.service_unavailable on a compensation request")
	fs.DurationVar(&o.CompensationRetryAfter, "comp-retry-after", personiotest.DefaultCompensationRetryAfter, "Retry-After of the compensation 429 and 503 (whole seconds)")
	fs.Func("comp-rate-limit-from", "date (YYYY-MM-DD, UTC) from which --comp-rate-per-minute/--comp-burst apply; before it compensations get the general budget (default 2027-01-13)", func(v string) error {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return errors.New("want a date YYYY-MM-DD")
		}
		o.CompensationRateLimitFrom = d
		return nil
	})
	fs.BoolVar(&o.OmitCompensationIDs, "omit-compensation-ids", false, "serve compensations without id")
	fs.IntVar(&o.TwinBonuses, "twin-bonuses", 0, "persons paid two bonuses of one type on one day (with --omit-compensation-ids they share the composite identity)")
	fs.IntVar(&o.CompensationMonths, "compensation-months", 3, "months of compensation history before the current one")
	fs.Float64Var(&o.Faults.P500, "p500", 0, "probability of a 500 reply")
	fs.Float64Var(&o.Faults.P502, "p502", 0, "probability of a 502 reply")
	fs.Float64Var(&o.Faults.P503, "p503", 0, "probability of a 503 reply")
	fs.Float64Var(&o.Faults.P504, "p504", 0, "probability of a 504 reply")
	fs.Float64Var(&o.Faults.Reset, "p-reset", 0, "probability of a connection reset")
	fs.Float64Var(&o.Faults.Truncate, "p-truncate", 0, "probability of a truncated body")
	fs.Float64Var(&o.Faults.Malformed, "p-malformed", 0, "probability of malformed JSON")
	fs.DurationVar(&o.Faults.Latency, "latency", 0, "latency added to every API reply")
	fs.DurationVar(&o.Faults.LatencyJitter, "latency-jitter", 0, "random extra latency, uniform in [0, jitter)")
	fs.DurationVar(&o.Faults.TokenTTL, "early-token-expiry", 0, "tokens expire after this although expires_in says --token-ttl (0 = off)")
	fs.BoolVar(&o.Faults.TokenFaults, "token-faults", false, "inject faults into the token endpoints too")
	fs.DurationVar(&o.ChurnEvery, "churn-every", 0, "apply background churn at this interval, in every company (0 = off)")
	fs.DurationVar(&o.Webhooks.Backoff, "webhook-backoff", personiotest.DefaultWebhookBackoff, "wait before the first retry of a failed webhook delivery, doubled each time")
	fs.IntVar(&o.Webhooks.Attempts, "webhook-attempts", personiotest.DefaultWebhookAttempts, "attempts of a webhook delivery before it is given up")
	fs.BoolVar(&o.Webhooks.AllowHTTP, "webhook-allow-http", false, "accept http:// webhook URLs on any host (default: https://, or http:// on loopback)")
	fs.Func("webhook-ca-file", "PEM file of the certificate authorities https:// deliveries trust instead of the system's (a test receiver's own CA)", func(v string) error {
		pem, err := os.ReadFile(v)
		if err != nil {
			return fmt.Errorf("--webhook-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--webhook-ca-file %s: no PEM certificate in it", v)
		}
		o.Webhooks.RootCAs = pool
		return nil
	})
	fs.Func("hidden-fields", "comma-separated fields left out of replies, as for a credential without their scope (e.g. email,custom_attributes.iban,amount)", func(v string) error {
		o.HiddenFields = strings.Split(v, ",")
		return nil
	})
	fs.Func("hostile", "comma-separated hostile cases served from the start ("+strings.Join(hostileNames(), ", ")+"); PUT /admin/hostile changes them", func(v string) error {
		h, err := personiotest.ParseHostile(v)
		o.Hostile = h
		return err
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.companies < 1 || c.companies > personiotest.MaxCompanies {
		return c, fmt.Errorf("--companies must be 1 to %d, got %d", personiotest.MaxCompanies, c.companies)
	}
	if c.companies > 1 {
		clientIDSet := false
		fs.Visit(func(f *flag.Flag) { clientIDSet = clientIDSet || f.Name == "client-id" })
		if clientIDSet {
			return c, errors.New("--client-id names the one company's client; with --companies > 1 they are company-01 … company-NN")
		}
		o.ClientID = ""
	} else if c.credsDir != "" {
		return c, errors.New("--credentials-dir needs --companies > 1")
	}
	return c, nil
}

func hostileNames() []string {
	out := make([]string, len(personiotest.AllHostile))
	for i, h := range personiotest.AllHostile {
		out[i] = string(h)
	}
	return out
}

// sim is what run serves: one company (*personiotest.Server) or several
// (*personiotest.Companies).
type sim interface {
	Start(addr string) error
	URL() string
	Close() error
}

// newSim builds the simulator cfg describes and, for several companies, writes their
// credentials to --credentials-dir.
func newSim(cfg config) (sim, error) {
	if cfg.companies == 1 {
		return personiotest.New(cfg.opts)
	}
	cs, err := personiotest.NewCompanies(cfg.companies, cfg.opts)
	if err != nil {
		return nil, err
	}
	if cfg.credsDir != "" {
		if _, err := cs.WriteCredentials(cfg.credsDir); err != nil {
			_ = cs.Close()
			return nil, err
		}
	}
	return cs, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	srv, err := newSim(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// Catch signals before announcing the URL: a caller may signal as soon as it has read it.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(cfg.addr); err != nil {
		logger.Error("start", "err", err)
		return 1
	}
	out := bufio.NewWriter(stdout)
	fmt.Fprintln(out, srv.URL())
	if err := out.Flush(); err != nil {
		logger.Error("write url", "err", err)
		_ = srv.Close()
		return 1
	}
	if cfg.companies == 1 {
		logger.Info("personio simulator serving", "url", srv.URL(), "persons", cfg.opts.Persons, "seed", cfg.opts.Seed)
	} else {
		logger.Info("personio simulator serving", "url", srv.URL(), "companies", cfg.companies, "persons_per_company", cfg.opts.Persons, "seed", cfg.opts.Seed)
	}

	<-ctx.Done()
	stop() // a second signal ends the process at once
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Error("close", "err", err)
			return 1
		}
	case <-time.After(5 * time.Second):
		logger.Error("close timed out")
		return 1
	}
	logger.Info("personio simulator stopped")
	return 0
}
