package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// childProc is a process the chaos controller started and may kill.
type childProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	// signalled is set before the controller signals the process, so that an exit it
	// did not cause can be told apart.
	signalled atomic.Bool
	started   time.Time
	err       error // the process's exit status, once done is closed
}

// startChildProc starts bin with args and env; its stdout and stderr are appended to
// logPath.
func startChildProc(name, bin string, args, env []string, logPath string) (*childProc, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", logPath, err)
	}
	fmt.Fprintf(logf, "=== %s started at %s\n", name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &childProc{name: name, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *childProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// diedAlone reports whether the process exited without the controller signalling it.
func (p *childProc) diedAlone() bool { return p.exited() && !p.signalled.Load() }

// kill sends SIGKILL and waits for the process to be gone.
func (p *childProc) kill() {
	p.signalled.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and waits up to timeout for the process to exit, then kills it.
// It returns an error when the process had to be killed or exited with a failure.
func (p *childProc) terminate(timeout time.Duration) error {
	p.signalled.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %w", p.name, p.err)
		}
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", p.name, timeout)
	}
}

// childEnv is this process's environment without HERALD_* variables (so that the
// user's shell settings cannot change the engine under test), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// buildHerald builds the herald binary of the module this program was started in into
// dir.
func buildHerald(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/heraldhq/herald/cmd/herald")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/herald (run from the repository, or pass --herald-bin): %w\n%s", err, out)
	}
	return bin, nil
}

// waitHealthy polls url's /healthz until it answers 200, p exits, or timeout passes.
func waitHealthy(ctx context.Context, url string, p *childProc, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited while starting: %v", p.name, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy within %s", p.name, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errEngineDown says the engine could not be (re)started.
var errEngineDown = errors.New("engine does not start")
