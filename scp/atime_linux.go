package scp

import (
	"io/fs"
	"syscall"
	"time"
)

// atime is a local file's access time (its modification time when the
// system does not say).
func atime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Unix())
	}
	return fi.ModTime()
}
