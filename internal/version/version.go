// Package version holds the build's version string, stamped by the
// Makefile with -ldflags -X.
package version

// Version is the ssmssh release; "dev" for unstamped builds.
var Version = "dev"
