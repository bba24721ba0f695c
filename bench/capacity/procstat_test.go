package capacity

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"plain", "42 (ars) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 8 0 100 0 0", 1750 * time.Millisecond, true},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, true},
		{"short", "7 (x) R 1 2", 0, false},
		{"no paren", "7 x R", 0, false},
		{"bad number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 4 0 0", 0, false},
	}
	for _, c := range cases {
		got, err := parseStatCPU([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %v, %v; want %v ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
}

func TestParseStatNice(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"42 (ars) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 30 10 8 0 100 0 0", 10, true},
		{"42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0 10 -10 8 0 100 0 0", -10, true},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 0, false},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 z 1", 0, false},
	}
	for _, c := range cases {
		got, err := parseStatNice([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q: %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus([]byte("Name:\tars\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t8\n"))
	if err != nil || m.RSS != 10<<20 || m.HWM != 20<<20 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := parseStatus([]byte("VmRSS:\t1 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Fatal("wrong unit accepted")
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing fields accepted")
	}
}

func TestParseSNMP(t *testing.T) {
	in := "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 100 2 7 50 5 0\nUdpLite: InDatagrams\nUdpLite: 0\n"
	s, err := parseSNMP([]byte(in))
	if err != nil || s != (UDPStats{InDatagrams: 100, InErrors: 7, RcvbufErrors: 5}) {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := parseSNMP([]byte("Udp: InDatagrams\nUdp: 1 2\n")); err == nil {
		t.Fatal("ragged Udp lines accepted")
	}
}

func TestParseNetUDP(t *testing.T) {
	in := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		" 1: 0100007F:0FA1 00000000:0000 07 00000000:00000C00 00:00000000 00000000     0        0 1 2 0000000000000000 17\n" +
		" 2: 0100007F:0FA2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n" +
		" 3: 0100007F:1F40 00000000:0000 07 00000000:00000010 00:00000000 00000000     0        0 1 2 0000000000000000 9\n"
	got, err := parseNetUDP([]byte(in), 4001, 4002)
	if err != nil {
		t.Fatal(err)
	}
	want := []SocketStats{{4001, 0xc00, 17}, {4002, 0, 0}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("%+v", got)
	}
}

func TestParseProcStat(t *testing.T) {
	m, err := parseProcStat([]byte("cpu  100 5 50 1000 10 1 20 0 0 0\ncpu0 1 1 1 1 1 1 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Busy != 176*clockTick || m.Idle != 1010*clockTick || m.SoftIRQ != 20*clockTick {
		t.Fatalf("%+v", m)
	}
}

// The live files must parse on this machine, whatever its kernel.
func TestReadLiveProc(t *testing.T) {
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if m, err := ProcMemory(os.Getpid()); err != nil || m.RSS <= 0 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := ReadUDPStats(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadUDPSockets(1, 65535); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMachineCPU(); err != nil {
		t.Fatal(err)
	}
}

// FuzzProcParsers feeds arbitrary bytes to every /proc parser.
func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("42 (ars) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 0 0"))
	f.Add([]byte("Udp: InDatagrams InErrors RcvbufErrors\nUdp: 1 2 3\n"))
	f.Add([]byte("x\n 1: 0100007F:0FA1 00000000:0000 07 00000000:00000C00 00:00000000 00000000 0 0 1 2 0 17\n"))
	f.Add([]byte("cpu  1 2 3 4 5 6 7\n"))
	f.Add([]byte("VmRSS:\t1 kB\nVmHWM:\t2 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStatCPU(b)
		_, _ = parseStatus(b)
		_, _ = parseSNMP(b)
		_, _ = parseNetUDP(b, 0, 65535)
		_, _ = parseProcStat(b)
	})
}
