package main

import (
	"errors"
	"fmt"
)

var errUsage = errors.New("usage: arsbench run|conv|mix|aac|loadgen|floor [flags] (-h for each)")

func run(args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "run":
		return runAll(args[1:])
	case "conv":
		return runConv(args[1:])
	case "mix":
		return runMix(args[1:])
	case "aac":
		return runAAC(args[1:])
	case "loadgen":
		return runLoadgen(args[1:])
	case "floor":
		return runFloor(args[1:])
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}
