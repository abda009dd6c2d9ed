package kafka

import kafkago "github.com/segmentio/kafka-go"

// Partition returns the partition of key among partitions (> 0) as the Java client's default
// partitioner chooses it: toPositive(murmur2(key)) % partitions, the same function Publish
// places keyed messages with (kafka-go's Murmur2Balancer). It panics when partitions < 1.
func Partition(key []byte, partitions int) int {
	if partitions < 1 {
		panic("kafka: Partition of fewer than one partition")
	}
	if key == nil {
		key = []byte{} // the balancer spreads nil keys at random; an empty key hashes
	}
	return partitionBalancer.Balance(kafkago.Message{Key: key}, partitionIDs(partitions)...)
}

var partitionBalancer kafkago.Murmur2Balancer

// partitionIDs returns 0..n-1; the balancer picks among the ids it is given.
func partitionIDs(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}
