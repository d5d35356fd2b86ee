package runlog

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

func textLogger(b *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			return map[bool]slog.Attr{true: {}, false: a}[a.Key == "time"]
		},
	}))
}

func TestToolAndContext(t *testing.T) {
	var b bytes.Buffer
	log := textLogger(&b)
	ctx := With(context.Background(), log)
	Tool(From(ctx), exec.Command("debugfs", "-R", "cat /etc/os release", "img?offset=1"))
	if got := b.String(); !strings.Contains(got, `msg="running debugfs -R \"cat /etc/os release\" \"img?offset=1\""`) {
		t.Errorf("tool line: %s", got)
	}
	// Without a logger nothing is logged and nothing panics.
	Tool(nil, exec.Command("true"))
	Tool(From(context.Background()), exec.Command("true"))
	if Or(ctx, nil) != log || Or(context.Background(), log) != log || With(ctx, nil) != ctx {
		t.Error("Or/With")
	}
}

// TestClient logs each request against a real server on 127.0.0.1,
// without the credentials of the URL.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var b bytes.Buffer
	c := Client(nil, textLogger(&b))
	if c == http.DefaultClient || http.DefaultClient.Transport != nil {
		t.Fatal("Client changed http.DefaultClient")
	}
	u, _ := url.Parse(srv.URL + "/a")
	u.User = url.UserPassword("me", "secret")
	for _, p := range []string{u.String(), srv.URL + "/missing"} {
		resp, err := c.Get(p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := b.String()
	for _, want := range []string{"GET " + srv.URL + "/a: 200 OK", "GET " + srv.URL + "/missing: 404 Not Found"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret") {
		t.Errorf("credentials logged:\n%s", got)
	}
}
