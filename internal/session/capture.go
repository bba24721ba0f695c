package session

import (
	"errors"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

// capture is one open UID_HHMMSS.tmp file of a participant.
type capture struct {
	w     *storage.Writer
	path  string
	start time.Time
	rec   *recording
}

func openCapture(rec *recording, p *Participant, now time.Time) (*capture, error) {
	path := storage.CaptureName(rec.dir, p.uid, now)
	hdr := storage.Header{
		Channel: p.channel.name,
		UID:     p.uid,
		Start:   now,
		Source:  p.source,
		Tag:     rec.tag,
		Streams: append([]storage.StreamInfo(nil), p.streams...),
	}
	d := p.deps
	w, err := storage.Create(path, hdr, storage.WithCrashBuffer(d.crashDir))
	if errors.Is(err, storage.ErrCrashBuffer) {
		// A full or missing buffer directory must not stop recording:
		// the capture goes on with a heap buffer, which a crash can
		// cost up to a flush interval of.
		d.metrics.CaptureBufferFallbacks.Inc()
		d.log.Warn("capture buffer not crash-safe: using the heap", "path", path, "err", err)
		w, err = storage.Create(path, hdr)
	}
	if err != nil {
		return nil, err
	}
	return &capture{w: w, path: path, start: now, rec: rec}, nil
}
