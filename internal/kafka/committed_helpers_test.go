package kafka

import "time"

// readTestTimeout bounds a read that must end by itself; it only turns a hang into a failure.
const readTestTimeout = 60 * time.Second
