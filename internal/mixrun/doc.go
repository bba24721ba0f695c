// Package mixrun supervises one ars-mixer process: it starts the native
// compositor, hands it a composite's media as internal/mixproto frames,
// collects the files it reports, restarts it when it dies in a live
// composite, and finishes it cleanly. The daemon and the transcoder stay
// pure Go; every codec runs in the child, so a crash there costs one
// composite at most.
package mixrun
