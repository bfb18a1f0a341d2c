package csvimport_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/storsthlm/utskick/store/csvimport"
)

type csvRecord struct {
	Fields []string
	Line   int64
	Offset int64
}

// readAllStd reads in with encoding/csv set up as the import used to be.
func readAllStd(in string, comma rune) ([]csvRecord, error) {
	cr := csv.NewReader(strings.NewReader(in))
	cr.Comma, cr.FieldsPerRecord, cr.LazyQuotes = comma, -1, true
	var out []csvRecord
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		line, _ := cr.FieldPos(0)
		out = append(out, csvRecord{Fields: rec, Line: int64(line), Offset: cr.InputOffset()})
	}
}

func readAllBounded(r io.Reader, comma byte) ([]csvRecord, error) {
	cr := csvimport.NewReader(r, comma, csvimport.MaxField, csvimport.MaxRecord)
	var out []csvRecord
	for {
		rec, line, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, csvRecord{Fields: append([]string(nil), rec...), Line: line, Offset: cr.InputOffset()})
	}
}

// checkLikeEncodingCSV compares Reader with encoding/csv on in, read
// whole, half at a time and one byte at a time (so that every quote,
// "\r" and "\n" also falls on a buffer boundary).
func checkLikeEncodingCSV(t *testing.T, in string, comma byte) {
	t.Helper()
	want, err := readAllStd(in, rune(comma))
	if err != nil {
		t.Skipf("encoding/csv refuses %q: %v", in, err)
	}
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"half":     iotest.HalfReader(strings.NewReader(in)),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
	} {
		got, err := readAllBounded(r, comma)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, in, err)
		}
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %q\ngot  %#v\nwant %#v", name, in, got, want)
		}
	}
}

// TestCSVReaderReadsLikeEncodingCSV: the bounded reader gives the
// records, lines and offsets encoding/csv (LazyQuotes) gave, on the
// shapes spreadsheets write and on random input made of the characters
// that matter.
func TestCSVReaderReadsLikeEncodingCSV(t *testing.T) {
	for _, in := range []string{
		"", "\n", "\r\n", "a", "a\n", "a\r\n", "a\r", "\r", "a,b\n\nc,d\n", "a,", ",", ",,\n",
		"\"a\",\"b\"\n", "\"a\nb\",c\n", "\"a\r\nb\",c\r\n", "\"a\"\"b\",c", "\"abc\"def,g\nh\n",
		"\"\"", "\"", "\"a", "\"a\"", "\"a\"\r", "\"a\"\rb\n", "a\"b,c\n", "a\rb,c\r\r\n",
		"email;namn\r\nanna@example.se;\"Anna\r\nAndersson\";\r\n\r\n", "\"a\"\"\"\n", "x,\"y\"\"\",z\n",
	} {
		checkLikeEncodingCSV(t, in, ',')
		checkLikeEncodingCSV(t, strings.ReplaceAll(in, ",", ";"), ';')
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", ",", ";", "\"", "\"", "\n", "\r", "\r\n", " ", "é", "\t"}
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		checkLikeEncodingCSV(t, b.String(), ',')
	}
}

func FuzzCSVReaderReadsLikeEncodingCSV(f *testing.F) {
	for _, s := range []string{"a,b\n", "\"a\"\"b\",c\r\n", "\"x\ny\"z\r", "a\r\rb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkLikeEncodingCSV(t, in, ',')
	})
}

// field200MB writes a 200 MB cell, made on the fly and never held:
// quoted, with line breaks, delimiters and doubled quotes inside, which
// is the hardest shape to skip (the end of the cell is the first lone
// quote, wherever the line breaks are).
type field200MB struct {
	n, lines int
	chunk    []byte
}

const hugeField = 200 << 20

func newField200MB() *field200MB {
	line := strings.Repeat("x", 90) + ",\"\"y\n" // 96 bytes: a delimiter, a doubled quote, a line break
	return &field200MB{chunk: []byte(strings.Repeat(line, 1<<16/len(line)))}
}

func (f *field200MB) Read(p []byte) (int, error) {
	if f.n >= hugeField {
		return 0, io.EOF
	}
	n := copy(p, f.chunk[:min(len(f.chunk), hugeField-f.n)])
	f.n += n
	f.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, nil
}

