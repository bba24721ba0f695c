// Package layout turns Agora Cloud Recording's composite layout settings
// (transcodingConfig.mixedVideoLayout, maxResolutionUid, backgroundColor,
// layoutConfig) and the participants present into the pixel windows of a
// mixproto.Layout, the only picture description the mixer understands.
//
// It lives apart from the API handlers and the mixer so that the one
// place deciding where a participant appears is pure Go, free of cgo and
// of I/O, and can be tested exhaustively (every mode, 1..17 people)
// without a mixer process. The daemon calls Compute again whenever
// someone joins, leaves or updateLayout replaces the settings, and sends
// the result as a TypeLayout frame.
//
// The predefined layouts follow Agora's documentation
// (docs.agora.io/en/cloud-recording/develop/layout). Where Agora gives
// no numbers, the choices here are:
//
//   - Floating (0): the maxResolutionUid participant, else the first to
//     join, fills the canvas (Z 0). The others, in join order, get small
//     windows (Z 1) from the bottom-left corner, 4 per row, rows stacking
//     upwards, at most 4 rows. A small window is 0.235 of the canvas
//     width and height (so it keeps the canvas's shape) with a 0.012
//     gap around it: 4*0.235 + 5*0.012 = 1.
//   - BestFit (1): a grid by count: 1 full canvas; 2 side by side (each
//     half the width, full height); 3-4 2x2; 5-9 3x3; 10-16 4x4; 17 5
//     columns by 4 rows. Cells fill rows left to right, top to bottom, in
//     join order, and tile the canvas exactly without overlapping.
//   - Vertical (2): the maxResolutionUid participant (else the first)
//     takes the left; the others, in join order, fill columns on the
//     right from the top. With up to 4 others there is one column of 4
//     cells each 1/4 of the canvas width and height; with 5-8 one column
//     of 8 cells 1/8 of the canvas; with 9-16 two columns of 8 (Agora:
//     "up to two columns of small regions with eight regions per
//     column"). The large window (Z 0) takes the rest of the width,
//     full height; the small ones are Z 1. Nothing overlaps.
//   - Custom (3): each Region places the participant with its UID, at
//     Z = the region's index (later regions above earlier ones); regions
//     for absent UIDs and participants without a region give no window.
//
// Everyone present gets a window, with or without video: Agora keeps an
// audio-only user's region, and the mixer shows the canvas where a source
// has no video. Pixel values are rounded to even numbers (the chroma
// planes of 4:2:0 video are half size) and clamped inside the canvas. The
// predefined layouts crop (Fit false, Agora's render_mode 0) at alpha 1.
package layout
