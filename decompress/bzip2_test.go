package decompress_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bake-os/bake-os/decompress"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/progress"
)

// compress runs a compressor tool on the file in and returns the path of
// its output.
func compress(t *testing.T, in string, tool string, args ...string) string {
	t.Helper()
	testutil.RequireTool(t, tool)
	out := in + "." + tool + ".bz2"
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(tool, append(args, "-c", in)...)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v: %s", tool, args, err, stderr.String())
	}
	return out
}

// decompressFile runs Bzip2ToSparse from the file in into a new file.
func decompressFile(t *testing.T, in string, o decompress.Options) (string, int64, error) {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "out.bin")
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	n, err := decompress.Bzip2ToSparse(context.Background(), src, dst, o)
	return out, n, err
}

// bunzip2SHA is the judge: the sha256 of bunzip2's output for in.
func bunzip2SHA(t *testing.T, in string) string {
	t.Helper()
	testutil.RequireTool(t, "bunzip2")
	cmd := exec.Command("bunzip2", "-c", in)
	h := sha256.New()
	cmd.Stdout = h
	if err := cmd.Run(); err != nil {
		t.Fatalf("bunzip2 %s: %v", in, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// allocated returns the bytes a file occupies on disk.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func checkRoundTrip(t *testing.T, bz string, o decompress.Options) string {
	t.Helper()
	out, n, err := decompressFile(t, bz, o)
	if err != nil {
		t.Fatalf("Bzip2ToSparse: %v", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != n {
		t.Errorf("file size %d, returned %d", st.Size(), n)
	}
	if got, want := testutil.FileSHA256(t, out), bunzip2SHA(t, bz); got != want {
		t.Fatalf("output sha256 %s, bunzip2 says %s", got, want)
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textish makes compressible, non-trivial data.
func textish(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	words := strings.Fields("flatcar sysext usr oem efi partition image bake verity btrfs ext4 squashfs the of and a to in is 0 1 2 3 4 5 6 7 8 9")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(9) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func TestRoundTrip(t *testing.T) {
	cases := map[string][]byte{
		"empty":      {},
		"one-byte":   {'x'},
		"four-same":  {7, 7, 7, 7},
		"random-3M":  randomBytes(3<<20, 1),
		"text-2M":    textish(2<<20, 2),
		"runs":       bytes.Repeat(append(bytes.Repeat([]byte{0xaa}, 300), bytes.Repeat([]byte{1, 2, 3}, 50)...), 3000),
		"all-0xff":   bytes.Repeat([]byte{0xff}, 5<<20),
		"periodic-3": bytes.Repeat([]byte("xyz"), 400000),
		"periodic-7": bytes.Repeat([]byte("0123456"), 200000),
		"doubled":    bytes.Repeat(randomBytes(400000, 12), 2), // two BWT cycles
		"zeros-tail": append(textish(10000, 3), make([]byte, 1<<20+3)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			in := writeFile(t, "in.bin", data)
			for _, level := range []string{"-1", "-9"} {
				bz := compress(t, in, "bzip2", level)
				for _, w := range []int{1, 3} {
					out := checkRoundTrip(t, bz, decompress.Options{Workers: w})
					got, err := os.ReadFile(out)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("level %s workers %d: output differs from input", level, w)
					}
				}
			}
		})
	}
}

// sparseImage writes a file of size bytes that is zero except for a few
// data stretches, and returns its path.
func sparseImage(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range []int64{0, 1 << 20, size / 3, size/3 + 5000, size / 2, size - 16384} {
		if _, err := f.WriteAt(textish(3000+i*1000, uint64(i)), off); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(randomBytes(300000, 9), size/4); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSparseZeros(t *testing.T) {
	const size = 200 << 20
	img := sparseImage(t, size)
	bz := compress(t, img, "bzip2", "-9")
	out := checkRoundTrip(t, bz, decompress.Options{})
	if a := allocated(t, out); a > 4<<20 {
		t.Errorf("output allocates %d bytes on disk; zero runs were written", a)
	}
	// Zeros at the end must still count: the size is exact.
	if st, _ := os.Stat(out); st.Size() != size {
		t.Errorf("size %d, want %d", st.Size(), size)
	}
	// The first hole starts inside the first MiB, after the first data.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const seekHole = 4
	hole, err := f.Seek(4096, seekHole)
	if err != nil {
		t.Fatal(err)
	}
	if hole >= 1<<20 {
		t.Errorf("first hole at %d, want before 1 MiB", hole)
	}
}

func TestTrailingZerosOnly(t *testing.T) {
	in := writeFile(t, "z.bin", make([]byte, 3<<20))
	bz := compress(t, in, "bzip2", "-9")
	out := checkRoundTrip(t, bz, decompress.Options{})
	if a := allocated(t, out); a != 0 {
		t.Errorf("all-zero output allocates %d bytes", a)
	}
}

func TestMultiStream(t *testing.T) {
	a := writeFile(t, "a.bin", textish(1<<20, 5))
	b := writeFile(t, "b.bin", append(randomBytes(200000, 6), make([]byte, 1<<20)...))
	abz := compress(t, a, "bzip2", "-1")
	bbz := compress(t, b, "bzip2", "-5")
	emptyBz := compress(t, writeFile(t, "e.bin", nil), "bzip2", "-9")
	var cat []byte
	for _, p := range []string{abz, emptyBz, bbz, abz} {
		d, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cat = append(cat, d...)
	}
	checkRoundTrip(t, writeFile(t, "cat.bz2", cat), decompress.Options{Workers: 2})

	// lbzip2's own encoder (one stream, blocks made by several threads).
	big := writeFile(t, "big.bin", append(textish(3<<20, 7), randomBytes(2<<20, 8)...))
	lbz := compress(t, big, "lbzip2", "-1", "-n", "2")
	checkRoundTrip(t, lbz, decompress.Options{})
}

func TestTrailingGarbageIgnored(t *testing.T) {
	bz := compress(t, writeFile(t, "a.bin", textish(5000, 1)), "bzip2")
	d, _ := os.ReadFile(bz)
	d = append(d, []byte("this is not bzip2 data\x00\x00")...)
	out, _, err := decompressFile(t, writeFile(t, "g.bz2", d), decompress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, textish(5000, 1)) {
		t.Fatal("output differs")
	}
}

func TestCorruptRefused(t *testing.T) {
	data := append(textish(1<<20, 4), randomBytes(500000, 4)...)
	bz := compress(t, writeFile(t, "in.bin", data), "bzip2", "-1")
	orig, err := os.ReadFile(bz)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, d []byte, want string) {
		t.Helper()
		_, _, err := decompressFile(t, writeFile(t, name, d), decompress.Options{Workers: 2})
		if err == nil {
			t.Errorf("%s: accepted", name)
			return
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not mention %q", name, err, want)
		}
		if !strings.HasPrefix(err.Error(), "decompressing ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
		if !errors.Is(err, decompress.ErrCorrupt) && !errors.Is(err, decompress.ErrNotBzip2) {
			t.Errorf("%s: error %q is neither ErrCorrupt nor ErrNotBzip2", name, err)
		}
	}
	for _, cut := range []int{3, 4, 10, 5000, len(orig) / 2, len(orig) - 11, len(orig) - 1} {
		check("trunc.bz2", orig[:cut], "")
	}
	check("trunc-mid.bz2", orig[:len(orig)/2], "truncated bzip2 stream at byte")
	check("notbz2", []byte("hello world, this is text"), "not a bzip2 stream")
	check("empty", nil, "not a bzip2 stream")
	r := rand.New(rand.NewPCG(3, 3))
	for range 40 {
		d := bytes.Clone(orig)
		i := 4 + r.IntN(len(d)-4)
		d[i] ^= 1 << r.IntN(8)
		check("flip.bz2", d, "")
	}
	d := bytes.Clone(orig)
	d[11] ^= 0x10 // stored CRC of block 1
	check("blockcrc.bz2", d, "CRC mismatch in block 1")
	d = bytes.Clone(orig)
	d[len(d)-3] ^= 0x10 // inside the stream CRC
	check("streamcrc.bz2", d, "stream CRC mismatch")
}

func TestContextCancel(t *testing.T) {
	bz := compress(t, writeFile(t, "in.bin", textish(2<<20, 1)), "bzip2", "-1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src, _ := os.Open(bz)
	defer src.Close()
	dst, _ := os.Create(filepath.Join(t.TempDir(), "o"))
	defer dst.Close()
	if _, err := decompress.Bzip2ToSparse(ctx, src, dst, decompress.Options{}); err == nil {
		t.Fatal("cancelled context: no error")
	}
}

func TestIsBzip2(t *testing.T) {
	for h, want := range map[string]bool{"BZh9": true, "BZh1\x31": true, "BZh0": false, "BZ": false, "\x1f\x8b\x08\x00": false} {
		if got := decompress.IsBzip2([]byte(h)); got != want {
			t.Errorf("IsBzip2(%q) = %v", h, got)
		}
	}
}

// benchInput returns a cached Flatcar-like bzip2 file: 256 MiB, mostly
// zeros, with 32 MiB of a tar of /usr spread over it in 4 MiB pieces
// (scripts/bench-bz2.sh makes bigger ones).
func benchInput(b *testing.B) string {
	b.Helper()
	testutil.RequireTool(b, "bzip2")
	dir := filepath.Join(os.TempDir(), "bake-os-bench")
	bz := filepath.Join(dir, "go-bench-256m-32m.bin.bz2")
	if _, err := os.Stat(bz); err == nil {
		return bz
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	script := `set -e
img=$1.img
tar cf - /usr/lib /usr/bin 2>/dev/null | head -c 33554432 > "$img.data"
rm -f "$img"; truncate -s 256M "$img"
for i in 0 1 2 3 4 5 6 7; do
	dd if="$img.data" of="$img" bs=1M count=4 skip=$((i*4)) seek=$((i*32)) conv=notrunc status=none
done
bzip2 -9 -c "$img" > "$1.tmp"; mv "$1.tmp" "$1"; rm -f "$img" "$img.data"`
	if out, err := exec.Command("sh", "-c", script, "sh", bz).CombinedOutput(); err != nil {
		b.Fatalf("making %s: %v: %s", bz, err, out)
	}
	return bz
}

// BenchmarkBzip2ToSparse decodes a Flatcar-like image with all cores;
// MB/s is of decompressed output.
func BenchmarkBzip2ToSparse(b *testing.B) {
	bz := benchInput(b)
	out := filepath.Join(b.TempDir(), "out.bin")
	b.SetBytes(256 << 20)
	for b.Loop() {
		src, err := os.Open(bz)
		if err != nil {
			b.Fatal(err)
		}
		dst, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decompress.Bzip2ToSparse(context.Background(), src, dst, decompress.Options{}); err != nil {
			b.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// cancelReporter cancels the context at the first progress report.
type cancelReporter struct{ cancel context.CancelFunc }

func (r cancelReporter) Counter(string, int64) progress.Counter { return r }
func (r cancelReporter) Add(int64)                              { r.cancel() }
func (r cancelReporter) Done()                                  {}

func TestCancelMidway(t *testing.T) {
	bz := compress(t, writeFile(t, "in.bin", textish(3<<20, 9)), "bzip2", "-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, _ := os.Open(bz)
	defer src.Close()
	dst, _ := os.Create(filepath.Join(t.TempDir(), "o"))
	defer dst.Close()
	_, err := decompress.Bzip2ToSparse(ctx, src, dst, decompress.Options{Reporter: cancelReporter{cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadErrorReported(t *testing.T) {
	bz := compress(t, writeFile(t, "in.bin", textish(1<<20, 3)), "bzip2", "-1")
	d, _ := os.ReadFile(bz)
	dst, _ := os.Create(filepath.Join(t.TempDir(), "o"))
	defer dst.Close()
	src := io.MultiReader(bytes.NewReader(d[:len(d)/2]), failingReader{})
	_, err := decompress.Bzip2ToSparse(context.Background(), src, dst, decompress.Options{})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || errors.Is(err, decompress.ErrCorrupt) {
		t.Fatalf("err = %v, want the read error", err)
	}
}

// TestOverwritesLongerFile decodes into a file that already holds more
// (and non-zero) bytes than the output: the result is the output alone,
// holes included, as bunzip2 writes it.
func TestOverwritesLongerFile(t *testing.T) {
	data := append(textish(100000, 4), make([]byte, 1<<20)...)
	bz := compress(t, writeFile(t, "in.bin", data), "bzip2", "-9")
	out := filepath.Join(t.TempDir(), "out.bin")
	if err := os.WriteFile(out, bytes.Repeat([]byte{0xee}, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(bz)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := decompress.Bzip2ToSparse(context.Background(), src, dst, decompress.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("output of %d bytes differs from the input's %d", len(got), len(data))
	}
}
