// Package version holds the build's version string, stamped by the
// Makefile with -ldflags -X.
package version
