// Package fdlimit manages the process's descriptor budget: it raises the
// soft RLIMIT_NOFILE to the hard limit at start, plans how many
// descriptors network clients may have and how many stay reserved for
// capture files, and answers, cheaply enough to ask on every accept,
// whether a new network connection would eat into that reserve.
//
// A capture file that cannot be opened loses media for good, while a
// refused HTTP client simply retries, so the reserve always goes to the
// files.
package fdlimit
