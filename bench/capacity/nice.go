package capacity

import (
	"os/exec"
	"strconv"
)

// niceCommand runs name at the given niceness through nice(1), which execs
// it: the process ID is the receiver's own.
//
// Generator and receiver share this box, and on loopback the kernel's
// receive path runs in the sender's context. On a real server the network
// is not slowed by the recorder: packets arrive on time and the NIC's
// interrupt work preempts every process. A receiver at a lower priority
// than the generator reproduces that: the load stays on schedule, and a
// receiver that cannot keep up shows it as loss, which is measured,
// instead of slowing the generator down to a load it can carry.
func niceCommand(nice int, name string, args ...string) *exec.Cmd {
	if nice == 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("nice", append([]string{"-n", strconv.Itoa(nice), name}, args...)...)
}
