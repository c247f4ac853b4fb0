//go:build !linux && !darwin && !freebsd && !netbsd

package scp

import (
	"io/fs"
	"time"
)

// atime is a local file's access time; here, its modification time.
func atime(fi fs.FileInfo) time.Time { return fi.ModTime() }
