// Package driver runs a node core (impl/node) for real: one goroutine owns
// the core and feeds it datagrams from the UDP transport, timer ticks, the
// gateways' calls, and the answers of its store; a storage worker runs the
// core's storage requests (store.Request) in order, and a syncer waits for
// each write's fsync, in order, before the core hears that it is durable
// (DUR-1). The gateways (XML-RPC with the HTTP/JSON API, Sun RPC) call the
// server, which implements gateway.Backend. Time comes only from a
// clock.Clock.
//
// The simulated host (impl/simhost) drives the same core over the
// deterministic network simulator.
package driver
