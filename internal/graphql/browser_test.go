package graphql_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestBrowserConsole drives the query console in headless Chromium (Debian's chromium;
// skipped without one unless HERALD_REQUIRE_BROWSER is set, as CI does): the page loads
// from the binary alone, and Run sends the seed's mutation with the token typed in.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("HERALD_REQUIRE_BROWSER") != "" {
			t.Fatal("HERALD_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
		}
		t.Skip("no chromium installed (apt-get install chromium); set HERALD_REQUIRE_BROWSER to fail instead")
	}
	b := start(t, testenv.Options{})
	b.c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	err := chromedp.Do(ctx,
		chromedp.Navigate(b.env.URL+"/graphql"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), b.env.Token),
		chromedp.Click(chromedp.CSS("#run")),
		chromedp.WaitVisible(chromedp.CSS(`#result[data-state="done"]`)),
	)
	if err != nil {
		t.Fatalf("running the console's mutation: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#status")))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#result")))
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Data struct {
			SendCustomEvent struct {
				Success   bool
				EventID   string
				Workflows []struct{ Type, ID, RunID string }
			}
		}
	}
	if err := json.Unmarshal([]byte(text), &reply); err != nil || !strings.Contains(status, "200") {
		t.Fatalf("console shows %s %q (%v)", status, text, err)
	}
	got := reply.Data.SendCustomEvent
	if !got.Success || len(got.Workflows) != 1 || got.Workflows[0].Type != "reorder-stock" {
		t.Fatalf("console reply %s", text)
	}
	run := b.c.must(200, "GET", "/api/v1/runs/"+got.Workflows[0].RunID, nil)
	if run["event_id"] != got.EventID {
		t.Fatalf("run %v", run)
	}
}
