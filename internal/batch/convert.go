package batch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/transcode"
)

// Converter turns the capture src into an MP4 written at dst. dst is the
// locked .transcoding file: the converter must write it in place (open,
// truncate, write), not replace it, and leave renaming to the caller.
type Converter func(ctx context.Context, src, dst string) (transcode.Result, error)

// DefaultConverter is the real converter, internal/transcode.
func DefaultConverter() Converter {
	return func(ctx context.Context, src, dst string) (transcode.Result, error) {
		return transcode.ConvertFile(ctx, src, dst)
	}
}

// Status is what became of one capture.
type Status int

// Outcomes of convertOne.
const (
	// StatusConverted means the MP4 is in place under its final name.
	StatusConverted Status = iota + 1
	// StatusSkipped means the capture was not eligible; Reason says why.
	StatusSkipped
	// StatusFailed means the conversion was tried and failed.
	StatusFailed
	// StatusInterrupted means shutdown stopped the capture before or
	// during its conversion; the next pass will do it.
	StatusInterrupted
)

func (s Status) String() string {
	switch s {
	case StatusConverted:
		return "converted"
	case StatusSkipped:
		return "skipped"
	case StatusFailed:
		return "failed"
	case StatusInterrupted:
		return "interrupted"
	default:
		return "unknown"
	}
}

// Reasons a capture is skipped or left undone.
const (
	ReasonDone     = "already converted"
	ReasonLive     = "being recorded"
	ReasonBusy     = "another converter holds it"
	ReasonOld      = "older than max age"
	ReasonShutdown = "shutting down"
)

// FileResult reports one capture.
type FileResult struct {
	Path    string
	MP4     string
	Status  Status
	Reason  string
	Result  transcode.Result
	Elapsed time.Duration
	Err     error
}

// mp4Path and transcodingPath name a capture's outputs; ok is false when
// src is not a .tmp file.
func outputPaths(src string) (mp4, tmp string, ok bool) {
	base, found := strings.CutSuffix(src, storage.CaptureExt)
	if !found || base == "" || strings.HasSuffix(base, "/") {
		return "", "", false
	}
	return base + storage.MP4Ext, base + storage.TranscodingExt, true
}

// convertOne converts one capture if it is eligible. It is the only code
// path that writes an MP4, shared by the pass and the pool.
func convertOne(ctx context.Context, convert Converter, src string) FileResult {
	fr := FileResult{Path: src}
	mp4, tmp, ok := outputPaths(src)
	if !ok {
		return fr.fail(fmt.Errorf("%s: %w", src, ErrNotCapture))
	}
	fr.MP4 = mp4
	if err := ctx.Err(); err != nil {
		return fr.interrupted(err)
	}
	if done, err := exists(mp4); err != nil {
		return fr.fail(err)
	} else if done {
		return fr.skip(ReasonDone)
	}
	live, err := storage.IsLive(src)
	if err != nil {
		return fr.fail(err)
	}
	if live {
		return fr.skip(ReasonLive)
	}
	lk, err := lockTranscoding(tmp)
	if errors.Is(err, errBusy) {
		return fr.skip(ReasonBusy)
	}
	if err != nil {
		return fr.fail(err)
	}
	defer lk.release()
	// Checked again under the lock: another converter may have finished
	// and renamed its file between the first check and our lock.
	if done, err := exists(mp4); err != nil || done {
		lk.discard()
		if err != nil {
			return fr.fail(err)
		}
		return fr.skip(ReasonDone)
	}
	start := time.Now()
	res, err := convert(ctx, src, tmp)
	fr.Elapsed = time.Since(start)
	fr.Result = res
	if err != nil {
		lk.discard()
		if ctx.Err() != nil {
			return fr.interrupted(err)
		}
		return fr.fail(err)
	}
	switch err := lk.commit(mp4); {
	case errors.Is(err, fs.ErrExist):
		lk.discard()
		return fr.skip(ReasonDone)
	case err != nil:
		lk.discard()
		return fr.fail(err)
	}
	fr.Status = StatusConverted
	return fr
}

func (fr FileResult) fail(err error) FileResult {
	fr.Status, fr.Err = StatusFailed, err
	return fr
}

func (fr FileResult) skip(reason string) FileResult {
	fr.Status, fr.Reason = StatusSkipped, reason
	return fr
}

func (fr FileResult) interrupted(err error) FileResult {
	fr.Status, fr.Reason, fr.Err = StatusInterrupted, ReasonShutdown, err
	return fr
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("check %s: %w", path, err)
	}
}
