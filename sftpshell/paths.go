package sftpshell

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// remotePattern is word w as an absolute remote pattern: "~" is the login
// directory, relative paths are against the remote working directory.
func (s *Shell) remotePattern(w string) string {
	switch {
	case w == "~" || strings.HasPrefix(w, "~/"):
		return path.Join(escapeGlob(s.home), w[1:])
	case path.IsAbs(w):
		return path.Clean(w)
	}
	return path.Join(escapeGlob(s.cwd), w)
}

// remotePath is word w as an absolute remote path, taken literally.
func (s *Shell) remotePath(w string) string { return literal(s.remotePattern(w)) }

// remoteGlob expands word w to the remote paths it names, sorted. A word
// without metacharacters names its literal path, whether or not it
// exists (the command says what is wrong with it); a pattern matching
// nothing is an error.
func (s *Shell) remoteGlob(w string) ([]string, error) {
	pat := s.remotePattern(w)
	if !hasGlob(pat) {
		return []string{literal(pat)}, nil
	}
	matches, err := s.Client.Glob(pat)
	if err != nil {
		return nil, usagef("bad pattern %q", literal(w))
	}
	matches = visible(pat, matches, "/")
	if len(matches) == 0 {
		return nil, &PathError{Remote: true, Path: literal(pat), Err: fs.ErrNotExist}
	}
	slices.Sort(matches)
	return matches, nil
}

// localPattern is word w as an absolute local pattern: "~" is LocalHome,
// relative paths are against the local working directory.
func (s *Shell) localPattern(w string) string {
	switch {
	case (w == "~" || strings.HasPrefix(w, "~/")) && s.LocalHome != "":
		return filepath.Join(escapeGlob(s.LocalHome), filepath.FromSlash(w[1:]))
	case filepath.IsAbs(w):
		return filepath.Clean(w)
	}
	return filepath.Join(escapeGlob(s.lcwd), w)
}

// localPath is word w as an absolute local path, taken literally.
func (s *Shell) localPath(w string) string { return literal(s.localPattern(w)) }

// localGlob is remoteGlob for the local side.
func (s *Shell) localGlob(w string) ([]string, error) {
	pat := s.localPattern(w)
	if !hasGlob(pat) {
		return []string{literal(pat)}, nil
	}
	matches, err := filepath.Glob(pat)
	if err != nil {
		return nil, usagef("bad pattern %q", literal(w))
	}
	matches = visible(pat, matches, string(filepath.Separator))
	if len(matches) == 0 {
		return nil, &PathError{Path: literal(pat), Err: fs.ErrNotExist}
	}
	slices.Sort(matches)
	return matches, nil
}

// visible drops the matches of pat that a shell's glob would not give:
// those where a wildcard element not starting with '.' matched a name
// starting with '.', so that "rm *" spares ".profile".
func visible(pat string, matches []string, sep string) []string {
	pe := strings.Split(pat, sep)
	return slices.DeleteFunc(matches, func(m string) bool {
		me := strings.Split(m, sep)
		if len(me) != len(pe) {
			return false
		}
		for i := range pe {
			if hasGlob(pe[i]) && !strings.HasPrefix(pe[i], ".") && !strings.HasPrefix(pe[i], `\.`) && strings.HasPrefix(me[i], ".") {
				return true
			}
		}
		return false
	})
}

// relative shows remote path p the way word w named it: relative to the
// working directory when w was relative.
func (s *Shell) relative(w, p string) string {
	if path.IsAbs(w) || w == "~" || strings.HasPrefix(w, "~/") {
		return p
	}
	if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(s.cwd, "/")+"/"); ok {
		return rel
	}
	return p
}

// localRelative is relative for local paths.
func (s *Shell) localRelative(w, p string) string {
	if filepath.IsAbs(w) || w == "~" || strings.HasPrefix(w, "~/") {
		return p
	}
	if rel, err := filepath.Rel(s.lcwd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// localDir returns the local working directory to start in.
func localDir(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	return os.Getwd()
}
