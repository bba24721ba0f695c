package snapshot

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/vcodec"
)

// FuzzGrabber feeds arbitrary packets (each: a codec-choosing first
// byte once, then records of seq, ts delta, marker and payload) to an
// armed grabber: it must never panic, and what it returns is bounded and
// disarms it.
func FuzzGrabber(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 1, 3, 0x7c, 0x85, 0x88, 0, 2, 0, 1, 3, 0x7c, 0x45, 0x00})
	f.Add([]byte{1, 0, 1, 0, 0, 1, 6, 0x10, 0x10, 0x02, 0x00, 0x9d, 0x01})
	f.Add([]byte{3, 0, 1, 0, 0, 1, 4, 0x18, 0x0a, 0x0b, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		codecs := []vcodec.Codec{vcodec.H264, vcodec.VP8, vcodec.VP9, vcodec.AV1}
		g := NewGrabber(codecs[int(b[0])%len(codecs)])
		g.Arm()
		b = b[1:]
		var ts uint32
		at := time.Unix(0, 0)
		for len(b) >= 5 {
			seq := binary.BigEndian.Uint16(b)
			ts += uint32(b[2])
			marker := b[3]&1 != 0
			n := min(int(b[4]), len(b)-5)
			payload := b[5 : 5+n]
			b = b[5+n:]
			if k, ok := g.Packet(at, seq, ts, marker, payload); ok {
				if len(k.Data) == 0 || len(k.Data) > vcodec.MaxFrameSize+1024 || g.Armed() {
					t.Fatalf("keyframe of %d bytes, armed %v", len(k.Data), g.Armed())
				}
				g.Arm()
			}
		}
	})
}
