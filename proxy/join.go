package proxy

import "time"

// DrainTimeout is how long Run lets the session's output finish after the
// ssh side has ended, before closing both.
const DrainTimeout = 5 * time.Second
