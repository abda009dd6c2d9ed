package publish

import (
	"errors"
	"fmt"
	"strings"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

var (
	// ErrStateUnknown is matched by a Publish error after which some messages may have reached
	// Kafka without being applied to the state: rebuild the state from the topics.
	ErrStateUnknown = errors.New("state may be behind the topics")
	// ErrNotRegistered is returned by Publish before Register succeeded.
	ErrNotRegistered = errors.New("publish: schemas not registered")
)

// ReasonTooLarge is the Skip reason of an event whose message is larger than its topic takes.
const ReasonTooLarge = "too_large"

// Skip is an event Publish left out. It names the entity, the reason and sizes only: no key, no
// content, so it can go to logs, metrics and /status.
type Skip struct {
	Entity change.Entity `json:"entity"`
	Reason string        `json:"reason"`      // ReasonTooLarge
	Size   int           `json:"size_bytes"`  // the most bytes the event's message takes in a record batch
	Limit  int           `json:"limit_bytes"` // the most a message may take on its topic
}

// SkipError lists the events Publish left out. Every other event of the call was published and
// applied, unless the SkipError is joined to another error. A left-out event was not applied to
// the state, so the next sync computes it again and tries again.
type SkipError struct {
	Skipped []Skip
}

// Error implements error.
func (e *SkipError) Error() string {
	var b strings.Builder
	if len(e.Skipped) == 1 {
		b.WriteString("publish: 1 event left out: ")
	} else {
		fmt.Fprintf(&b, "publish: %d events left out: ", len(e.Skipped))
	}
	for i, s := range e.Skipped {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Skipped)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s): %d bytes, the topic takes at most %d", s.Entity, s.Reason, s.Size, s.Limit)
	}
	return b.String()
}
