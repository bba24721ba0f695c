package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Environment of a test re-executed inside its own network namespace.
const (
	netnsEnv  = "ARS_E2E_IN_NETNS"
	arsBinEnv = "ARS_E2E_ARS_BIN"
)

// inOwnNetns runs the calling test again inside a new network namespace
// (unshare -n) where only loopback exists, so that Chromium and the
// daemon talk to each other and to nothing else. It returns true in the
// copy that should do the work: the re-executed one, or this one when no
// namespace can be made (then Chromium shares the host's loopback, still
// with every network feature that could reach out switched off).
func inOwnNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		loopbackUp(t)
		return true
	}
	requireChromium(t)
	requireFFmpeg(t)
	ars, _ := binaries(t)
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1", "-test.timeout=4m"}
	if *updateConsolePNG {
		args = append(args, "-update")
	}
	for _, flags := range [][]string{{"-n"}, {"-r", "-n"}} {
		if exec.Command("unshare", append(flags, "true")...).Run() != nil {
			continue
		}
		cmd := exec.Command("unshare", append(append(flags, "--", os.Args[0]), args...)...)
		cmd.Env = append(os.Environ(), netnsEnv+"=1", arsBinEnv+"="+ars)
		cmd.Dir, _ = os.Getwd()
		out, err := cmd.CombinedOutput()
		t.Logf("ran in a new network namespace (unshare %v):\n%s", flags, out)
		if err != nil {
			t.Fatalf("test in network namespace: %v", err)
		}
		if bytes.Contains(out, []byte("--- SKIP")) {
			t.Skip("skipped inside the namespace")
		}
		return false
	}
	t.Log("unshare -n is not permitted here: Chromium shares this namespace's loopback")
	return true
}

// loopbackUp brings up lo, which a new network namespace starts without.
func loopbackUp(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatalf("bring up lo: %v", err)
	}
}

// freeICEPort finds a port number free for UDP and TCP on loopback.
func freeICEPort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free ICE port")
	return 0
}

// startWebRTCDaemon runs `ars serve` on loopback with WebRTC enabled. In
// dev mode no app ID is configured: the daemon generates credentials and
// the console mints keys.
func startWebRTCDaemon(t *testing.T, dev bool) *daemon {
	t.Helper()
	env := []string{"ARS_WEBRTC_PORT=" + strconv.Itoa(freeICEPort(t)), "ARS_KEYFRAME_INTERVAL=2s"}
	if dev {
		env = append(env, "ARS_APP_ID=", "ARS_APP_CERTIFICATE=")
	}
	return startDaemon(t, env...)
}
