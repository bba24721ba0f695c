package session

import (
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
	w, err := storage.Create(path, hdr)
	if err != nil {
		return nil, err
	}
	return &capture{w: w, path: path, start: now, rec: rec}, nil
}
