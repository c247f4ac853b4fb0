// Package scp copies files and directory trees between the local machine
// and an SSH server, as OpenSSH's scp does: over SFTP ([Upload],
// [Download], the default of OpenSSH 9) or over the legacy scp protocol
// ([UploadSCP], [DownloadSCP], scp -O), with the same [Options] and the
// same rules in both.
//
// # Rules
//
// A destination that is an existing directory receives the sources under
// their own names; several sources (or a pattern matching several files)
// need a directory destination. A directory source needs
// [Options.Recursive], or it is that source's error ([ErrNotRegular]).
// Remote sources are patterns: over SFTP they are expanded by
// [github.com/pkg/sftp.Client.Glob]; in the legacy protocol the remote
// shell expands them (and also expands variables and ~, and splits on
// spaces: quote remote paths for that shell, as with OpenSSH's scp -O).
// A remote path "" or "~" is the home directory, and "~/x" is x in it.
//
// # Errors
//
// Errors are per file: a file that cannot be read, created or written is
// reported and the others are still copied. Upload and Download return
// nil when every file was copied, an [*Errors] listing each failed file
// as a [*FileError] otherwise (a lost connection or a cancelled context
// ends the transfer with the file in progress), or another error when
// the transfer could not start at all.
//
// A failed file is never left looking complete. Over SFTP, and for
// downloads in either protocol, the partly written destination file is
// removed. In a legacy upload the remote scp writes the file, and keeps
// what it wrote when it fails (the failure is reported); when the local
// file cannot be read to its end, the session is ended mid-file
// (OpenSSH's scp would pad the file with zeros and keep it), so the remote
// scp leaves it short and without the preserved times, and the sources
// not yet sent go over a new session. -p times and modes are only applied
// to files copied completely.
//
// # Protocol
//
// The legacy protocol is a conversation with "scp -t target" (sink; we
// upload) or "scp -f source…" (source; we download) run by the remote
// shell. The source sends records, each a line, and after each the sink
// answers one byte, 0 for OK, or 1 (a warning: this file failed) or 2 (a
// fatal error) followed by a message line:
//
//	T<mtime> 0 <atime> 0   times of the next C or D record (with -p)
//	C<mode> <size> <name>  a file: <size> bytes of data follow the sink's
//	                       answer, then the source's own answer byte
//	                       (0, or 1 and a message when it could not read
//	                       the file), then the sink answers again
//	D<mode> 0 <name>       enter a directory (created when missing)
//	E                      leave it
//
// <mode> is four octal digits. The conversation starts with the sink's 0.
// A sink that cannot create a file answers its C record with 1 and the
// source sends no data for it. As OpenSSH does since CVE-2019-6111, the
// names the remote source sends are checked: one name, never "." or ".."
// or containing "/", and at the top level one matching a requested
// pattern.
//
// # Progress
//
// With [Options.Progress] set, each file draws OpenSSH's one-line meter
// there (name, percent, bytes, rate, ETA), redrawn in place with \r and
// finished with the total time and a newline.
package scp
