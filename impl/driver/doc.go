// Package driver runs a node core (impl/node) for real: one goroutine owns
// the core and feeds it datagrams from the UDP transport (many per system
// call), timer ticks from its clock.Clock, the gateways' calls, and the
// answers of its store. That goroutine also runs the core's storage
// requests (store.Request), in order, with consecutive steps in one Pebble
// batch: none of them waits for the disk. A syncer goroutine waits for each
// write's fsync, in order, before the core hears that it is durable
// (DUR-1). The datagrams of one turn of the loop leave in one system call
// where the transport can, and the messages of a turn bound to the same
// node travel in one datagram, a bundle (wire.TBundle), which the
// receiving driver unpacks before its core sees the messages; a
// malformed bundle is dropped whole and counted as malformed. The gateways (XML-RPC with the HTTP/JSON API, Sun RPC)
// call the server, which implements gateway.Backend. With
// ServerConfig.Metrics and StatusPage the HTTP gateway also serves the
// node's Prometheus metrics (impl/metrics) at /metrics and its status page
// (impl/statuspage) at /; the loop publishes what they read every 100 ms
// and answers Inspect, so neither touches the core off its goroutine.
// Shutdown drains the gateways before it stops the node and closes the
// store.
//
// The simulated host (impl/simhost) drives the same core over the
// deterministic network simulator.
package driver
