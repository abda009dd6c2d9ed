package webhook

import "errors"

// ErrInvalidOptions is returned by New for options out of range.
var ErrInvalidOptions = errors.New("webhook: invalid options")

// ErrClosed is returned by Queue.Next after Close, once the queue is empty.
var ErrClosed = errors.New("webhook: queue closed")
