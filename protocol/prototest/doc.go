// Package prototest provides in-memory transports for testing code built on
// package protocol, in the spirit of net/http/httptest.
//
// Pipe connects two protocol.Transport ends in memory, with bounded
// buffering. Faulty wraps any Transport and injects seeded, reproducible
// faults on its write path — dropped, duplicated, reordered and delayed
// frames, and a transport that dies after a number of bytes — so that the
// reliable session layer (and the emulator's gateway) can be exercised
// against a hostile network without sleeping or real sockets.
//
// Everything here uses channels and timers from the standard library only,
// so it works inside a testing/synctest bubble, where Latency and the
// session's retransmission timers run in fake time.
package prototest
