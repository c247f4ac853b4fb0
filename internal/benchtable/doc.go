// Command benchtable reads `go test -bench` output (bench.txt) on stdin and
// prints the throughput and timing benchmarks as one table, each row with
// its figure paced like the real agent first and unpaced beside it (the
// sub-benchmarks named …/paced and …/unpaced, see e2etest.BenchPaces), and
// rows with no agent to pace (straight to sshd, …/direct, codec
// benchmarks) in a column of their own. make bench runs it after the benchmarks.
package main
