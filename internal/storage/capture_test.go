package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testHeader() Header {
	return Header{
		Channel: "room 1", UID: 42, Start: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Source: "rtp",
		Streams: []StreamInfo{
			{SSRC: 1111, PayloadType: 96, Kind: KindVideo, Codec: CodecH264, ClockRate: 90000, Fmtp: "packetization-mode=1"},
			{SSRC: 2222, PayloadType: 111, Kind: KindAudio, Codec: CodecOpus, ClockRate: 48000, Channels: 2},
		},
	}
}

func rtpPacket(ssrc uint32, seq uint16, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x80
	p[1] = 96
	p[2], p[3] = byte(seq>>8), byte(seq)
	p[8], p[9], p[10], p[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	for i := 12; i < size; i++ {
		p[i] = byte(i + int(seq))
	}
	return p
}

func writeCapture(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	var written [][]byte
	for i := 0; i < n; i++ {
		p := rtpPacket(1111, uint16(65530+i), 100+i%50)
		if err := w.Write(RecordRTP, time.Duration(i)*time.Millisecond, p); err != nil {
			t.Fatal(err)
		}
		written = append(written, p)
	}
	if err := w.Write(RecordRTCP, time.Second, []byte{0x80, 200, 0, 6}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return written
}

func TestCaptureRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "42_100000.tmp")
	written := writeCapture(t, path, 100)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), os.FileMode(FileMode))
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Header(); got.Channel != "room 1" || got.UID != 42 || len(got.Streams) != 2 || !got.Start.Equal(testHeader().Start) {
		t.Fatalf("header %+v", got)
	}
	for i, want := range written {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Kind != RecordRTP || rec.At != time.Duration(i)*time.Millisecond || !bytes.Equal(rec.Data, want) {
			t.Fatalf("record %d differs", i)
		}
	}
	rec, err := r.Next()
	if err != nil || rec.Kind != RecordRTCP {
		t.Fatalf("rtcp record: %v %v", rec.Kind, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

// A capture cut at any byte reads back every record before the cut.
func TestCaptureTornAtEveryOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.tmp")
	writeCapture(t, path, 5)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewReader(bytes.NewReader(full))
	headerLen := r.Offset()
	var ends []int64 // offsets where records end
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		ends = append(ends, r.Offset())
	}
	for cut := int64(0); cut < int64(len(full)); cut++ {
		r, err := NewReader(bytes.NewReader(full[:cut]))
		if cut < headerLen {
			if err == nil {
				t.Fatalf("cut %d inside header accepted", cut)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == nil {
				n++
				continue
			}
			complete := 0
			for _, e := range ends {
				if e <= cut {
					complete++
				}
			}
			if n != complete {
				t.Fatalf("cut %d: read %d records, want %d", cut, n, complete)
			}
			atBoundary := cut == headerLen || (complete > 0 && ends[complete-1] == cut)
			if atBoundary && !errors.Is(err, io.EOF) {
				t.Fatalf("cut %d at boundary: %v", cut, err)
			}
			if !atBoundary && !errors.Is(err, ErrTornRecord) {
				t.Fatalf("cut %d: want torn, got %v", cut, err)
			}
			break
		}
	}
}

func TestCaptureDamagedRecordStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.tmp")
	writeCapture(t, path, 10)
	data, _ := os.ReadFile(path)
	data[len(data)-60] ^= 0xff // inside one of the last records
	s, err := func() (*Summary, error) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return Summarize(r)
	}()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Torn || s.Records == 0 || s.Records >= 11 {
		t.Fatalf("torn=%v records=%d", s.Torn, s.Records)
	}
}

func TestSummaryCountsGapsAcrossWrap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.tmp")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint16{65533, 65534, 65535, 0, 2, 2, 3} { // 1 lost, 2 duplicated
		if err := w.Write(RecordRTP, 0, rtpPacket(7, seq, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteStream(time.Second, StreamInfo{SSRC: 7, PayloadType: 96, Kind: KindVideo, Codec: CodecH264, ClockRate: 90000}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, _ := Open(path)
	defer r.Close()
	s, err := Summarize(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Declared) != 1 || s.Declared[0].Info.SSRC != 7 || s.Declared[0].At != time.Second {
		t.Fatalf("declared %+v", s.Declared)
	}
	st := s.Stream(7)
	if st == nil || st.Packets != 6 || st.Gaps != 1 || st.Duplicates != 1 || st.LastSeq-st.FirstSeq != 6 {
		t.Fatalf("summary %+v", st)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil || !bytes.Contains(buf.Bytes(), []byte("gaps=1")) {
		t.Fatalf("text: %s %v", buf.String(), err)
	}
}

func TestIsLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.tmp")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if live, err := IsLive(path); err != nil || !live {
		t.Fatalf("open capture: live=%v err=%v", live, err)
	}
	w.Close()
	if live, err := IsLive(path); err != nil || live {
		t.Fatalf("closed capture: live=%v err=%v", live, err)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.tmp")
	writeCapture(t, path, 1)
	if _, err := Create(path, testHeader()); err == nil {
		t.Fatal("Create overwrote an existing capture")
	}
}

func BenchmarkWriterWrite(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "b.tmp"), testHeader())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	p := rtpPacket(1, 1, 1200)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := w.Write(RecordRTP, time.Duration(i), p); err != nil {
			b.Fatal(err)
		}
	}
}

// WriteSegments frames each segment of a merged message as its own
// record, exactly as separate Writes would.
func TestWriteSegmentsMatchesWrites(t *testing.T) {
	dir := t.TempDir()
	var merged []byte
	var pkts [][]byte
	for i := 0; i < 5; i++ {
		size := 1200
		if i == 4 {
			size = 333
		}
		p := rtpPacket(1111, uint16(i), size)
		pkts = append(pkts, p)
		merged = append(merged, p...)
	}
	at := 7 * time.Millisecond
	one, err := Create(filepath.Join(dir, "1_000000.tmp"), testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := one.WriteSegments(RecordRTP, at, merged, 1200); err != nil {
		t.Fatal(err)
	}
	if err := one.WriteSegments(RecordRTP, at, merged, 0); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("segment size 0: %v", err)
	}
	if err := one.Close(); err != nil {
		t.Fatal(err)
	}
	each, err := Create(filepath.Join(dir, "2_000000.tmp"), testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := each.Write(RecordRTP, at, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := each.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "1_000000.tmp"))
	b, _ := os.ReadFile(filepath.Join(dir, "2_000000.tmp"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("merged write %d bytes, separate writes %d bytes, or they differ", len(a), len(b))
	}
	closed := one
	if err := closed.WriteSegments(RecordRTP, at, merged, 1200); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
