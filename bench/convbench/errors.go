package convbench

import "errors"

var (
	// ErrTool means a converter failed or is not installed.
	ErrTool = errors.New("convbench: tool failed")
	// ErrOutput means a converter's output did not decode cleanly or is
	// not as long as the media.
	ErrOutput = errors.New("convbench: bad output")
)
