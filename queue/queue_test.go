package queue_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/storsthlm/utskick/queue"
)

// The embedded Redis listens on loopback, which every local user can
// reach: it must answer only the process that started it.
func TestEmbeddedRedisRefusesClientsWithoutItsPassword(t *testing.T) {
	ctx := context.Background()
	rd, err := queue.Open(ctx, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if err := rd.Ping(ctx); err != nil {
		t.Fatalf("the process's own client: %v", err)
	}
	stranger := redis.NewClient(&redis.Options{Addr: rd.Embedded.Addr()})
	defer stranger.Close()
	err = stranger.Set(ctx, "k", "v", 0).Err()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("a client without the password: %v, want NOAUTH", err)
	}
	if err := stranger.Do(ctx, "AUTH", "guess").Err(); err == nil {
		t.Fatal("a guessed password was accepted")
	}
}
