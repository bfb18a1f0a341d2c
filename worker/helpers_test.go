package worker_test

import (
	"log/slog"
	"os"
)

func slogDiscard() *slog.Logger {
	if os.Getenv("DEBUGLOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}
