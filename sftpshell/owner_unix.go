//go:build unix

package sftpshell

import (
	"io/fs"
	"syscall"
)

// localOwner returns the owner and group of a local file.
func localOwner(fi fs.FileInfo) (uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Uid, st.Gid, true
}
