package refresh

import "errors"

// ErrConfig means a Config is not usable; the error names the setting.
var ErrConfig = errors.New("refresh: invalid config")

// ErrRecord means a verification record on the topic cannot be read.
var ErrRecord = errors.New("refresh: invalid verification record")
