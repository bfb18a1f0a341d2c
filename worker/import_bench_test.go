package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/mailtemplates/compose"
	"github.com/storsthlm/utskick/mailtemplates/links"
	"github.com/storsthlm/utskick/queue"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/store/storetest"
	"github.com/storsthlm/utskick/worker"
	"github.com/storsthlm/utskick/worker/mailer"
)

// nopQueue drops tasks: an import with a consent basis enqueues none, and
// the benchmark measures the import alone.
type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, *asynq.Task) error { return nil }

// BenchmarkImport imports generated CSV files of 100,000 and 1,000,000
// rows into a new SQLite file, as the import:run task does, and reports
// rows/s, the peak resident memory of the import alone (the kernel's
// high-water mark is reset just before it starts) and the peak live Go
// heap. Flat memory means the peaks are about the same for both sizes.
//
//	go test ./worker -run '^$' -bench Import -benchtime 1x
//	go test ./worker -run '^$' -bench 'Import/rows=100000$' -benchtime 1x
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			var rate, peak, heap float64
			for b.Loop() {
				b.StopTimer()
				st := storetest.Open(b)
				h := benchHandlers(b, st)
				id := benchUpload(b, st, n)
				runtime.GC()
				debug.FreeOSMemory()
				resetPeakRSS(b)
				stopHeap := sampleHeap(&heap)
				start := time.Now()
				b.StartTimer()
				if err := h.Process(context.Background(), queue.NewImportTask(id)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				took := time.Since(start)
				stopHeap()
				peak = max(peak, peakRSSMiB(b))
				imp, err := st.Import(context.Background(), id)
				if err != nil || imp.Created != int64(n) {
					b.Fatalf("imported %+v: %v", imp, err)
				}
				rate = float64(n) / took.Seconds()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(peak, "peak-RSS-MiB")
			b.ReportMetric(heap, "peak-Go-heap-MiB")
		})
	}
}

func benchHandlers(b *testing.B, st *store.Store) *worker.Handlers {
	m, _ := mailer.New(mailer.Config{Host: "127.0.0.1", Port: 25, TLS: mailer.TLSNone})
	tm, _ := mailtemplates.New()
	sg, _ := links.NewSigner([]byte("bench secret key, 32 bytes long!!"))
	h, err := worker.NewHandlers(worker.Config{}, worker.Deps{Store: st, Queue: nopQueue{}, Mailer: m, Templates: tm, Signer: sg, Log: slogDiscard(),
		Composer: compose.New(compose.Config{}, tm, sg)})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchUpload stores an n-row file as the API does, generating it one
// 1 MiB chunk at a time.
func benchUpload(b *testing.B, st *store.Store, n int) int64 {
	ctx := context.Background()
	l := &store.List{Slug: "bench", Name: "Bench"}
	if err := st.CreateList(ctx, l); err != nil {
		b.Fatal(err)
	}
	imp := &store.Import{Mode: store.ImportSubscribe, ListIDs: store.IDList{l.ID}, ConsentBasis: "benchmark"}
	if err := st.CreateImport(ctx, imp); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("email,name,language,kommun\n")
	seq, size := 0, int64(0)
	flush := func() {
		if err := st.AppendImportChunk(ctx, imp.ID, seq, bytes.Clone(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
		seq, size = seq+1, size+int64(buf.Len())
		buf.Reset()
	}
	for i := range n {
		fmt.Fprintf(&buf, "person%07d@example.org,Person %d,sv,Kommun %d\n", i, i, i%290)
		if buf.Len() >= 1<<20 {
			flush()
		}
	}
	flush()
	if err := st.QueueImport(ctx, imp.ID, size); err != nil {
		b.Fatal(err)
	}
	return imp.ID
}

// sampleHeap records the largest live Go heap seen every 10 ms into
// *peak (MiB) until the returned stop is called. RSS also holds SQLite's
// page caches, which are bounded by cache_size; the Go heap is what would
// grow if the import held the file.
func sampleHeap(peak *float64) (stop func()) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			*peak = max(*peak, float64(s[0].Value.Uint64())/(1<<20))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// resetPeakRSS sets the kernel's peak-RSS mark (VmHWM) to the current RSS.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset peak RSS: %v", err)
	}
}

func peakRSSMiB(b *testing.B) float64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
