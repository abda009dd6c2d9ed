package erasure

import "errors"

// ErrBadKey is the error of an erasure record whose key is not "<tenant>:<person id>".
var ErrBadKey = errors.New("erasure: key is not <tenant>:<person id>")

// ErrBadArgument is the error of an empty or malformed tenant or person id.
var ErrBadArgument = errors.New("erasure: bad argument")
