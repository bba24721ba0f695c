package objstore

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ars-project/ars/internal/storage"
)

// Store puts one local file under a key.
type Store interface {
	Put(ctx context.Context, key, file string) error
}

// Destination says where files go. It is plain data so that the queue
// can persist it and reopen the store after a restart.
type Destination struct {
	// Kind is "s3" or "local".
	Kind string `json:"kind"`
	// Endpoint is the S3 endpoint URL (http://host:port or https://host).
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	Bucket   string `json:"bucket,omitempty"`
	// PathStyle addresses buckets in the path, as S3-compatible servers
	// usually need; Amazon S3 takes virtual-host style.
	PathStyle bool   `json:"pathStyle,omitempty"`
	AccessKey string `json:"accessKey,omitempty"`
	SecretKey string `json:"secretKey,omitempty"`
	// Dir is the root directory of a local destination.
	Dir string `json:"dir,omitempty"`
}

// String names the destination without its secrets.
func (d Destination) String() string {
	if d.Kind == "local" {
		return "local:" + d.Dir
	}
	return "s3:" + d.Endpoint + "/" + d.Bucket
}

// Open builds the store for d, connecting with Go's default transport.
func (d Destination) Open() (Store, error) { return d.OpenWith(nil) }

// OpenWith builds the store for d; an S3 store connects through tr (nil:
// Go's default), which is how the daemon's outbound address policy
// (internal/netguard) sees every connection an upload makes.
func (d Destination) OpenWith(tr http.RoundTripper) (Store, error) {
	switch d.Kind {
	case "local":
		if d.Dir == "" {
			return nil, fmt.Errorf("%w: local destination without a directory", ErrBadDestination)
		}
		return Local{Dir: d.Dir}, nil
	case "s3":
		return NewS3(d, tr)
	}
	return nil, fmt.Errorf("%w: kind %q", ErrBadDestination, d.Kind)
}

// CleanKey checks that key is a relative slash path without dot
// components.
func CleanKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || path.Clean(key) != key {
		return fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." || part == "." {
			return fmt.Errorf("%w: %q", ErrBadKey, key)
		}
	}
	return nil
}

// Local is a directory standing in for a bucket.
type Local struct{ Dir string }

// Put copies file to Dir/key, replacing it atomically.
func (l Local) Put(_ context.Context, key, file string) error {
	if err := CleanKey(key); err != nil {
		return err
	}
	dst := filepath.Join(l.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), storage.DirMode); err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	in, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, storage.FileMode)
	if err != nil {
		return fmt.Errorf("objstore: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: copy %s: %w", key, err)
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("objstore: %w", err)
	}
	return nil
}

// S3 is a bucket on an S3-compatible server.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 opens the bucket of d, connecting through tr (nil: Go's
// default). It does not contact the server.
func NewS3(d Destination, tr http.RoundTripper) (*S3, error) {
	u, err := url.Parse(d.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: endpoint %q is not an http(s) URL", ErrBadDestination, d.Endpoint)
	}
	if d.Bucket == "" {
		return nil, fmt.Errorf("%w: no bucket", ErrBadDestination)
	}
	lookup := minio.BucketLookupAuto
	if d.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(d.AccessKey, d.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       d.Region,
		BucketLookup: lookup,
		Transport:    tr,
		// The Uploader retries, with a backup behind it; the client's own
		// retries would only hide an outage for minutes.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDestination, err)
	}
	return &S3{client: c, bucket: d.Bucket}, nil
}

// Put uploads file as key.
func (s *S3) Put(ctx context.Context, key, file string) error {
	if err := CleanKey(key); err != nil {
		return err
	}
	_, err := s.client.FPutObject(ctx, s.bucket, key, file, minio.PutObjectOptions{ContentType: contentType(key)})
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4":
		return "video/mp4"
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}
