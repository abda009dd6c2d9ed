package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrWouldReorder marks a message that failed retryably but was not retried
// because a later message with the same key had already been acknowledged:
// re-sending it would put an older change after a newer one.
var ErrWouldReorder = errors.New("kafka: not retried: a later message with the same key was already acknowledged")

// ErrTooLarge is matched by the *TooLargeError of a message larger than its topic accepts.
var ErrTooLarge = errors.New("kafka: message too large for its topic")

// ErrFenced is matched by the error of a TxnProducer whose transactional id a later producer
// took over (the tenant moved to another instance): this producer can no longer publish, and
// no retry changes that. The tenant must stop here.
var ErrFenced = errors.New("kafka: fenced: another producer took the transactional id over")

// ErrClosed is returned by a Client after Close.
var ErrClosed = errors.New("kafka: client closed")

// PublishError reports the messages of one Publish call that were not
// acknowledged. Every message not listed was acknowledged by all in-sync
// replicas.
type PublishError struct {
	// Failed maps the index in the published slice to the last error seen
	// for that message.
	Failed map[int]error
	// Total is the number of messages in the call.
	Total int
}

// Error implements error.
func (e *PublishError) Error() string {
	var first error
	firstIdx := -1
	for i, err := range e.Failed {
		if firstIdx < 0 || i < firstIdx {
			first, firstIdx = err, i
		}
	}
	return fmt.Sprintf("kafka: publish: %d of %d messages not acknowledged (first: message %d: %v)",
		len(e.Failed), e.Total, firstIdx, first)
}

// Acked reports whether message i of the call was acknowledged.
func (e *PublishError) Acked(i int) bool {
	_, failed := e.Failed[i]
	return !failed
}

// Retryable reports whether publishing the failed messages again later may
// succeed: true when every failure is retryable.
func (e *PublishError) Retryable() bool {
	for _, err := range e.Failed {
		if !errors.Is(err, ErrWouldReorder) && !Retryable(err) {
			return false
		}
	}
	return true
}

// Acked reports whether message i of a Publish call that returned err was
// acknowledged: all were when err is nil, those not listed in a
// *PublishError were, and none is known to be after any other error.
func Acked(err error, i int) bool {
	if err == nil {
		return true
	}
	var pe *PublishError
	if errors.As(err, &pe) {
		return pe.Acked(i)
	}
	return false
}

// Retryable classifies errors from this package and from kafka-go: broker
// error codes that Kafka documents as retriable, timeouts, and connection
// failures are retryable; authorization, refused credentials and
// certificates (see Refused), invalid requests, oversized messages and
// cancellation are not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrFenced) {
		return false // another instance owns the transactional id now
	}
	var pe *PublishError
	if errors.As(err, &pe) {
		return pe.Retryable()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) || errors.Is(err, ErrFenced) {
		return false
	}
	if Refused(err) != "" {
		return false // a refused credential or certificate stays refused
	}
	if errors.Is(err, ErrWouldReorder) {
		return true
	}
	if errors.Is(err, ErrTooLarge) {
		return false
	}
	// kafka-go's own view of the cluster has no leader for the partition (yet): a leader
	// election, e.g. right after a broker restart, until its metadata is refreshed.
	if errors.Is(err, protocol.ErrNoLeader) || errors.Is(err, protocol.ErrNoPartition) {
		return true
	}
	var ke kafkago.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke.Timeout()
	}
	var kge *kerr.Error // franz-go's (TxnProducer)
	if errors.As(err, &kge) {
		return kge.Retriable
	}
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !Retryable(e) {
				return false
			}
		}
		return true
	}
	var mtl kafkago.MessageTooLargeError
	if errors.As(err, &mtl) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// reason maps an error to a short, bounded metric label value.
