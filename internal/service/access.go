package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

// Pinger is a client that can check that its server answers: *kafka.Client and
// *codec.Registry.
type Pinger interface {
	Ping(ctx context.Context) error
}

// AccessCheckTimeout bounds each server's check in CheckAccess.
const AccessCheckTimeout = 15 * time.Second

// CheckAccess asks Kafka for metadata and the schema registry for its compatibility level, once
// each (nil skips one), and returns an *AccessError naming the setting to fix when either
// refuses the service for good: Kafka refuses the SASL credential or its certificate does not
// verify, the registry answers 401 or 403. Every other failure (a server that is down or slow)
// returns nil: the commands go on and retry or report it as they always did. Called at
// start-up, it turns a wrong password or CA into one clear error and exit 1 instead of a sync
// that fails with a vaguer one, or a service that keeps trying.
func CheckAccess(ctx context.Context, cfg config.Config, kc, registry Pinger) error {
	if kc != nil {
		pctx, cancel := context.WithTimeout(ctx, AccessCheckTimeout)
		err := kc.Ping(pctx)
		cancel()
		if err := kafkaAccess(cfg.Kafka, err); err != nil {
			return err
		}
	}
	if registry != nil {
		pctx, cancel := context.WithTimeout(ctx, AccessCheckTimeout)
		err := registry.Ping(pctx)
		cancel()
		if err := registryAccess(cfg.SchemaRegistry, err); err != nil {
			return err
		}
	}
	return nil
}

// kafkaAccess classifies a failed Kafka check (see kafka.Refused and kafka.RefusalFix) and adds
// what to do with this configuration.
func kafkaAccess(k config.Kafka, err error) error {
	kind := kafka.Refused(err)
	setting, problem := kafka.RefusalFix(kind)
	if setting == "" {
		return nil
	}
	var advice string
	switch kind {
	case kafka.RefusedSASL:
		advice = fmt.Sprintf("of user %q (%s); check KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE), "+
			"KAFKA_SASL_USERNAME and KAFKA_SASL_MECHANISM", k.SASLUsername, strings.ToUpper(k.SASLMechanism))
	case kafka.RefusedMechanism:
		advice = fmt.Sprintf("(%s); set KAFKA_SASL_MECHANISM to one they enable", strings.ToUpper(k.SASLMechanism))
	case kafka.RefusedUntrusted:
		cas := "the system's CAs"
		if k.TLSCAFile != "" {
			cas = k.TLSCAFile
		}
		advice = "(" + cas + "); set KAFKA_TLS_CA_FILE to the CA that signed it"
	case kafka.RefusedName:
		advice = "; use a name the certificate holds"
	case kafka.RefusedNotTLS:
		advice = "; check KAFKA_BROKERS and KAFKA_TLS_ENABLED"
	case kafka.RefusedExpectsTLS:
		advice = "; set KAFKA_TLS_ENABLED=true (and KAFKA_TLS_CA_FILE if a private CA signed it)"
	}
	sep := " "
	if strings.HasPrefix(advice, ";") {
		sep = ""
	}
	return &AccessError{Setting: setting, Message: problem + sep + advice, Err: err}
}

// registryAccess classifies a failed registry check: 401 and 403 are refusals.
func registryAccess(r config.SchemaRegistry, err error) error {
	var re *codec.RegistryError
	if !errors.As(err, &re) || (re.Status != http.StatusUnauthorized && re.Status != http.StatusForbidden) {
		return nil
	}
	if r.Username == "" {
		return &AccessError{Setting: "SCHEMA_REGISTRY_USERNAME", Err: err, Message: fmt.Sprintf(
			"the schema registry demands a credential (HTTP %d); set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD "+
				"(or SCHEMA_REGISTRY_PASSWORD_FILE)", re.Status)}
	}
	return &AccessError{Setting: "SCHEMA_REGISTRY_PASSWORD", Err: err, Message: fmt.Sprintf(
		"the schema registry refused the credential of user %q (HTTP %d); check SCHEMA_REGISTRY_PASSWORD "+
			"(or SCHEMA_REGISTRY_PASSWORD_FILE) and SCHEMA_REGISTRY_USERNAME", r.Username, re.Status)}
}
