package transcode

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
	"github.com/ars-project/ars/internal/vcodec"
)

var fuzzHeader = storage.Header{Channel: "fuzz", UID: 1, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	Streams: []storage.StreamInfo{
		{SSRC: testmedia.VideoSSRC, PayloadType: testmedia.VideoPayloadType, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000},
		{SSRC: testmedia.AudioSSRC, PayloadType: testmedia.AudioPayloadType, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
	}}

// encodeRecords serializes records in the compact form FuzzConvertRecords
// reads: kind, u16 length, u16 arrival delta in 100 µs, payload.
func encodeRecords(pkts []testmedia.Packet) []byte {
	var b []byte
	var last time.Duration
	for _, p := range pkts {
		b = append(b, byte(storage.RecordRTP))
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Data)))
		b = binary.BigEndian.AppendUint16(b, uint16((p.At-last)/(100*time.Microsecond)))
		b = append(b, p.Data...)
		last = p.At
	}
	return b
}

func haveFFmpeg() bool {
	_, err := exec.LookPath("ffmpeg")
	return err == nil
}

func realSeed(tb testing.TB) []testmedia.Packet {
	s := testmedia.Generate(tb, testmedia.Options{Duration: 600 * time.Millisecond, GOP: 5, FPS: 10, VideoBitrate: 100})
	return testmedia.Merge(s...)
}

func convertFuzz(t *testing.T, src string) {
	dst := filepath.Join(t.TempDir(), "out.mp4")
	res, err := ConvertFile(context.Background(), src, dst)
	if err != nil {
		return
	}
	st, serr := os.Stat(dst)
	if serr != nil || st.Size() != res.Bytes || len(res.Tracks) == 0 {
		t.Fatalf("converted without a complete file: %v size %v result %+v", serr, st, res)
	}
}

// FuzzConvertRecords runs the converter on arbitrary record contents in a
// well-formed capture, so mutations reach the RTP, RTCP and media code
// rather than stopping at the record checksums.
func FuzzConvertRecords(f *testing.F) {
	f.Add([]byte{1, 0, 12, 0, 1, 0x80, 96, 0, 1, 0, 0, 0, 1, 0x10, 0, 0, 1})
	f.Add([]byte{2, 0, 28, 0, 1, 0x80, 200, 0, 6, 0x10, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0})
	if haveFFmpeg() {
		seed := encodeRecords(realSeed(f))
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
	}
	f.Fuzz(convertRecords)
}

// FuzzConvertCodecRecords is FuzzConvertRecords for VP8, VP9 and AV1
// captures whose video declares a CVO extension: the first byte picks the
// codec, so mutations reach pion's depacketizers, the frame assembler,
// mediacommon's header parsers and the orientation split.
func FuzzConvertCodecRecords(f *testing.F) {
	codecs := []vcodec.Codec{vcodec.VP8, vcodec.VP9, vcodec.AV1}
	f.Add(append([]byte{0}, 1, 0, 12, 0, 1, 0x80, 96, 0, 1, 0, 0, 0, 1, 0x10, 0, 0, 1))
	if haveFFmpeg() {
		for i, c := range codecs {
			s := testmedia.Generate(f, testmedia.Options{Duration: 600 * time.Millisecond, GOP: 5, FPS: 10, VideoBitrate: 100,
				Codec: c.Name()})
			s[0] = testmedia.WithCVO(s[0], 3, len(s[0].Packets)/2, 2)
			seed := append([]byte{byte(i)}, encodeRecords(testmedia.Merge(s...))...)
			f.Add(seed)
			f.Add(seed[:len(seed)/2])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		hdr := fuzzHeader
		hdr.Streams = append([]storage.StreamInfo(nil), fuzzHeader.Streams...)
		hdr.Streams[0].Codec = codecs[int(data[0])%len(codecs)].Name()
		hdr.Streams[0].Extensions = []storage.HeaderExtension{{ID: 3, URI: vcodec.CVOURI}}
		convertRecordsWith(t, hdr, data[1:])
	})
}

// convertRecords writes data as records of a capture and converts it.
func convertRecords(t *testing.T, data []byte) { convertRecordsWith(t, fuzzHeader, data) }

func convertRecordsWith(t *testing.T, hdr storage.Header, data []byte) {
	src := filepath.Join(t.TempDir(), "1_000000.tmp")
	w, err := storage.Create(src, hdr)
	if err != nil {
		t.Fatal(err)
	}
	var at time.Duration
	for len(data) >= 5 {
		kind := storage.RecordKind(data[0]%3 + 1)
		n := min(int(binary.BigEndian.Uint16(data[1:])), len(data)-5)
		at += time.Duration(binary.BigEndian.Uint16(data[3:])) * 100 * time.Microsecond
		if err := w.Write(kind, at, data[5:5+n]); err != nil {
			t.Fatal(err)
		}
		data = data[5+n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	convertFuzz(t, src)
}

// FuzzConvertFile runs the converter on arbitrary capture file bytes.
func FuzzConvertFile(f *testing.F) {
	f.Add([]byte(storage.Magic))
	if haveFFmpeg() {
		path := filepath.Join(f.TempDir(), "seed.tmp")
		pkts := realSeed(f)
		testmedia.WriteCapture(f, path, fuzzHeader, []testmedia.Stream{{Info: fuzzHeader.Streams[0], Packets: pkts}})
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)*2/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := filepath.Join(t.TempDir(), "1_000000.tmp")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		convertFuzz(t, src)
	})
}