func reason(err error) string {
	var ke kafkago.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrWouldReorder):
		return "would_reorder"
	case errors.Is(err, ErrFenced):
		return "fenced"
	case errors.Is(err, ErrTooLarge):
		return "message_too_large"
	case errors.As(err, &ke):
		switch ke {
		case kafkago.RequestTimedOut:
			return "timeout"
		case kafkago.NotLeaderForPartition, kafkago.LeaderNotAvailable:
			return "not_leader"
		case kafkago.UnknownTopicOrPartition:
			return "unknown_topic"
		case kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed, kafkago.SASLAuthenticationFailed:
			return "authorization"
		case kafkago.MessageSizeTooLarge:
			return "message_too_large"
		case kafkago.NotEnoughReplicas, kafkago.NotEnoughReplicasAfterAppend:
			return "not_enough_replicas"
		}
		if ke.Temporary() {
			return "broker_retriable"
		}
		return "broker_fatal"
	}
	var mtl kafkago.MessageTooLargeError
	if errors.As(err, &mtl) {
		return "message_too_large"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if Retryable(err) {
		return "network"
	}
	return "other"
}

// UnknownTopic reports whether err says that a topic (or partition) does not exist.
func UnknownTopic(err error) bool { return errors.Is(err, kafkago.UnknownTopicOrPartition) }

// Why the brokers refused this client for good (see Refused): a credential or a certificate
// that no retry changes, only an operator.
const (
	// RefusedSASL: the brokers refused the SASL credential (user or password).
	RefusedSASL = "sasl"
	// RefusedMechanism: the brokers do not offer the configured SASL mechanism.
	RefusedMechanism = "sasl_mechanism"
	// RefusedUntrusted: the broker's certificate does not verify against the trusted CAs
	// (unknown CA, expired, not for server use).
	RefusedUntrusted = "tls_untrusted"
	// RefusedName: the broker's certificate is valid but not for the address dialled.
	RefusedName = "tls_name"
	// RefusedNotTLS: TLS is enabled but the broker answered without TLS.
	RefusedNotTLS = "tls_not_tls"
	// RefusedExpectsTLS: TLS is not enabled but the broker answered with TLS.
	RefusedExpectsTLS = "tls_expected"
)

// RefusalFix returns the setting that fixes a refusal of kind (see Refused) and what is wrong,
// in words that hold no value of any setting; "", "" for a kind it does not know.
func RefusalFix(kind string) (setting, problem string) {
	switch kind {
	case RefusedSASL:
		return "KAFKA_SASL_PASSWORD", "Kafka refused the SASL credential"
	case RefusedMechanism:
		return "KAFKA_SASL_MECHANISM", "the brokers do not offer this SASL mechanism"
	case RefusedUntrusted:
		return "KAFKA_TLS_CA_FILE", "the broker's TLS certificate does not verify against the trusted CAs"
	case RefusedName:
		return "KAFKA_BROKERS", "the broker's TLS certificate is not valid for the address dialled"
	case RefusedNotTLS:
		return "KAFKA_TLS_ENABLED", "the broker does not speak TLS on this port"
	case RefusedExpectsTLS:
		return "KAFKA_TLS_ENABLED", "the broker expects TLS on this port"
	}
	return "", ""
}

// expectsTLS is how kafka-go says that a broker answered a plain request with a TLS record; it
// wraps io.ErrUnexpectedEOF with this text and no type of its own.
const expectsTLS = "broker appears to be expecting TLS"

// Refused reports why err is the brokers refusing this client for good (RefusedSASL,
// RefusedMechanism, RefusedUntrusted, RefusedName, RefusedNotTLS, RefusedExpectsTLS), or ""
// when it is not: a broker that is down,
// slow or electing a leader may answer later.
func Refused(err error) string {
	if err == nil {
		return ""
	}
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, kafkago.SASLAuthenticationFailed), errors.Is(err, kafkago.IllegalSASLState):
		return RefusedSASL
	case errors.Is(err, kafkago.UnsupportedSASLMechanism):
		return RefusedMechanism
	case errors.As(err, &hostname):
		return RefusedName
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &verify):
		return RefusedUntrusted
	case errors.As(err, &record):
		return RefusedNotTLS
	case errors.Is(err, io.ErrUnexpectedEOF) && strings.Contains(err.Error(), expectsTLS):
		return RefusedExpectsTLS
	}
	return ""
}
