package publish

import "errors"

var (
	// ErrStateUnknown is matched by a Publish error after which some messages may have reached
	// Kafka without being applied to the state: rebuild the state from the topics.
	ErrStateUnknown = errors.New("state may be behind the topics")
	// ErrNotRegistered is returned by Publish before Register succeeded.
	ErrNotRegistered = errors.New("publish: schemas not registered")
)
