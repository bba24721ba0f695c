package testmedia

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/vcodec"
)

// packetizeAV1 turns an IVF file of AV1 temporal units (ffmpeg's
// libaom-av1 output) into an RTP stream with pion's AV1Payloader, as a
// WebRTC sender would send it: one timestamp per temporal unit, the
// marker bit on its last packet.
func packetizeAV1(path string) (Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stream{}, err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		return Stream{}, fmt.Errorf("ivf: %w", err)
	}
	if hdr.TimebaseNumerator == 0 || hdr.TimebaseDenominator == 0 {
		return Stream{}, errors.New("ivf: no timebase")
	}
	info := storage.StreamInfo{SSRC: VideoSSRC, PayloadType: VideoPayloadType, Kind: storage.KindVideo,
		Codec: storage.CodecAV1, ClockRate: vcodec.ClockRate}
	s := Stream{Info: info}
	var pay codecs.AV1Payloader
	seq := uint16(videoFirstSeq)
	for {
		frame, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Stream{}, fmt.Errorf("ivf frame: %w", err)
		}
		// pion's ivfreader scales the frame's pts by den/num (as if it
		// were seconds); undo that, then count in the IVF time base
		// (num/den seconds).
		num, den := int64(hdr.TimebaseNumerator), int64(hdr.TimebaseDenominator)
		pts := time.Duration(int64(fh.Timestamp) * num / den * int64(time.Second) * num / den)
		ts := videoFirstTS + uint32(int64(pts)*vcodec.ClockRate/int64(time.Second))
		payloads := pay.Payload(rtpPacketSize-12, frame)
		for i, pl := range payloads {
			p := make([]byte, 12, 12+len(pl))
			p[0] = 0x80
			p[1] = VideoPayloadType
			if i == len(payloads)-1 {
				p[1] |= 0x80
			}
			binary.BigEndian.PutUint16(p[2:], seq)
			binary.BigEndian.PutUint32(p[4:], ts)
			binary.BigEndian.PutUint32(p[8:], VideoSSRC)
			p = append(p, pl...)
			s.Packets = append(s.Packets, Packet{Data: p, At: pts + time.Duration(i)*packetSpacing})
			seq++
		}
	}
	if len(s.Packets) == 0 {
		return Stream{}, errors.New("ivf: no AV1 frames")
	}
	return s, nil
}
