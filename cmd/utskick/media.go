package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/storsthlm/utskick/internal/s3media"
	"github.com/storsthlm/utskick/store"
)

const mediaUsage = `usage:
  utskick media sweep [-dry-run] [-min-age 24h]
      delete the objects of the media bucket (UTSKICK_MEDIA_S3_*) that no image
      of the library uses and that are older than -min-age: left behind by an
      upload that failed after writing its object, or a delete whose object
      removal failed`

// runMedia is `utskick media …`.
func runMedia(ctx context.Context, cfg *config, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "sweep" {
		fmt.Fprintln(stderr, mediaUsage)
		return 2
	}
	fs := flag.NewFlagSet("utskick media sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, mediaUsage) }
	dry := fs.Bool("dry-run", false, "list what would be deleted, delete nothing")
	minAge := fs.Duration("min-age", 24*time.Hour, "leave younger objects (an upload may be between its object and its row)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return 2
	}
	if cfg.MediaS3.Bucket == "" {
		fmt.Fprintln(stderr, "utskick media sweep: no bucket configured (UTSKICK_MEDIA_S3_BUCKET); images are in the database")
		return 2
	}
	b, err := s3media.Open(cfg.MediaS3)
	if err != nil {
		fmt.Fprintf(stderr, "utskick media sweep: %v\n", err)
		return 2
	}
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "utskick media sweep: %v\n", err)
		return 1
	}
	defer st.Close()
	n, bytes, err := sweepMedia(ctx, st, b, *minAge, *dry, time.Now(), stdout)
	if err != nil {
		fmt.Fprintf(stderr, "utskick media sweep: %v\n", err)
		return 1
	}
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	fmt.Fprintf(stdout, "%s %d unused objects (%d bytes) from %s\n", verb, n, bytes, b)
	return 0
}

// sweepMedia deletes the bucket's objects that no row uses and that are
// older than minAge. The rows are read after the listing, so an image
// uploaded meanwhile is in them; minAge covers an upload whose row is
// not yet written.
func sweepMedia(ctx context.Context, st *store.Store, b *s3media.Bucket, minAge time.Duration, dry bool, now time.Time, out io.Writer) (int, int64, error) {
	var objs []s3media.Object
	if err := b.List(ctx, func(o s3media.Object) error { objs = append(objs, o); return nil }); err != nil {
		return 0, 0, err
	}
	used, err := st.MediaKeysInBucket(ctx)
	if err != nil {
		return 0, 0, err
	}
	var n int
	var size int64
	for _, o := range objs {
		if used[o.Key] || now.Sub(o.Modified) < minAge {
			continue
		}
		fmt.Fprintf(out, "%s\t%d\t%s\n", o.Key, o.Size, o.Modified.UTC().Format(time.RFC3339))
		if !dry {
			if err := b.Delete(ctx, o.Key); err != nil {
				return n, size, err
			}
		}
		n++
		size += o.Size
	}
	return n, size, nil
}
