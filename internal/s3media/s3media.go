// Package s3media keeps the media library's files in an S3-compatible
// bucket (AWS S3, MinIO, Garage, Ceph RGW, …), through minio-go. The
// database keeps each image's metadata; the API serves the files at their
// stable public URL by streaming them from here, so that mail never links
// to the bucket itself.
//
// Keys are the SHA-256 of the stored bytes: writing the same image twice
// writes the same object, so an upload can write the object first and
// the database row after it without a crash leaving a row that points at
// nothing.
package s3media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config names the bucket and how to reach it.
type Config struct {
	Endpoint  string // host[:port], no scheme
	Bucket    string
	Region    string // "" lets the library ask the server
	AccessKey string
	SecretKey string
	Prefix    string // put before every key, e.g. "utskick/media/"
	PathStyle bool   // https://host/bucket/key instead of https://bucket.host/key
	TLS       bool
	// Timeout bounds connecting and waiting for a response's headers
	// (not the transfer of a body); 0 is 10 s.
	Timeout time.Duration
}

// Bucket is one configured bucket.
type Bucket struct {
	core   minio.Core
	bucket string
	prefix string
}

// ErrUnavailable wraps every failure that is the bucket's, not the
// object's: the server does not answer, refuses the credentials, or has
// no such bucket.
var ErrUnavailable = errors.New("the media bucket is not available")

var hexKey = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Open makes the client; it does not reach the server (see Check).
func Open(cfg Config) (*Bucket, error) {
	if cfg.Endpoint == "" || strings.Contains(cfg.Endpoint, "://") || strings.Contains(cfg.Endpoint, "/") {
		return nil, fmt.Errorf("endpoint %q: want host or host:port, without a scheme", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket named")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.TLSHandshakeTimeout = cfg.Timeout
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.TLS,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		// A server that is down should turn into an answer soon, not
		// after the library's ten tries with back-off.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &Bucket{core: minio.Core{Client: c}, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// String names the bucket for logs.
func (b *Bucket) String() string { return "s3://" + b.bucket + "/" + b.prefix }

// Check asks the server whether the bucket exists and the credentials
// may see it.
func (b *Bucket) Check(ctx context.Context) error {
	ok, err := b.core.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !ok {
		return fmt.Errorf("%w: no bucket %q", ErrUnavailable, b.bucket)
	}
	return nil
}

func (b *Bucket) object(key string) (string, error) {
	if !hexKey.MatchString(key) {
		return "", fmt.Errorf("media key %q is not a SHA-256", key)
	}
	return b.prefix + key, nil
}

// Put stores data under key (the hex SHA-256 of data). Storing the same
// key again overwrites it with the same bytes.
func (b *Bucket) Put(ctx context.Context, key, contentType string, data []byte) error {
	name, err := b.object(key)
	if err != nil {
		return err
	}
	_, err = b.core.PutObject(ctx, b.bucket, name, bytes.NewReader(data), int64(len(data)), "", "", minio.PutObjectOptions{
		ContentType:  contentType,
		CacheControl: "public, max-age=31536000, immutable",
	})
	if err != nil {
		return fmt.Errorf("%w: put %s: %v", ErrUnavailable, name, err)
	}
	return nil
}

// Get opens the object of key for reading: the request is made here, so
// a bucket that does not answer is an error before any byte is served.
// A missing object is an error wrapping fs.ErrNotExist. The caller
// closes the reader.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := b.object(key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := b.core.GetObject(ctx, b.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%w: get %s: %v", ErrUnavailable, name, err)
	}
	return rc, nil
}

// Exists tells whether the object of key is there; an error is the
// bucket's.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	name, err := b.object(key)
	if err != nil {
		return false, err
	}
	_, err = b.core.StatObject(ctx, b.bucket, name, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return false, nil
	}
	return false, fmt.Errorf("%w: stat %s: %v", ErrUnavailable, name, err)
}

// Delete removes the object of key; a missing object is no error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	name, err := b.object(key)
	if err != nil {
		return err
	}
	if err := b.core.RemoveObject(ctx, b.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil
		}
		return fmt.Errorf("%w: delete %s: %v", ErrUnavailable, name, err)
	}
	return nil
}

// Object is one of the library's objects in the bucket.
type Object struct {
	Key      string // the hex SHA-256, without the prefix
	Size     int64
	Modified time.Time
}

// List calls fn for every object under the prefix whose name is a
// library key (others are not utskick's and are left out).
func (b *Bucket) List(ctx context.Context, fn func(Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the library's listing goroutine on an early return
	for o := range b.core.Client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("%w: list: %v", ErrUnavailable, o.Err)
		}
		key := strings.TrimPrefix(o.Key, b.prefix)
		if !hexKey.MatchString(key) {
			continue
		}
		if err := fn(Object{Key: key, Size: o.Size, Modified: o.LastModified}); err != nil {
			return err
		}
	}
	return nil
}
