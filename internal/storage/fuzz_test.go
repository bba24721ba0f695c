package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the capture reader: it must never
// panic, never loop, and every record it returns must be well framed.
func FuzzReader(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.tmp")
	w, err := Create(path, testHeader())
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_ = w.Write(RecordRTP, 0, rtpPacket(1111, uint16(i), 40))
	}
	_ = w.WriteStream(5, StreamInfo{SSRC: 9, Kind: KindAudio, Codec: CodecOpus, ClockRate: 48000})
	_ = w.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < len(data); i++ {
			rec, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrTornRecord) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(rec.Data) > MaxRecordPayload || rec.At < 0 {
				t.Fatalf("bad record %d %d", len(rec.Data), rec.At)
			}
			if rec.Kind == RecordStream {
				_, _ = DecodeStream(rec.Data)
			}
		}
		t.Fatal("reader returned more records than bytes")
	})
}
