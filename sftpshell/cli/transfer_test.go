package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// TestBatchTransferAndCommands: a batch file through the emulator to a
// real sshd puts and gets a multi-MiB file intact and leaves mkdir, cd,
// rename, chmod, rm and rmdir's effects on the remote disk; a line
// starting with '-' fails without stopping the batch. -N makes the batch
// say what it copies and removes.
func TestBatchTransferAndCommands(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	const size = 6<<20 + 12345
	sum := e2etest.RandomFile(t, filepath.Join(e.local, "big.bin"), size, 1)
	script := `mkdir sub
cd sub
put big.bin
rename big.bin moved.bin
chmod 640 moved.bin
ls -l
get moved.bin copy.bin
mkdir scratch
rmdir scratch
put big.bin extra.bin
rm extra.bin
-rm nope
pwd
`
	r := e.run(t, nil, e.args("-N", "-b", batchFile(t, script), e.target())...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	sub := filepath.Join(e.remote, "sub")
	if got := e2etest.FileSHA256(t, filepath.Join(sub, "moved.bin")); got != sum {
		t.Errorf("uploaded file: sha256 %s, want %s", got, sum)
	}
	if got := e2etest.FileSHA256(t, filepath.Join(e.local, "copy.bin")); got != sum {
		t.Errorf("downloaded file: sha256 %s, want %s", got, sum)
	}
	if fi, err := os.Stat(filepath.Join(sub, "moved.bin")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("chmod 640: mode %v, err %v", fi.Mode(), err)
	}
	for _, gone := range []string{"big.bin", "extra.bin", "scratch"} {
		if _, err := os.Lstat(filepath.Join(sub, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still on the remote side (%v)", gone, err)
		}
	}
	for _, want := range []string{
		"sftp> mkdir sub\nsftp> cd sub\nsftp> put big.bin\n",
		"Uploading " + filepath.Join(e.local, "big.bin") + " to " + filepath.Join(sub, "big.bin") + "\n",
		"Fetching " + filepath.Join(sub, "moved.bin") + " to " + filepath.Join(e.local, "copy.bin") + "\n",
		"sftp> -rm nope\nsftp> pwd\nRemote working directory: " + sub + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	long := regexp.MustCompile(`(?m)^-rw-r----- \d+ +\d+ +` + strconv.Itoa(size) + ` \w{3} [ \d]\d \d\d:\d\d moved\.bin$`)
	if !long.MatchString(r.stdout) {
		t.Errorf("ls -l does not show moved.bin, 640, %d bytes:\n%s", size, r.stdout)
	}
	if want := `rm: remote path "` + filepath.Join(sub, "nope") + "\": no such file\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
}

// TestInitialPathIsAFile: target:file downloads the file and exits, as
// sftp does.
func TestInitialPathIsAFile(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	sum := e2etest.RandomFile(t, filepath.Join(e.remote, "report.dat"), 100_000, 2)
	r := e.run(t, nil, e.args(e.Instance+":"+filepath.Join(e.remote, "report.dat"))...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := e2etest.FileSHA256(t, filepath.Join(e.local, "report.dat")); got != sum {
		t.Errorf("sha256 %s, want %s", got, sum)
	}
	r = e.run(t, nil, e.args(e.Instance+":"+filepath.Join(e.remote, "nothing"))...)
	if r.code != ExitFailed || !strings.Contains(r.stderr, `remote path "`+filepath.Join(e.remote, "nothing")+`": no such file`) {
		t.Errorf("missing initial path: exit %d, stderr %q", r.code, r.stderr)
	}
}
