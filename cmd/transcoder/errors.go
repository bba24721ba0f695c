package main

import "errors"

var (
	// errUsage maps to exit status 2.
	errUsage = errors.New("bad usage")
	// errFailed means at least one file failed to convert.
	errFailed = errors.New("some captures failed to convert")
	// errAborted means a forced stop cut conversions short.
	errAborted = errors.New("conversions aborted")
	// errReported marks errors already printed (flag's own messages).
	errReported = errors.New("already reported")
)

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}
