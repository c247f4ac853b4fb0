package sftpshell

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

// lsFlags are the flags of ls and lls: -1 one name a line, -a dot files
// too, -l long listing (-n too: ids are always numeric), -r reverse, -t
// newest first, -S largest first, -f unsorted, -h sizes in K, M, G.
const lsFlags = "1alnrtSfh"

// entry is one name of a listing.
type entry struct {
	name string // as shown
	fi   fs.FileInfo
}

func (s *Shell) cmdLs(_ context.Context, p *parsed) error {
	w := "."
	if len(p.args) > 0 {
		w = p.args[0]
	}
	pat := s.remotePattern(w)
	var ents []entry
	if !hasGlob(pat) {
		dir := literal(pat)
		fi, err := s.Client.Stat(dir)
		if err != nil {
			return remoteErr(dir, err)
		}
		if !fi.IsDir() {
			ents = []entry{{name: s.relative(w, dir), fi: fi}}
		} else {
			list, err := s.Client.ReadDir(dir)
			if err != nil {
				return remoteErr(dir, err)
			}
			prefix := ""
			if len(p.args) > 0 && literal(w) != "." {
				prefix = strings.TrimSuffix(literal(w), "/") + "/"
			}
			for _, fi := range list {
				if p.has('a') || !strings.HasPrefix(fi.Name(), ".") {
					ents = append(ents, entry{name: prefix + fi.Name(), fi: fi})
				}
			}
		}
	} else {
		matches, err := s.remoteGlob(w)
		if err != nil {
			return err
		}
		for _, m := range matches {
			fi, err := s.Client.Lstat(m)
			if err != nil {
				continue // gone since the glob read its directory
			}
			ents = append(ents, entry{name: s.relative(w, m), fi: fi})
		}
	}
	s.list(ents, p)
	return nil
}

func (s *Shell) cmdLls(_ context.Context, p *parsed) error {
	w := "."
	if len(p.args) > 0 {
		w = p.args[0]
	}
	pat := s.localPattern(w)
	var ents []entry
	if !hasGlob(pat) {
		dir := literal(pat)
		fi, err := os.Stat(dir)
		if err != nil {
			return localErr(dir, err)
		}
		if !fi.IsDir() {
			ents = []entry{{name: s.localRelative(w, dir), fi: fi}}
		} else {
			des, err := os.ReadDir(dir)
			if err != nil {
				return localErr(dir, err)
			}
			prefix := ""
			if len(p.args) > 0 && literal(w) != "." {
				prefix = strings.TrimSuffix(literal(w), string(filepath.Separator)) + string(filepath.Separator)
			}
			for _, de := range des {
				if !p.has('a') && strings.HasPrefix(de.Name(), ".") {
					continue
				}
				fi, err := de.Info()
				if err != nil {
					continue
				}
				ents = append(ents, entry{name: prefix + de.Name(), fi: fi})
			}
		}
	} else {
		matches, err := s.localGlob(w)
		if err != nil {
			return err
		}
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil {
				continue
			}
			ents = append(ents, entry{name: s.localRelative(w, m), fi: fi})
		}
	}
	s.list(ents, p)
	return nil
}

// list sorts and prints ents as ls's flags in p say.
func (s *Shell) list(ents []entry, p *parsed) {
	switch {
	case p.has('f'):
	case p.has('t'):
		slices.SortStableFunc(ents, func(a, b entry) int { return b.fi.ModTime().Compare(a.fi.ModTime()) })
	case p.has('S'):
		slices.SortStableFunc(ents, func(a, b entry) int { return int(min(max(b.fi.Size()-a.fi.Size(), -1), 1)) })
	default:
		slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	}
	if p.has('r') && !p.has('f') {
		slices.Reverse(ents)
	}
	var b strings.Builder
	switch {
	case p.has('l') || p.has('n'):
		now := time.Now()
		for _, e := range ents {
			b.WriteString(longLine(e, p.has('h'), now))
			b.WriteByte('\n')
		}
	case p.has('1'):
		for _, e := range ents {
			b.WriteString(e.name + "\n")
		}
	default:
		b.WriteString(columns(ents, s.Width))
	}
	s.printf("%s", b.String())
}

// columns lays names out in rows across the width, as sftp's ls does.
func columns(ents []entry, width int) string {
	if len(ents) == 0 {
		return ""
	}
	if width <= 0 {
		width = 80
	}
	longest := 0
	for _, e := range ents {
		longest = max(longest, utf8.RuneCountInString(e.name))
	}
	cols := max(width/(longest+2), 1)
	colWidth := width / cols
	var b, line strings.Builder
	for i, e := range ents {
		line.WriteString(e.name)
		if (i+1)%cols == 0 || i == len(ents)-1 {
			b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
			line.Reset()
			continue
		}
		line.WriteString(strings.Repeat(" ", max(colWidth-utf8.RuneCountInString(e.name), 1)))
	}
	return b.String()
}

// longLine is ls -l's line for e: mode, numeric owner and group, size,
// time and name.
func longLine(e entry, human bool, now time.Time) string {
	uid, gid := owner(e.fi)
	size := strconv.FormatInt(e.fi.Size(), 10)
	if human {
		size = humanSize(e.fi.Size())
	}
	return fmt.Sprintf("%s %-8s %-8s %8s %s %s", modeString(e.fi.Mode()), uid, gid, size, lsTime(e.fi.ModTime(), now), e.name)
}

// owner returns the numeric owner and group of fi, "?" where unknown.
func owner(fi fs.FileInfo) (uid, gid string) {
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		return strconv.FormatUint(uint64(st.UID), 10), strconv.FormatUint(uint64(st.GID), 10)
	}
	if u, g, ok := localOwner(fi); ok {
		return strconv.FormatUint(uint64(u), 10), strconv.FormatUint(uint64(g), 10)
	}
	return "?", "?"
}

// lsTime is ls's time column: month, day and time for the last half
// year, month, day and year otherwise.
func lsTime(t, now time.Time) string {
	if d := now.Sub(t); d > 182*24*time.Hour || d < -182*24*time.Hour {
		return t.Format("Jan _2  2006")
	}
	return t.Format("Jan _2 15:04")
}

// humanSize is n in B, K, M, G, T with up to three digits.
func humanSize(n int64) string {
	const units = "BKMGTPE"
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 1, 64) + string(units[i])
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + string(units[i])
}

// modeString is the mode as ls shows it: "drwxr-xr-x", "-rwsr-x--T".
func modeString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	special := func(i int, set bool, exec, noexec byte) {
		if set {
			if b[i] == 'x' {
				b[i] = exec
			} else {
				b[i] = noexec
			}
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
