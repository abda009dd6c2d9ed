package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/service"
)

const webhooksExamples = `  WEBHOOK_TOKEN_FILE=/run/secrets/webhook-token personio-cdc webhooks register --webhook-url https://cdc.example.com/webhooks/personio
  TENANTS_FILE=tenants.yaml personio-cdc webhooks register --file-tenant acme-gmbh --webhook-url https://cdc.example.com/webhooks/personio
` + "    (registers https://cdc.example.com/webhooks/personio/acme-gmbh with the tenant's webhook_token_file)\n" + `  personio-cdc webhooks list
  personio-cdc webhooks delete --id 2e4324b0-1b0e-11ee-a7f7-e37ffd9b3a44
`

// cmdWebhooks manages the company's Personio webhook subscription: register (URL, token,
// person and employment events, status ENABLED), list and delete.
func cmdWebhooks(ctx context.Context, a *app, args []string) int {
	const usage = "Usage: personio-cdc webhooks register|list|delete [flags]\n\nExamples:\n"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(a.stdout, usage+webhooksExamples)
			return exitOK
		}
		fmt.Fprint(a.stderr, usage+webhooksExamples)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	groups := config.GroupPersonio | config.GroupLog
	synopsis := "webhooks " + sub + " [flags]"
	switch sub {
	case "register":
		groups |= config.GroupWebhook
	case "list":
	case "delete":
		synopsis = "webhooks delete --id ID [flags]"
	default:
		fmt.Fprintf(a.stderr, "personio-cdc webhooks: unknown subcommand %q (want register, list or delete)\n", sub)
		return exitConfig
	}
	f := newFlags(a, "webhooks "+sub, synopsis, webhooksExamples, groups)
	f.many = true // a tenant of TENANTS_FILE, chosen by --file-tenant
	tenantName := f.String("file-tenant", "", "the tenant of TENANTS_FILE whose subscription to manage (required when the file lists several)")
	var description, events, id *string
	switch sub {
	case "register":
		description = f.String("description", "", "description of the webhook in Personio (default: personio-cdc <tenant>)")
		events = f.String("events", strings.Join(personio.PersonEvents, ","), "comma-separated events to enable")
	case "delete":
		id = f.String("id", "", "id of the webhook to delete (see webhooks list)")
	}
	base, code, ok := f.parse(a, args)
	if !ok {
		return code
	}
	cfg, err := chooseTenant(base, f.tenants, *tenantName)
	if err != nil {
		fmt.Fprintf(a.stderr, "personio-cdc webhooks %s: %v\n", sub, err)
		return exitConfig
	}
	var spec personio.WebhookSpec
	switch sub {
	case "register":
		spec = personio.WebhookSpec{
			// A tenant of TENANTS_FILE is delivered to on its own path: <WEBHOOK_URL>/<tenant>.
			URL: cfg.Webhook.TenantURL(cfg.Personio.Tenant), Description: *description, Status: personio.WebhookEnabled,
			AuthType: personio.WebhookAuthToken, Token: cfg.Webhook.Token.Value(),
		}
		if spec.Description == "" {
			spec.Description = "personio-cdc " + cfg.Personio.Tenant
		}
		for _, e := range strings.Split(*events, ",") {
			if e = strings.TrimSpace(e); e != "" {
				spec.EnabledEvents = append(spec.EnabledEvents, e)
			}
		}
		var missing []string
		if spec.URL == "" {
			missing = append(missing, "WEBHOOK_URL (--webhook-url) is required")
		}
		if spec.Token == "" {
			missing = append(missing, "WEBHOOK_TOKEN (or WEBHOOK_TOKEN_FILE, or the tenant's webhook_token_file) is required")
		}
		if len(spec.EnabledEvents) == 0 {
			missing = append(missing, "--events names no event")
		}
		if len(missing) > 0 {
			fmt.Fprintf(a.stderr, "personio-cdc webhooks register: %s\n", strings.Join(missing, "; "))
			return exitConfig
		}
	case "delete":
		if strings.TrimSpace(*id) == "" {
			fmt.Fprintln(a.stderr, "personio-cdc webhooks delete: --id is required (see webhooks list)")
			return exitConfig
		}
	}
	a, logger := redacted(a, cfg)
	if sub == "register" && cfg.Webhook.PerTenant {
		fmt.Fprintf(a.stdout, "tenant %s: deliveries go to %s (WEBHOOK_PATH/%s on the receiver)\n", cfg.Personio.Tenant, spec.URL, cfg.Personio.Tenant)
	}
	pc, err := service.NewPersonio(cfg, nil, logger.With("component", "personio"))
	if err != nil {
		return fail(a, "webhooks "+sub, err)
	}
	switch sub {
	case "register":
		w, err := pc.CreateWebhook(ctx, spec)
		if err != nil {
			return fail(a, "webhooks register", err)
		}
		fmt.Fprintf(a.stdout, "registered webhook %s: %s, %s, token in Authorization, %d events\n", w.ID, w.URL, w.Status, len(w.EnabledEvents))
	case "list":
		ws, err := pc.ListWebhooks(ctx)
		if err != nil {
			return fail(a, "webhooks list", err)
		}
		if len(ws) == 0 {
			fmt.Fprintln(a.stdout, "no webhooks")
		}
		for _, w := range ws {
			fmt.Fprintf(a.stdout, "%s  %-8s  %-6s  %s  %s\n", w.ID, w.Status, w.AuthType, w.URL, strings.Join(w.EnabledEvents, ","))
		}
	case "delete":
		if err := pc.DeleteWebhook(ctx, *id); err != nil {
			return fail(a, "webhooks delete", err)
		}
		fmt.Fprintf(a.stdout, "deleted webhook %s\n", *id)
	}
	return exitOK
}

// chooseTenant returns the configuration of the tenant named name among tenants (those of
// TENANTS_FILE, or the one of the PERSONIO_* settings); an empty name is the only tenant.
func chooseTenant(base config.Config, tenants []config.Config, name string) (config.Config, error) {
	names := make([]string, len(tenants))
	for i, c := range tenants {
		if name != "" && c.Personio.Tenant == name {
			return c, nil
		}
		names[i] = c.Personio.Tenant
	}
	switch {
	case name == "" && len(tenants) == 1:
		return tenants[0], nil
	case name == "":
		return base, fmt.Errorf("--file-tenant is required: TENANTS_FILE lists %d tenants (%s)", len(tenants), strings.Join(names, ", "))
	default:
		return base, fmt.Errorf("--file-tenant %q is not a configured tenant (%s)", name, strings.Join(names, ", "))
	}
}
