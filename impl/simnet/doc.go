// Package simnet is a deterministic discrete-event simulator of a
// wide-area network, for running many DHT nodes in one process under
// faults that a test chooses and can replay.
//
// It is normal, non-test code, so that tests of any package and long
// simulation runs (make targets) can use it; production code must not
// import it (a node is given a transport.Transport and a clock.Clock and
// cannot tell the simulator from the real network).
//
// # What it promises
//
//   - Determinism. One goroutine does everything: Run, RunFor, RunUntil
//     and Step pop events from one queue ordered by (simulated time,
//     sequence number), so events due at the same instant run in the order
//     they were scheduled. Every random choice (loss, duplication, jitter)
//     comes from one math/rand/v2 PCG source seeded by New; base latencies
//     are a pure function of the seed and the two addresses. The same seed
//     and the same calls give the same run, event for event and byte for
//     byte. No real time is read and no goroutine is started.
//   - Simulated time starts at Config.Epoch (2026-01-01 UTC by default) and
//     moves only when the network runs an event or is run to a later time.
//   - Endpoints (Attach) implement transport.Transport with its contract:
//     Send copies the payload and schedules its delivery after the link's
//     latency; it never blocks and never fails because of the network (a
//     lost datagram is counted, not reported). Handlers are called on the
//     simulator's goroutine with a payload valid only during the call; by
//     default the buffer is overwritten afterwards, so a handler that keeps
//     the slice fails at once instead of rarely.
//   - Per-node clocks (Clock) read simulated time with an offset and a
//     drift, and measure their timers in their own drifting time.
//   - Faults, changeable at any moment (also from inside handlers and
//     timers): loss, duplication, extra delay and jitter (and so
//     reordering), globally and per directed link; symmetric partitions
//     (Partition), one-way partitions (PartitionOneWay), Heal; crashes
//     (Detach: the endpoint stops receiving and the node's clocks stop
//     firing). A partition drops a datagram both when it is sent and, if
//     the partition began while it was in flight, when it arrives: nothing
//     ever crosses an active partition.
//   - Statistics per address and in total: datagrams and bytes sent,
//     received, duplicated and dropped by cause, so that a node's
//     maintenance bandwidth can be measured.
//
// # Latency model
//
// The one-way delay of a datagram is the base latency of its link, plus a
// uniform draw in [0, Config.Jitter), plus the Delay and a uniform draw of
// the Jitter of the faults in force. The base latency of a link is fixed
// for the whole run: by default a uniform value in [MinLatency, MaxLatency]
// derived by hashing the seed and the two addresses (the same both ways);
// PlaneLatency offers a model with geometry (triangle inequality), for
// proximity neighbour selection and Vivaldi coordinates. There is no
// bandwidth limit and no queueing: a burst costs nothing but events.
//
// # Not safe for concurrent use
//
// A Network and everything obtained from it (endpoints, clocks, timers)
// belong to one goroutine: the one that calls Run or Step, and the
// handlers and timer functions it calls. A node driven by its own
// goroutines cannot run inside the simulator; drive its pure core from
// handlers and timers instead.
package simnet
