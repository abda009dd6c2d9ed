package publish

import "github.com/personio-cdc/personio-cdc/internal/kafka"

// A tenant's transactional producer is a Producer that checks sizes.
var (
	_ Producer    = (*kafka.TxnProducer)(nil)
	_ SizeLimiter = (*kafka.TxnProducer)(nil)
)
