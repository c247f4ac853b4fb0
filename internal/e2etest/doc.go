// Package e2etest runs the real OpenSSH tools (ssh, scp, sftp, rsync)
// through the real ssmproxy binary against a real sshd put behind an
// emulated instance, for the end-to-end tests and benchmarks of the
// commands.
//
// A test package that uses it calls Main from its TestMain, so that the
// ssmproxy binary it builds (once per test binary, on first use) is
// removed at the end, and so that the test binary can stand in as the
// rusage-reporting wrapper of ssmproxy (see Env.RusageDir):
//
//	func TestMain(m *testing.M) { e2etest.Main(m) }
//
// Start gives an Env: an ssmtest.Server whose instance's port 22 leads to
// an unprivileged sshd from sshdtest, a known_hosts file naming that
// sshd's host key under the instance id (and any aliases), and the
// command-line options and environment that make the tools use nothing
// but these: no ~/.ssh, no ~/.aws, no agent, and every AWS_* variable
// taken from the emulator. Every process a test starts (StartProc) runs
// in its own process group, which is killed and waited in t.Cleanup.
package e2etest
