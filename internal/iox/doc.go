// Package iox holds the byte-stream plumbing the commands share: a
// bidirectional copy that passes half-closes on, and shell quoting.
package iox
