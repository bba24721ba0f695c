package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/rdk"
	"github.com/ars-project/ars/internal/storage"
)

// socketHolder plays systemd's ars.socket: it binds the daemon's RTP
// ports and keeps them for as long as the test runs, and passes them to
// each daemon it starts by socket activation (LISTEN_FDS, with
// LISTEN_PID set to the daemon's own pid by the shell it execs from).
type socketHolder struct {
	first, last int
	files       []*os.File
}

func holdSockets(t *testing.T, n int) *socketHolder {
	t.Helper()
	first, last := freeUDPRange(t, n)
	h := &socketHolder{first: first, last: last}
	for p := first; p <= last; p++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // f is a duplicate that keeps the socket
		h.files = append(h.files, f)
	}
	t.Cleanup(func() {
		for _, f := range h.files {
			_ = f.Close()
		}
	})
	return h
}

// start runs `ars serve` with the held sockets on root.
func (h *socketHolder) start(t *testing.T, root string, httpPort int) *daemon {
	t.Helper()
	ars := os.Getenv(arsBinEnv)
	if ars == "" {
		ars, _ = binaries(t)
	}
	env := append(daemonEnv(root, httpPort, h.first, h.last), "ARS_MAX_JOINS_PER_IP=0", "LISTEN_FDS="+strconv.Itoa(len(h.files)))
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ exec "$0" serve`, ars)
	cmd.Env = env
	cmd.ExtraFiles = h.files
	return runDaemonCmd(t, cmd, ars, root, httpPort)
}

// TestPlannedRestartHandover: N two-person channels record while the
// daemon is stopped with SIGTERM and started again on the same sockets
// (the test holds them, as ars.socket does): not one packet is lost, and
// every participant goes on in a second capture in the same directory.
// ARS_HANDOVER_CHANNELS sets N (20 by default; 100 for the figure).
func TestPlannedRestartHandover(t *testing.T) {
	channels := 20
	if s := os.Getenv("ARS_HANDOVER_CHANNELS"); s != "" {
		channels, _ = strconv.Atoi(s)
	}
	h := holdSockets(t, 4)
	root := t.TempDir()
	httpPort := freeTCPPort(t)
	d := h.start(t, root, httpPort)
	if !strings.Contains(d.out.String(), "inherited sockets") || d.metric("ars_handover_inherited_sockets") != 4 {
		t.Fatalf("the daemon did not take the 4 sockets:\n%s", d.out.String())
	}
	const interval = 20 * time.Millisecond
	type member struct {
		ch  string
		uid uint32
		s   *seqSender
	}
	var members []member
	dirs := map[string]string{}
	for c := range channels {
		ch := fmt.Sprintf("handover-%03d", c)
		for i := range 2 {
			uid := uint32(100 + i)
			p := d.joinMedia(ch, uid, uint32(0x500000+c*4+2*i), uint32(0x500001+c*4+2*i))
			members = append(members, member{ch: ch, uid: uid, s: newSeqSender(t, p, interval)})
		}
		var a startAnswer
		if code := d.call("POST", "/v1/recording/start", map[string]any{"channel": ch, "uid": 100,
			"key": nowKey(rdk.Service4Recording, ch, 100)}, &a); code != 200 {
			t.Fatalf("start %s: %d", ch, code)
		}
		dirs[ch] = a.Directory
		// Sending starts once the channel records: earlier packets are
		// rightly not recorded.
		for _, m := range members[len(members)-2:] {
			m.s.start()
		}
	}
	defer func() {
		for _, m := range members {
			select {
			case <-m.s.done:
			default:
				m.s.halt()
			}
		}
	}()
	time.Sleep(2 * time.Second)
	downAt := time.Now()
	d.signal(syscall.SIGTERM)
	if err, ok := d.waitExit(60 * time.Second); !ok || err != nil {
		t.Fatalf("graceful stop: %v (exited %v)", err, ok)
	}
	d2 := h.start(t, root, httpPort)
	t.Logf("%d channels: restart took %v", channels, time.Since(downAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	for _, m := range members {
		m.s.halt()
	}
	time.Sleep(300 * time.Millisecond)
	for ch := range dirs {
		if st := d2.status(ch); !st.Recording || st.Directory != dirs[ch] {
			t.Errorf("%s after the restart: %+v, want recording in %s", ch, st, dirs[ch])
		}
		d2.stopRecording(ch, 100)
	}
	lost, sent := 0, 0
	for _, m := range members {
		var mine []string
		for _, c := range findFiles(t, dirs[m.ch], storage.CaptureExt) {
			if strings.HasPrefix(filepath.Base(c), strconv.FormatUint(uint64(m.uid), 10)+"_") {
				mine = append(mine, c)
			}
		}
		if len(mine) != 2 {
			t.Errorf("%s uid %d: captures %v, want two", m.ch, m.uid, mine)
		}
		miss := m.s.missing(captureSeqs(t, mine...))
		for ssrc, ts := range miss {
			lost += len(ts)
			for _, at := range ts {
				t.Logf("%s uid %d ssrc %#x: missing a packet sent %v after the SIGTERM", m.ch, m.uid, ssrc, at.Sub(downAt).Round(time.Millisecond))
			}
		}
		m.s.mu.Lock()
		for _, ts := range m.s.sent {
			sent += len(ts)
		}
		m.s.mu.Unlock()
	}
	t.Logf("%d channels, %d participants: %d packets sent, %d missing across the planned restart", channels, len(members), sent, lost)
	if lost != 0 {
		t.Errorf("%d of %d packets lost across a planned restart with the sockets held", lost, sent)
	}
}
