package testmedia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// errOgg is an Ogg file that cannot be read.
var errOgg = errors.New("testmedia: bad ogg")

// OggPackets returns the packets of the first logical stream of an Ogg
// file (RFC 3533), in order, joined across pages. The packets are copies.
func OggPackets(b []byte) ([][]byte, error) {
	const header = 27
	var out [][]byte
	var partial []byte
	serial, have := uint32(0), false
	for off := 0; off < len(b); {
		if len(b)-off < header || !bytes.Equal(b[off:off+4], []byte("OggS")) {
			return nil, fmt.Errorf("%w: no page at %d", errOgg, off)
		}
		h := b[off:]
		s := binary.LittleEndian.Uint32(h[14:])
		nseg := int(h[26])
		if len(h) < header+nseg {
			return nil, fmt.Errorf("%w: cut segment table at %d", errOgg, off)
		}
		lacing := h[header : header+nseg]
		body := 0
		for _, l := range lacing {
			body += int(l)
		}
		if len(h) < header+nseg+body {
			return nil, fmt.Errorf("%w: cut page at %d", errOgg, off)
		}
		data := h[header+nseg : header+nseg+body]
		off += header + nseg + body
		if !have {
			serial, have = s, true
		}
		if s != serial {
			continue
		}
		p := 0
		for _, l := range lacing {
			partial = append(partial, data[p:p+int(l)]...)
			p += int(l)
			if l < 255 {
				out = append(out, partial)
				partial = nil
			}
		}
	}
	return out, nil
}

// OpusPackets encodes the lavfi audio source src (e.g. "sine=f=440:d=5")
// with ffmpeg's libopus, 20 ms frames, channels channels, and returns the
// Opus packets as an RTP sender would send them (the Ogg OpusHead and
// OpusTags headers left out), one every 20 ms.
func OpusPackets(t testing.TB, src string, channels int) [][]byte {
	t.Helper()
	RequireFFmpeg(t)
	path := filepath.Join(t.TempDir(), "opus.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-ac", fmt.Sprint(channels), "-ar", "48000",
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-application", "audio", "-y", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg opus: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := OggPackets(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 3 || !bytes.HasPrefix(pkts[0], []byte("OpusHead")) || !bytes.HasPrefix(pkts[1], []byte("OpusTags")) {
		t.Fatalf("%s: no Opus stream (%d packets)", path, len(pkts))
	}
	return pkts[2:]
}