// TestCSVReaderSkipsA200MBFieldInBoundedMemory reads a file whose third
// line starts a 200 MB cell: the row is reported too long with its line
// and column, the rows around it are read whole with the right line
// numbers, and the heap never holds more than a few MiB of it.
func TestCSVReaderSkipsA200MBFieldInBoundedMemory(t *testing.T) {
	for _, quoted := range []bool{true, false} {
		t.Run(fmt.Sprintf("quoted=%v", quoted), func(t *testing.T) {
			field := newField200MB()
			big := io.Reader(field)
			if !quoted {
				big = io.LimitReader(zeros{}, hugeField) // one physical line
			}
			open, close := "\"", "\""
			if !quoted {
				open, close = "", ""
			}
			in := io.MultiReader(
				strings.NewReader("email,name\nanna@example.se,Anna\nbo@example.se,"+open),
				big,
				strings.NewReader(close+"\ncia@example.se,\"Cia\nCiasson\"\n"),
			)
			stop := watchHeap(t)
			cr := csvimport.NewReader(in, ',', csvimport.MaxField, csvimport.MaxRecord)
			var got []string
			var tooLong *csvimport.RowTooLongError
			for {
				rec, line, err := cr.Read()
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.As(err, &tooLong) {
					got = append(got, fmt.Sprintf("%d too long %q", line, rec))
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d %q", line, rec))
			}
			allocated, peak := stop()
			t.Logf("read %d MB: allocated %.1f MiB in all, peak heap in use %.1f MiB", hugeField>>20, float64(allocated)/(1<<20), float64(peak)/(1<<20))
			want := []string{
				`1 ["email" "name"]`,
				`2 ["anna@example.se" "Anna"]`,
				`3 too long ["bo@example.se"]`,
				fmt.Sprintf(`%d ["cia@example.se" "Cia\nCiasson"]`, 4+field.lines),
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("records:\n%q\nwant\n%q", got, want)
			}
			if tooLong.Column != 2 || tooLong.Line != 3 {
				t.Fatalf("too long: %+v", tooLong)
			}
			// encoding/csv allocates the cell several times over (>1 GiB).
			if allocated > 16<<20 || peak > 64<<20 {
				t.Fatalf("reading a 200 MB cell allocated %d bytes, peak heap %d: memory grows with the cell", allocated, peak)
			}
		})
	}
}

// zeros is an endless cell of z.
type zeros struct{}

var zblock = bytes.Repeat([]byte{'z'}, 64<<10)

func (zeros) Read(p []byte) (int, error) {
	return copy(p, zblock), nil
}

// watchHeap samples the heap until the returned func is called, which
// reports the bytes allocated meanwhile and the peak of the heap in use.
func watchHeap(t *testing.T) func() (allocated, peak uint64) {
	t.Helper()
	runtime.GC()
	var start runtime.MemStats
	runtime.ReadMemStats(&start)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		var end runtime.MemStats
		runtime.ReadMemStats(&end)
		if end.HeapInuse > peak.Load() {
			peak.Store(end.HeapInuse)
		}
		return end.TotalAlloc - start.TotalAlloc, peak.Load() - min(peak.Load(), start.HeapInuse)
	}
}

// BenchmarkCSVReader compares the bounded reader with encoding/csv on an
// ordinary import file.
func BenchmarkCSVReader(b *testing.B) {
	var file bytes.Buffer
	file.WriteString("email,name,kommun\n")
	for i := range 100_000 {
		fmt.Fprintf(&file, "person%06d@example.org,\"Person %d\",Solna\n", i, i)
	}
	count := func(read func() error) int {
		n := 0
		for read() == nil {
			n++
		}
		return n
	}
	b.Run("bounded", func(b *testing.B) {
		b.SetBytes(int64(file.Len()))
		for b.Loop() {
			cr := csvimport.NewReader(bytes.NewReader(file.Bytes()), ',', csvimport.MaxField, csvimport.MaxRecord)
			if n := count(func() error { _, _, err := cr.Read(); return err }); n != 100_001 {
				b.Fatal(n)
			}
		}
	})
	b.Run("encoding-csv", func(b *testing.B) {
		b.SetBytes(int64(file.Len()))
		for b.Loop() {
			cr := csv.NewReader(bytes.NewReader(file.Bytes()))
			cr.FieldsPerRecord, cr.LazyQuotes, cr.ReuseRecord = -1, true, true
			if n := count(func() error { _, err := cr.Read(); return err }); n != 100_001 {
				b.Fatal(n)
			}
		}
	})
}
