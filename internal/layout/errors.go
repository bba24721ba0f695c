package layout

import "errors"

var (
	// ErrBadColor is a colour that is not "#RRGGBB".
	ErrBadColor = errors.New("layout: invalid colour")
	// ErrBadLayout is a Config that cannot be laid out.
	ErrBadLayout = errors.New("layout: invalid layout")
)
