package mailtemplates

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var screenshotDir = flag.String("screenshot", "", "write PNG screenshots of the rendered issues (headless Chromium) into this directory")

// chromium finds a headless-capable Chromium.
func chromium() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// imageServer serves a generated picture for every path, standing in for
// the newsletter's image host so that screenshots need no network.
func imageServer(t *testing.T) *httptest.Server {
	t.Helper()
	palette := []color.RGBA{{0x4a, 0x7b, 0xa7, 255}, {0x7a, 0x9e, 0x6b, 255}, {0xb0, 0x7d, 0x52, 255}, {0x8e, 0x6c, 0xa3, 255}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := palette[len(r.URL.Path)%len(palette)]
		img := image.NewRGBA(image.Rect(0, 0, 1072, 600))
		for y := 0; y < 600; y++ {
			for x := 0; x < 1072; x++ {
				f := 0.75 + 0.25*float64(x+y)/1672
				img.Set(x, y, color.RGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), 255})
			}
		}
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, img)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestScreenshot renders issues the way a browser-based mail client would
// and saves screenshots, for docs/. It runs only with -screenshot=DIR:
//
//	go test ./mailtemplates -run TestScreenshot -screenshot=../docs/screenshots
func TestScreenshot(t *testing.T) {
	if *screenshotDir == "" {
		t.Skip("-screenshot not given")
	}
	bin := chromium()
	if bin == "" {
		t.Fatal("chromium not found (apt-get install chromium)")
	}
	imgs := imageServer(t)
	shots := []struct {
		file, golden string
		dark         bool
		height       int
	}{
		{"senaste-nytt-mars.png", "senaste-nytt-mars.sv.html", false, 4800},
		{"senaste-nytt-mars-dark.png", "senaste-nytt-mars.sv.html", true, 4800},
		{"bus-oktober.png", "bus-oktober.sv.html", false, 1750},
	}
	dir, _ := filepath.Abs(*screenshotDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range shots {
		page, err := os.ReadFile(filepath.Join("testdata", "golden", s.golden))
		if err != nil {
			t.Fatal(err)
		}
		page = bytes.ReplaceAll(page, []byte("https://nyhetsbrev.example.se/bilder/"), []byte(imgs.URL+"/"))
		tmp := filepath.Join(t.TempDir(), "issue.html")
		if err := os.WriteFile(tmp, page, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, s.file)
		args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			// Everything but the loopback image server is unreachable.
			"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
			fmt.Sprintf("--window-size=680,%d", s.height), "--screenshot=" + out}
		if s.dark {
			args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
		}
		args = append(args, "file://"+tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		outb, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, lastLines(string(outb), 10))
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Size() < 10_000 {
			t.Fatalf("screenshot %s missing or empty: %v", out, err)
		}
		fmt.Println("wrote", out)
	}
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
