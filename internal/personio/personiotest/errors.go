package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrInvalidOptions is returned by New when an option is out of range.
var ErrInvalidOptions = errors.New("personiotest: invalid options")

// ErrAlreadyStarted is returned by Start on a server that already listens.
var ErrAlreadyStarted = errors.New("personiotest: server already started")

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
