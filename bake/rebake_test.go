package bake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/flatcar"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// debugfsExists reports whether p exists in ROOT, asking debugfs.
func debugfsExists(t *testing.T, img, p string) bool {
	t.Helper()
	out, _ := exec.Command("debugfs", "-R", "stat "+p, rootSpec(img)).CombinedOutput()
	return !strings.Contains(string(out), "File not found")
}

// TestRebakeReplacesAllOfName bakes a, c and a mask m, then bakes the
// result again with new versions of a (other conf), c and m (now a real
// sysext) into OEM, then c once more back into ROOT. Each time the old
// link, image and sysupdate config of the NAME are gone (read back with
// debugfs and btrfs restore), the replacement is reported, and e2fsck and
// btrfs check find the filesystems clean.
func TestRebakeReplacesAllOfName(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	conf := func(file, body string) string {
		p := filepath.Join(f.dir, file)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	a1 := f.sysext(t, "a-1-x86-64.raw", "a", flatcarRelease)
	a2 := f.sysext(t, "a-2-x86-64.raw", "a", flatcarRelease)
	c1 := f.sysext(t, "c-1.raw", "c", flatcarRelease)
	c2 := f.sysext(t, "c-2.raw", "c", flatcarRelease)
	c3 := f.sysext(t, "c-3.raw", "c", flatcarRelease)
	m1 := f.sysext(t, "m-1.raw", "m", flatcarRelease)
	conf1 := conf("a1.conf", "[Source]\nMatchPattern=a-@v-%a.raw\n[Target]\nType=regular-file\nPath=/opt/extensions/a\nMatchPattern=a-@v-%a.raw\nCurrentSymlink=/etc/extensions/a.raw\n")
	conf2 := conf("a2.conf", "[Target]\nType=regular-file\nPath=/oem/ext/a\nMatchPattern=a-@v-%a.raw\nCurrentSymlink=/etc/extensions/a.raw\n")

	bakeInto := func(in string, target string, masks []string, sx ...bake.Sysext) (string, *bake.Result, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(out, 0o755)
		tg, err := bake.ParseTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		res, err := bake.Run(context.Background(), bake.Options{Image: in, OutputDir: out, Arch: flatcar.ArchX86_64,
			Target: tg, Sysexts: sx, Masks: masks, Epoch: 1700000000,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		if err != nil {
			t.Fatal(err)
		}
		// Each bake's ROOT must be clean; the full judge runs on the last.
		testutil.Run(t, "e2fsck", "-fn", rootSpec(res.Image))
		return res.Image, res, logs.String()
	}

	img1, res1, log1 := bakeInto(f.image, "root:/opt/extensions/", []string{"m"},
		bake.Sysext{Name: "a", File: a1, Conf: conf1, ConfFrom: "next to a-1-x86-64.raw"}, bake.Sysext{Name: "c", File: c1})
	if len(res1.Replaced) != 0 {
		t.Errorf("first bake replaced %+v", res1.Replaced)
	}
	if !strings.Contains(log1, "sysupdate config "+conf1+" (next to a-1-x86-64.raw)") || strings.Contains(log1, "cannot match") {
		t.Errorf("first bake log: %s", log1)
	}
	for _, p := range []string{"/opt/extensions/a/a-1-x86-64.raw", "/etc/sysupdate.a.d/a.conf", "/opt/extensions/c-1.raw"} {
		if !debugfsExists(t, img1, p) {
			t.Fatalf("first bake: %s missing", p)
		}
	}

	img2, res2, log2 := bakeInto(img1, "oem:/sysext/", nil,
		bake.Sysext{Name: "a", File: a2, Conf: conf2}, bake.Sysext{Name: "c", File: c2}, bake.Sysext{Name: "m", File: m1})
	for _, gone := range []string{"/opt/extensions/a/a-1-x86-64.raw", "/opt/extensions/c-1.raw"} {
		if debugfsExists(t, img2, gone) {
			t.Errorf("second bake: old image %s still in ROOT", gone)
		}
	}
	if got := string(debugfsCat(t, img2, "/etc/sysupdate.a.d/a.conf")); got != mustRead(t, conf2) {
		t.Errorf("a.conf is the old one: %q", got)
	}
	for name, want := range map[string]string{"a": "/oem/ext/a/a-2-x86-64.raw", "c": "/oem/sysext/c-2.raw", "m": "/oem/sysext/m-1.raw"} {
		if st := debugfsStat(t, img2, "/etc/extensions/"+name+".raw"); st.link != want {
			t.Errorf("second bake: %s -> %q, want %q", name, st.link, want)
		}
	}
	oem2 := btrfsRestore(t, img2)
	for p, src := range map[string]string{"ext/a/a-2-x86-64.raw": a2, "sysext/c-2.raw": c2, "sysext/m-1.raw": m1} {
		if testutil.FileSHA256(t, filepath.Join(oem2, p)) != testutil.FileSHA256(t, src) {
			t.Errorf("OEM %s differs from %s", p, src)
		}
	}
	js, _ := json.Marshal(res2.Replaced)
	for _, want := range []string{`"name":"a"`, `"ROOT:/opt/extensions/a/a-1-x86-64.raw"`, `"ROOT:/etc/sysupdate.a.d/a.conf"`,
		`"name":"c"`, `"ROOT:/opt/extensions/c-1.raw"`, `"name":"m"`, `"mask /etc/extensions/m.raw"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("replaced %s lacks %s", js, want)
		}
	}
	if !strings.Contains(log2, "replacing the image's c (sysext linked by /etc/extensions/c.raw to /opt/extensions/c-1.raw): removed ROOT:/opt/extensions/c-1.raw") {
		t.Errorf("second bake log: %s", log2)
	}

	// c and a back into ROOT, a without a conf, and m masked: their OEM
	// images go, and a's conf dir.
	a3 := f.sysext(t, "a-3.raw", "a", flatcarRelease)
	img3, res3, _ := bakeInto(img2, "root:/opt/extensions/", []string{"m"}, bake.Sysext{Name: "c", File: c3}, bake.Sysext{Name: "a", File: a3})
	judge(t, f.image, img3)
	oem3 := btrfsRestore(t, img3)
	for _, p := range []string{"sysext/c-2.raw", "ext/a/a-2-x86-64.raw", "sysext/m-1.raw"} {
		if _, err := os.Stat(filepath.Join(oem3, p)); err == nil {
			t.Errorf("third bake: old OEM image %s still there", p)
		}
	}
	if st := debugfsStat(t, img3, "/etc/extensions/m.raw"); st.link != "/dev/null" {
		t.Errorf("third bake: m -> %q, want the mask", st.link)
	}
	if st := debugfsStat(t, img3, "/etc/extensions/c.raw"); st.link != "/opt/extensions/c-3.raw" {
		t.Errorf("third bake: c -> %q", st.link)
	}
	js3, _ := json.Marshal(res3.Replaced)
	if want := `[{"name":"a","was":["sysext linked by /etc/extensions/a.raw to /oem/ext/a/a-2-x86-64.raw"],` +
		`"removed":["OEM:/ext/a/a-2-x86-64.raw","ROOT:/etc/sysupdate.a.d/a.conf","ROOT:/etc/sysupdate.a.d","ROOT:/etc/sysupdate.d/noop.conf"],"overwritten":["ROOT:/etc/extensions/a.raw"]},` +
		`{"name":"c","was":["sysext linked by /etc/extensions/c.raw to /oem/sysext/c-2.raw"],"removed":["OEM:/sysext/c-2.raw"],"overwritten":["ROOT:/etc/extensions/c.raw"]},` +
		`{"name":"m","was":["sysext linked by /etc/extensions/m.raw to /oem/sysext/m-1.raw"],"removed":["OEM:/sysext/m-1.raw"],"overwritten":["ROOT:/etc/extensions/m.raw"]}]`; string(js3) != want {
		t.Errorf("third bake replaced\n%s\nwant\n%s", js3, want)
	}
	if debugfsExists(t, img3, "/etc/sysupdate.a.d") || debugfsExists(t, img3, "/etc/sysupdate.d/noop.conf") {
		t.Error("third bake left a's sysupdate config dir or the orphaned noop.conf")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
