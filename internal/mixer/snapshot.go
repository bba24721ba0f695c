package mixer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ars-project/ars/internal/mixproto"
)

// The snapshotter role (ars-mixer --snapshotter): JPEGs of single
// keyframes for a cloud recording's snapshotConfig. The daemon sends one
// keyframe per request (mixproto.TypeSnapshot); each is decoded on its
// own, in a pipeline made for it and torn down after it:
//
//	appsrc ! [parser !] decoder ! videoconvert ! videoflip ! jpegenc ! appsink
//
// Nothing decodes continuously: a snapshot every few seconds per
// participant costs one keyframe's decode, and a pipeline per request
// keeps no decoder state from one participant's (maybe hostile) stream
// to the next. The decoders are the composite's (decoders in source.go).

// snapTimeout bounds one keyframe's decode: a decoder that gives no
// picture by then (a keyframe it cannot use) gets an error answer.
const snapTimeout = 5 * time.Second

// JPEGQuality is jpegenc's quality for snapshots: Agora's snapshots are
// plain JPEG photos of the picture; 85 keeps a 640x360 frame near 30 kB.
const JPEGQuality = 85

// snapInput is one request read from stdin, its payload copied off the
// reader's buffer.
type snapInput struct {
	end bool
	req mixproto.SnapRequest
	err error
}

// RunSnapshotter answers snapshot requests from in on out until TypeEnd,
// EOF or ctx ending (SIGTERM); the request being decoded is answered
// first.
func RunSnapshotter(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	gst.Init(nil)
	w := mixproto.NewWriter(out)
	if err := w.WriteJSON(mixproto.TypeReady, nil); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	reqs := make(chan snapInput)
	go readSnapRequests(ctx, mixproto.NewReader(in), reqs, log)
	for {
		var si snapInput
		select {
		case <-ctx.Done():
			log.Info("asked to stop")
			return nil
		case si = <-reqs:
		}
		switch {
		case si.end:
			if err := w.WriteJSON(mixproto.TypeDone, nil); err != nil {
				return err
			}
			return w.Flush()
		case si.err != nil:
			if errors.Is(si.err, io.EOF) {
				return nil
			}
			return si.err
		}
		res := mixproto.SnapResult{ID: si.req.ID}
		jpeg, err := snapshot(si.req)
		if err != nil {
			log.Warn("snapshot failed", "request", si.req.ID, "codec", si.req.Video.Codec, "error", err)
			res.Err = err.Error()
		} else {
			res.JPEG = jpeg
		}
		if err := w.WriteSnapResult(res); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// readSnapRequests reads frames until the end and hands on the requests.
// A frame that is not a valid request is an error answer's business, not
// the process's: it is logged and skipped (its ID, if any, unanswered;
// the daemon times it out).
func readSnapRequests(ctx context.Context, r *mixproto.Reader, out chan<- snapInput, log *slog.Logger) {
	send := func(si snapInput) bool {
		select {
		case out <- si:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		f, err := r.ReadFrame()
		if err != nil {
			send(snapInput{err: err})
			return
		}
		switch f.Type {
		case mixproto.TypeEnd:
			send(snapInput{end: true})
			return
		case mixproto.TypeSnapshot:
			req, err := mixproto.ParseSnapRequest(f.Body)
			if err != nil {
				log.Warn("snapshot request refused", "error", err)
				continue
			}
			req.Data = append([]byte(nil), req.Data...)
			if !send(snapInput{req: req}) {
				return
			}
		default:
			log.Warn("unexpected frame", "type", f.Type)
		}
	}
}

// snapshot decodes one keyframe into a JPEG, turned upright as its
// orientation says.
func snapshot(req mixproto.SnapRequest) ([]byte, error) {
	caps, dec, err := decoders(req.Video.Codec)
	if err != nil {
		return nil, err
	}
	desc := "appsrc name=src format=time is-live=false block=false"
	for _, d := range dec {
		desc += " ! " + d
	}
	desc += fmt.Sprintf(" ! videoconvert ! videoflip video-direction=%s ! jpegenc quality=%d ! appsink name=sink sync=false max-buffers=1",
		direction(req.Video.Orientation), JPEGQuality)
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	defer p.SetState(gst.StateNull)
	se, err := p.GetElementByName("src")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	ke, err := p.GetElementByName("sink")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPipeline, err)
	}
	src, sink := app.SrcFromElement(se), app.SinkFromElement(ke)
	src.SetCaps(gst.NewCapsFromString(caps))
	if err := p.SetState(gst.StatePlaying); err != nil {
		return nil, fmt.Errorf("%w: play: %v", ErrPipeline, err)
	}
	buf := gst.NewBufferFromBytes(req.Data)
	buf.SetPresentationTimestamp(0)
	if r := src.PushBuffer(buf); r != gst.FlowOK {
		return nil, fmt.Errorf("%w: push: %v", ErrPipeline, r)
	}
	src.EndStream()
	s := sink.TryPullSample(gst.ClockTime(snapTimeout))
	if s == nil {
		return nil, fmt.Errorf("%w: the %v keyframe gave no picture%s", ErrPipeline, req.Video.Codec, busError(p))
	}
	b := s.GetBuffer()
	if b == nil {
		return nil, fmt.Errorf("%w: an empty sample", ErrPipeline)
	}
	jpeg := b.Bytes()
	if len(jpeg) == 0 {
		return nil, fmt.Errorf("%w: an empty JPEG", ErrPipeline)
	}
	return jpeg, nil
}

// busError is the pipeline's first error message, if it posted one.
func busError(p *gst.Pipeline) string {
	msg := p.GetPipelineBus().TimedPopFiltered(0, gst.MessageError)
	if msg == nil {
		return ""
	}
	if e := msg.ParseError(); e != nil {
		return ": " + e.Error()
	}
	return ""
}
