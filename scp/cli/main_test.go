package cli

import (
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }
