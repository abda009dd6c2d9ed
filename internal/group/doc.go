// Package group shares the configured tenants out among the instances of one deployment
// through Kafka's consumer group protocol, the way Kafka Connect spreads tasks over its
// workers: there is no coordinator of our own, the group coordinator in the brokers is it.
//
// # How tenants are assigned
//
// Every instance joins the consumer group GROUP_ID and subscribes to the work topic
// <prefix>.work (created with GROUP_WORK_PARTITIONS partitions, 64 by default; an existing
// topic's count is used as it is). A tenant belongs to partition
// murmur2(name) % partitions, the Java client's placement of the name as a record key
// (Partition). The group's cooperative-sticky assignor spreads the partitions over the members;
// a member owns exactly the configured tenants that hash onto the partitions it holds. Nothing
// is ever written to or read from the work topic: its partitions are only the unit of
// assignment, and the member switches fetching off (membership, heartbeats and rebalances run
// in the client's own goroutines, whether or not anything polls; without BlockRebalanceOnPoll
// no poll gates the rebalance callbacks).
//
// The cooperative-sticky assignor (KIP-429) moves only the partitions that must move: a joining
// instance takes a fair share from the others and nobody else stops, a leaving instance's
// partitions go to the others and nobody else stops. A member gives a partition up in two
// steps: the first rebalance revokes it (OnPartitionsRevoked: Owner.Release, which returns only
// once the tenants stopped), the member rejoins, and only the second rebalance assigns it to
// another member (OnPartitionsAssigned: Owner.Own). So within the group protocol a tenant's
// next owner starts after its previous owner stopped.
//
// # Why franz-go
//
// The group is run by github.com/twmb/franz-go's kgo, although the rest of the service
// produces with kafka-go: kafka-go's consumer groups have only eager assignors (range,
// round-robin; every rebalance stops every member's every tenant), and its generation API has
// no callback that tells a revoked partition (hand it on cleanly) from a lost one (the member
// was dropped; stop at once). kgo has the cooperative-sticky balancer, OnPartitionsAssigned,
// OnPartitionsRevoked and OnPartitionsLost, and hooks that see every heartbeat's round trip,
// which the local lease needs. Its client is built from the same kafka.Config as the kafka-go
// client (kafka.Config.FranzOpts): the same brokers, TLS and SASL.
//
// # When the coordinator cannot be reached: the local lease
//
// The coordinator drops a member it has not heard from for the session timeout and gives its
// partitions to the others; it cannot tell the member, which is out of reach. So the member
// keeps its own lease, renewed by every answered Heartbeat (from the time it was sent: the
// coordinator's timer restarted no earlier than it arrived) and every answered JoinGroup and
// SyncGroup (from the answer: the coordinator restarts every member's timer when it completes
// them), and running out after 2/3 of the session timeout, well before the coordinator's timer.
// When the lease runs out the member releases every tenant (cause "lease" of
// personio_cdc_group_lost_total), gives this member up and joins again with a new one, which can
// be given the old one's partitions only after the coordinator dropped it. A join the
// coordinator holds (a rebalance waiting for slower members) keeps the lease for up to one
// rebalance timeout. Elapsed time is the longer of the monotonic and the wall clock, so a paused
// virtual machine counts as time gone by.
//
// The lease is a promise about this process only. A process frozen (SIGSTOP, a long pause)
// past the session timeout wakes up with its tenants already owned elsewhere and may publish
// once before it notices: that is what the fence is for (a transactional producer per tenant
// whose next owner's InitProducerID bumps the epoch, so the frozen one's publish fails with
// a fenced error). The group promises Release-before-next-Own within the protocol and the
// local lease; the fence makes a late publish harmless.
//
// # Session timeout
//
// GROUP_SESSION_TIMEOUT defaults to 30 s, not Kafka Connect's 10 s. Handing a tenant on costs
// the new owner a state rebuild and the fence, so a short network blip or a broker restart
// should not move every tenant; 30 s rides out a controller failover and long GC pauses, and
// still leaves half of the one-minute goal for a dead instance's tenants to be syncing again
// elsewhere (issue 15's rebalance_seconds). Heartbeats go every tenth of it (3 s). The
// rebalance timeout (GROUP_REBALANCE_TIMEOUT, 60 s, Kafka's and Connect's default) bounds how
// long members may take to rejoin; in cooperative mode a slow Release does not hold up the
// group (the member keeps heartbeating), it only delays the hand-over of its own partitions.
//
// # Shutdown order
//
// When Run's context ends: (1) every owned tenant is released (Owner.Release returns once they
// stopped), (2) the member leaves the group (LeaveGroup, waiting at most 10 s for the
// coordinator), which starts the rebalance that gives the partitions to the others, (3) the
// client closes and Run returns. The reverse order would let the next owner start while this
// one still runs. Whoever runs the Owner keeps its Kafka producer open until Run returned.
//
// # Changing the configuration
//
// SetTenants (a reloaded tenants file) re-derives ownership on the partitions held now. The
// partition count is read once per Run: partitions added to the work topic later are ignored
// until every instance restarted (instances must agree on the count, or two of them could
// hash one tenant onto partitions they each hold).
package group
