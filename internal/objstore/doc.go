// Package objstore ships finished recording files to where the user keeps
// them: an S3-compatible object store (Amazon S3 or any endpoint speaking
// its API, through minio-go) or a directory on local disk. Its Uploader is
// a queue with retries: a file that cannot be uploaded is copied into a
// backup directory, remembered on disk and retried until it goes through,
// across restarts.
package objstore
