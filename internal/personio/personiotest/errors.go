package personiotest

import "errors"

// ErrInvalidOptions is returned by New when an option is out of range.
var ErrInvalidOptions = errors.New("personiotest: invalid options")

// ErrAlreadyStarted is returned by Start on a server that already listens.
var ErrAlreadyStarted = errors.New("personiotest: server already started")
