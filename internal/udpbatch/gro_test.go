package udpbatch

import (
	"bytes"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendGSO sends payload as one UDP GSO message of seg-byte datagrams.
func sendGSO(t *testing.T, c *net.UDPConn, payload []byte, seg int) {
	t.Helper()
	if err := WriteGSO(c, payload, seg); err != nil {
		t.Skipf("no UDP GSO here: %v", err)
	}
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	SetReadBuffer(conn, 4<<20)
	return conn
}

// readDatagrams reads until want datagrams arrived, splitting merged
// messages the way the RTP ingest does.
func readDatagrams(t *testing.T, r *Reader, want int) (dgrams [][]byte, merged int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(dgrams) < want && time.Now().Before(deadline) {
		n, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			data, trunc, _ := r.Datagram(i)
			if trunc {
				t.Fatalf("message %d truncated", i)
			}
			seg := r.SegmentSize(i)
			if seg == 0 {
				dgrams = append(dgrams, append([]byte(nil), data...))
				continue
			}
			merged++
			before := len(dgrams)
			for off := 0; off < len(data); off += seg {
				dgrams = append(dgrams, append([]byte(nil), data[off:min(off+seg, len(data))]...))
			}
			if got := len(dgrams) - before; got != r.Count(i) {
				t.Fatalf("Count %d, split into %d", r.Count(i), got)
			}
		}
	}
	return dgrams, merged
}

func TestGROReaderSplitsMergedMessages(t *testing.T) {
	for _, gro := range []bool{true, false} {
		name := map[bool]string{true: "gro", false: "plain"}[gro]
		t.Run(name, func(t *testing.T) {
			conn := listen(t)
			var opts []ReaderOption
			if gro {
				opts = append(opts, WithGRO())
			}
			r, err := NewReader(conn, 64, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if gro && !r.GRO() {
				t.Skip("kernel without UDP_GRO")
			}
			tx, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			// Five 1,200-byte datagrams and a 300-byte last one in one
			// GSO message (a video frame), then a lone 90-byte one (audio).
			var frame []byte
			for i := 0; i < 6; i++ {
				n := 1200
				if i == 5 {
					n = 300
				}
				frame = append(frame, bytes.Repeat([]byte{byte('a' + i)}, n)...)
			}
			sendGSO(t, tx, frame, 1200)
			if _, err := tx.Write(bytes.Repeat([]byte{'z'}, 90)); err != nil {
				t.Fatal(err)
			}
			got, merged := readDatagrams(t, r, 7)
			if len(got) != 7 {
				t.Fatalf("%d datagrams", len(got))
			}
			for i := 0; i < 6; i++ {
				want := 1200
				if i == 5 {
					want = 300
				}
				if len(got[i]) != want || got[i][0] != byte('a'+i) || got[i][want-1] != byte('a'+i) {
					t.Fatalf("datagram %d: %d bytes starting %q", i, len(got[i]), got[i][:1])
				}
			}
			if len(got[6]) != 90 || got[6][0] != 'z' {
				t.Fatalf("last datagram %d bytes", len(got[6]))
			}
			// With GRO the frame came up as one message; without, the
			// kernel split it into datagrams on the way in.
			if gro && merged != 1 || !gro && merged != 0 {
				t.Fatalf("gro=%v: %d merged messages", gro, merged)
			}
		})
	}
}

func TestGROSegmentIgnoresOtherControl(t *testing.T) {
	// A control buffer holding some other message first, then UDP_GRO.
	buf := make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_RXQ_OVFL
	h.SetLen(unix.CmsgLen(4))
	g := (*unix.Cmsghdr)(unsafe.Pointer(&buf[unix.CmsgSpace(4)]))
	g.Level, g.Type = unix.IPPROTO_UDP, unix.UDP_GRO
	g.SetLen(unix.CmsgLen(4))
	*(*int32)(unsafe.Pointer(&buf[unix.CmsgSpace(4)+unix.CmsgLen(0)])) = 1188
	var m unix.Msghdr
	m.Control = &buf[0]
	m.SetControllen(len(buf))
	if got := groSegment(&m); got != 1188 {
		t.Fatalf("segment %d", got)
	}
	// Damaged lengths end the scan without reading past the buffer.
	g.Len = 1 << 20
	if got := groSegment(&m); got != 0 {
		t.Fatalf("segment %d from a damaged control buffer", got)
	}
	m.SetControllen(3)
	if got := groSegment(&m); got != 0 {
		t.Fatalf("segment %d from a short control buffer", got)
	}
}
