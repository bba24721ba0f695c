package objstore

// OnResults sets the function told of every outcome, like WithResults,
// for a consumer made after the uploader: the cloud recorder takes the
// uploader it then reports to. Call it before Start.
func (u *Uploader) OnResults(f func(Result)) { u.onResult = f }
