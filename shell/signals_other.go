//go:build !unix

package shell

import "os"

// signalChars are the control characters local signals stand for.
var signalChars = map[os.Signal]byte{os.Interrupt: 0x03}

// ControlSignals are the signals Options.Signals passes on.
var ControlSignals = []os.Signal{os.Interrupt}
