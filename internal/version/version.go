package version

// Version is the ssmssh release; "dev" for unstamped builds.
var Version = "dev"
