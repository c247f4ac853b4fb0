package sftpshell

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pkg/sftp"
)

// TestRemoteCommands runs mkdir, cd, pwd, rename, chmod, rm and rmdir and
// checks their effects on the server's disk.
func TestRemoteCommands(t *testing.T) {
	f := newFixture(t)
	write(t, filepath.Join(f.remote, "old.txt"), "data")
	f.mustBatch(t, `mkdir dir
cd dir
pwd
mkdir -p sub/deeper
rename ../old.txt new.txt
chmod 640 new.txt
cd ..
mkdir gone
rmdir gone
`)
	if !exists(filepath.Join(f.remote, "dir/sub/deeper")) {
		t.Error("mkdir -p made no sub/deeper")
	}
	if exists(filepath.Join(f.remote, "old.txt")) || !exists(filepath.Join(f.remote, "dir/new.txt")) {
		t.Error("rename did not move old.txt to dir/new.txt")
	}
	if fi, err := os.Stat(filepath.Join(f.remote, "dir/new.txt")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("chmod 640: %v %v", fi.Mode(), err)
	}
	if exists(filepath.Join(f.remote, "gone")) {
		t.Error("rmdir left gone")
	}
	out := f.stdout.String()
	for _, want := range []string{
		"sftp> mkdir dir\n",
		"sftp> pwd\nRemote working directory: " + filepath.Join(f.remote, "dir") + "\n",
		"Changing mode on " + filepath.Join(f.remote, "dir/new.txt") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if f.stderr.String() != "" {
		t.Errorf("stderr: %s", f.stderr)
	}
}

// TestRmGlob removes what a pattern matches, sparing dot files and
// directories, and a quoted pattern names one file literally.
func TestRmGlob(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"a.txt", "b.txt", ".hidden.txt", "keep.dat", "*.txt"} {
		write(t, filepath.Join(f.remote, n), n)
	}
	if err := os.Mkdir(filepath.Join(f.remote, "d.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.mustBatch(t, "rm '*.txt'\n")
	if exists(filepath.Join(f.remote, "*.txt")) || !exists(filepath.Join(f.remote, "a.txt")) {
		t.Fatal("rm '*.txt' did not remove just the file named *.txt")
	}
	err := f.batch(t, "rm *.txt\n")
	// d.txt is a directory: reported, the files still removed.
	if err == nil || !strings.Contains(err.Error(), "d.txt") || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("rm *.txt over a directory: err %v", err)
	}
	for n, want := range map[string]bool{"a.txt": false, "b.txt": false, ".hidden.txt": true, "keep.dat": true, "d.txt": true} {
		if exists(filepath.Join(f.remote, n)) != want {
			t.Errorf("after rm *.txt: %s exists %v, want %v", n, !want, want)
		}
	}
}

// TestBatchIgnoreAndAbort: a line starting with '-' is reported and
// skipped; the first other failing line ends the batch with its number,
// the lines after it not run.
func TestBatchIgnoreAndAbort(t *testing.T) {
	f := newFixture(t)
	err := f.batch(t, `# a comment
-rm nope
mkdir made
rm missing
mkdir never
`)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 4 || le.Text != "rm missing" {
		t.Fatalf("err %v, want a LineError for line 4", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v is not fs.ErrNotExist", err)
	}
	want := `line 4: rm: remote path "` + filepath.Join(f.remote, "missing") + `": no such file`
	if err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
	if !exists(filepath.Join(f.remote, "made")) || exists(filepath.Join(f.remote, "never")) {
		t.Error("the batch did not stop at line 4")
	}
	wantErr := `rm: remote path "` + filepath.Join(f.remote, "nope") + "\": no such file\n"
	if f.stderr.String() != wantErr {
		t.Errorf("stderr %q, want %q", f.stderr, wantErr)
	}
	if !strings.Contains(f.stdout.String(), "sftp> # a comment\nsftp> -rm nope\nsftp> mkdir made\nsftp> rm missing\n") ||
		strings.Contains(f.stdout.String(), "never") {
		t.Errorf("echo:\n%s", f.stdout)
	}
}

// TestInteractiveGoesOn: in Interactive mode errors are reported and the
// commands after them run; exit ends the run.
func TestInteractiveGoesOn(t *testing.T) {
	f := newFixture(t)
	script := "cd nowhere\nbogus\nmkdir a\nexit\nmkdir b\n"
	err := f.sh.Run(t.Context(), Lines(strings.NewReader(script), nil), Interactive)
	if err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(f.remote, "a")) || exists(filepath.Join(f.remote, "b")) {
		t.Error("want a made and b not (after exit)")
	}
	lines := strings.Split(strings.TrimSpace(f.stderr.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `cd: remote path "`) || !strings.HasSuffix(lines[0], `/nowhere": no such file`) ||
		lines[1] != "bogus: usage: unknown command; try help" {
		t.Errorf("stderr:\n%s", f.stderr)
	}
}

// TestErrorsNameTheCause: each failure says which path and why.
func TestErrorsNameTheCause(t *testing.T) {
	f := newFixture(t)
	write(t, filepath.Join(f.remote, "file"), "x")
	write(t, filepath.Join(f.remote, "full/x"), "x")
	r := func(name string) string { return `"` + filepath.Join(f.remote, name) + `"` }
	for _, tc := range []struct{ line, want string }{
		{"cd file", `cd: remote path ` + r("file") + `: not a directory`},
		{"mkdir file", `mkdir: remote path ` + r("file") + `: file exists`},
		{"mkdir no/such", `mkdir: remote path ` + r("no/such") + `: no such file`},
		{"rmdir full", `rmdir: remote path ` + r("full") + `: directory not empty`},
		{"rmdir file", `rmdir: remote path ` + r("file") + `: not a directory`},
		{"rm full", `rm: remote path ` + r("full") + `: is a directory (use rmdir)`},
		{"rename nope x", `rename: remote path ` + r("nope") + `: no such file`},
		{"ls nope", `ls: remote path ` + r("nope") + `: no such file`},
		{"ls *.none", `ls: remote path ` + r("*.none") + `: no such file`},
		{"chmod 999 file", `chmod: usage: mode "999" is not an octal mode such as 644`},
		{"lcd nope", `lcd: local path "` + filepath.Join(f.local, "nope") + `": no such file`},
		{"rm", "rm: usage: rm path"},
		{"ls -z", "ls: usage: unknown option -z"},
		{`rm "open`, "rm: unterminated quote"},
	} {
		err := f.sh.Exec(t.Context(), tc.line)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err %v, want %s", tc.line, err, tc.want)
		}
	}
}

// TestPermissionDenied: a read-only server's refusals read as such.
func TestPermissionDenied(t *testing.T) {
	f := newFixture(t, sftp.ReadOnly())
	write(t, filepath.Join(f.remote, "file"), "x")
	if err := os.Mkdir(filepath.Join(f.remote, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"mkdir new", "rm file", "chmod 600 file", "rename file other", "rmdir dir"} {
		err := f.sh.Exec(t.Context(), line)
		if !errors.Is(err, fs.ErrPermission) || !strings.HasSuffix(err.Error(), ": permission denied") {
			t.Errorf("%s: err %v, want permission denied", line, err)
		}
	}
	if !exists(filepath.Join(f.remote, "file")) {
		t.Error("the read-only server lost file")
	}
}

// TestLs lists names in columns, one a line, and in long form.
func TestLs(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"b", "a", ".dot", "sub/c"} {
		write(t, filepath.Join(f.remote, n), "12345")
	}
	if err := os.Chmod(filepath.Join(f.remote, "a"), fs.ModeSetuid|0o751); err != nil {
		t.Fatal(err)
	}
	run := func(line string) string {
		t.Helper()
		f.stdout.Reset()
		if err := f.sh.Exec(t.Context(), line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return f.stdout.String()
	}
	if got := run("ls"); !regexp.MustCompile(`^a +b +sub\n$`).MatchString(got) {
		t.Errorf("ls: %q", got)
	}
	if got := run("ls -1a"); got != ".dot\na\nb\nsub\n" {
		t.Errorf("ls -1a: %q", got)
	}
	if got := run("ls -1r sub"); got != "sub/c\n" {
		t.Errorf("ls -1r sub: %q", got)
	}
	if got := run("ls -1 *"); got != "a\nb\nsub\n" {
		t.Errorf("ls -1 *: %q", got)
	}
	if got := run("ls -1 " + f.remote + "/?"); got != f.remote+"/a\n"+f.remote+"/b\n" {
		t.Errorf("ls -1 absolute glob: %q", got)
	}
	long := regexp.MustCompile(`^-rwsr-x--x \d+ +\d+ +5 \w{3} [ \d]\d \d\d:\d\d a\n$`)
	if got := run("ls -l a"); !long.MatchString(got) {
		t.Errorf("ls -l a: %q", got)
	}
	if got := run("lls -1"); got != "" {
		t.Errorf("lls -1 of an empty directory: %q", got)
	}
	write(t, filepath.Join(f.local, "x"), "")
	if got := run("lls"); got != "x\n" {
		t.Errorf("lls: %q", got)
	}
}

// TestColumns fills rows across the width.
func TestColumns(t *testing.T) {
	var ents []entry
	for _, n := range []string{"one", "two", "three", "four", "five"} {
		ents = append(ents, entry{name: n})
	}
	// Longest 5 + 2: 3 columns of 7 in 21.
	want := "one    two    three\nfour   five\n"
	if got := columns(ents, 21); got != want {
		t.Errorf("columns:\n%q\nwant\n%q", got, want)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0o644:                               "-rw-r--r--",
		fs.ModeDir | 0o755:                  "drwxr-xr-x",
		fs.ModeSymlink | 0o777:              "lrwxrwxrwx",
		fs.ModeSetuid | 0o755:               "-rwsr-xr-x",
		fs.ModeSetgid | 0o640:               "-rw-r-S---",
		fs.ModeDir | fs.ModeSticky | 0o1777: "drwxrwxrwt",
		fs.ModeDir | fs.ModeSticky | 0o700:  "drwx-----T",
	} {
		if got := modeString(m); got != want {
			t.Errorf("modeString(%v) = %s, want %s", m, got, want)
		}
	}
}

// TestLocalCommands: lcd, lpwd, lmkdir and "~" act on the Shell's own
// local directory, not the process's.
func TestLocalCommands(t *testing.T) {
	f := newFixture(t)
	wd, _ := os.Getwd()
	f.mustBatch(t, "lmkdir sub\nlcd sub\nlpwd\nlcd ~\nlpwd\n")
	want := "Local working directory: " + filepath.Join(f.local, "sub") + "\n"
	if !strings.Contains(f.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, f.stdout)
	}
	if !strings.Contains(f.stdout.String(), "Local working directory: "+f.sh.LocalHome+"\n") {
		t.Errorf("lcd ~ did not go home:\n%s", f.stdout)
	}
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("the process's directory changed to %s", now)
	}
}

// TestCdHomeAndDotDot: cd without argument returns to the login
// directory; "..", "~" and absolute paths work.
func TestCdHomeAndDotDot(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Join(f.remote, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct{ line, want string }{
		{"cd a/b", filepath.Join(f.remote, "a/b")},
		{"cd ..", filepath.Join(f.remote, "a")},
		{"cd", f.remote},
		{"cd " + filepath.Join(f.remote, "a/b"), filepath.Join(f.remote, "a/b")},
		{"cd ~/a", filepath.Join(f.remote, "a")},
	} {
		if err := f.sh.Exec(ctx, tc.line); err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if got, _ := f.sh.Getwd(); got != tc.want {
			t.Errorf("after %s: %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	f := newFixture(t)
	if err := f.sh.Exec(t.Context(), "?"); err != nil {
		t.Fatal(err)
	}
	for _, c := range commands {
		if !strings.Contains(f.stdout.String(), "  "+c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	if err := f.sh.Exec(t.Context(), "quit"); !errors.Is(err, ErrExit) {
		t.Errorf("quit: %v", err)
	}
}
