package convbench

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
	"github.com/ars-project/ars/internal/storage"
)

// mjrHeader is the JSON header of a Janus MJR00002 recording.
type mjrHeader struct {
	Type    string `json:"t"` // "v" or "a"
	Codec   string `json:"c"`
	Created int64  `json:"s"` // µs
	First   int64  `json:"u"` // µs of the first packet
}

// WriteMJR writes a track as a Janus .mjr file, the way Janus' recorder
// does: "MJR00002", a u16 length and the JSON header, then per packet
// "MEET", u32 milliseconds since the first packet, u16 length, the RTP
// packet.
func WriteMJR(path string, t *loadgen.Track, start time.Time) error {
	codec, err := mjrCodec(t.Info)
	if err != nil {
		return err
	}
	h := mjrHeader{Type: "v", Codec: codec, Created: start.UnixMicro(), First: start.UnixMicro()}
	if t.Info.Kind == storage.KindAudio {
		h.Type = "a"
	}
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("MJR00002")
	var b [4]byte
	binary.BigEndian.PutUint16(b[:2], uint16(len(js)))
	w.Write(b[:2])
	w.Write(js)
	for _, p := range t.Packets {
		if len(p.Data) > 0xffff {
			_ = f.Close()
			return fmt.Errorf("convbench: packet of %d bytes", len(p.Data))
		}
		w.WriteString("MEET")
		binary.BigEndian.PutUint32(b[:], uint32(p.At/time.Millisecond))
		w.Write(b[:])
		binary.BigEndian.PutUint16(b[:2], uint16(len(p.Data)))
		w.Write(b[:2])
		w.Write(p.Data)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// mjrCodec is the header's "c" for a stream: the lower-case names Janus'
// recorder writes (janus_videocodec_name, janus_audiocodec_name), which
// janus-pp-rec picks its depacketizer and container by.
func mjrCodec(s storage.StreamInfo) (string, error) {
	switch s.Codec {
	case storage.CodecH264:
		return "h264", nil
	case storage.CodecVP8:
		return "vp8", nil
	case storage.CodecVP9:
		return "vp9", nil
	case storage.CodecAV1:
		return "av1", nil
	case storage.CodecOpus:
		return "opus", nil
	}
	return "", fmt.Errorf("%w: no Janus recording of %s %q", ErrTool, s.Kind, s.Codec)
}
