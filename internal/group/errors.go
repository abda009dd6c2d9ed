package group

import "errors"

// ErrInvalidOptions is returned by New for missing or out-of-range options; the error names
// every problem.
var ErrInvalidOptions = errors.New("group: invalid options")

// ErrWorkTopic marks a work topic that could not be created or described for good (e.g. not
// authorised); Run returns it. Brokers that are merely unreachable are waited for.
var ErrWorkTopic = errors.New("group: work topic")
