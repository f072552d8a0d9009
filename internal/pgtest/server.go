package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/testkit"
)

// Server is a private PostgreSQL instance owned by one test, for tests that stop and
// restart PostgreSQL (outages) without touching the server other tests share.
type Server struct {
	t       testing.TB
	dir     string // owned by the server's OS user; holds data/, the socket and the log
	port    int
	runAs   string // OS user running the binaries ("" = this process's user)
	bin     string
	mu      sync.Mutex
	running bool
	frozen  int // pid of the frozen postmaster, or 0
}

// StartServer initializes and starts a private PostgreSQL server (initdb + pg_ctl from
// /usr/lib/postgresql/*/bin, or from the PATH) listening on 127.0.0.1 on a free port with
// trust authentication. It is stopped and its files removed when the test ends.
//
// When the binaries are missing the test is skipped, unless HERALD_REQUIRE_POSTGRES is set.
// initdb refuses to run as root, so as root the binaries run as the "postgres" OS user.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin := findBinDir()
	if bin == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("PostgreSQL tests required (%s is set) but initdb and pg_ctl were not found", EnvRequire)
		}
		t.Skip("PostgreSQL server tests skipped: initdb and pg_ctl not found in /usr/lib/postgresql/*/bin or PATH")
	}
	s := &Server{t: t, bin: bin}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			if os.Getenv(EnvRequire) != "" {
				t.Fatalf("running as root and there is no postgres OS user to run initdb: %v", err)
			}
			t.Skipf("PostgreSQL server tests skipped: running as root and no postgres OS user: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.runAs = "postgres"
	}
	// Under /tmp, not t.TempDir(): its parents may not be traversable by the postgres user.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() {
		s.stop("immediate")
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.run("initdb", "-D", s.dataDir(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatal(err)
		}
		// fsync=off: the tests stop the server (immediate shutdown is a crash of the
		// server processes), never the machine, so the OS keeps what was written.
		conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
			"fsync = off\nmax_connections = 200\nshared_buffers = 32MB\n", s.port, dir)
		if err := os.WriteFile(filepath.Join(s.dataDir(), "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(filepath.Join(s.dataDir(), "postgresql.auto.conf"), uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("starting PostgreSQL: %v", lastErr)
	return nil
}

// findBinDir returns the directory holding initdb and pg_ctl: the newest
// /usr/lib/postgresql/<version>/bin, else the PATH's.
func findBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	_, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return filepath.Dir(initdb)
	}
	return ""
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// run runs one of the server binaries, as the postgres OS user when we are root.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// URL returns the URL of the server's "postgres" database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Start starts the server again after Stop and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("starting PostgreSQL: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	out, err := s.run("pg_ctl", "start", "-D", s.dataDir(), "-w", "-t", "60", "-l", filepath.Join(s.dir, "log"))
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail(string(log), 2000))
	}
	s.running = true
	// pg_ctl -w waits for the server; check that TCP connections work too (the test fails
	// if they never do).
	testkit.Poll(s.t, "the started server to accept connections", func() (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout())
		defer cancel()
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			return err.Error(), false
		}
		conn.Close(ctx)
		return "", true
	})
	return nil
}

// Stop stops the server with an immediate shutdown: every server process exits at once,
// connections drop, and the next start recovers from the WAL (a crash, for clients).
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop("immediate"); err != nil {
		s.t.Fatalf("stopping PostgreSQL: %v", err)
	}
}

func (s *Server) stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if s.frozen != 0 {
		_ = signalCont(s.frozen)
		s.frozen = 0
	}
	out, err := s.run("pg_ctl", "stop", "-D", s.dataDir(), "-m", mode, "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	s.running = false
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Freeze makes the server stop answering without closing anything: it disconnects every
// client (so that their pools must open new connections) and then suspends the postmaster
// (SIGSTOP), which leaves new connections accepted by the kernel but never answered, as a
// hung server or a black-holed network would. Thaw undoes it. Unix only (skips elsewhere).
func (s *Server) Freeze() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Connect first: once the postmaster is suspended nobody can.
	admin, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		s.t.Fatalf("freezing PostgreSQL: %v", err)
	}
	defer admin.Close(context.Background())
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		s.t.Fatalf("freezing PostgreSQL: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		s.t.Fatalf("freezing PostgreSQL: bad postmaster.pid: %v", err)
	}
	s.mu.Lock()
	if err := signalStop(pid); err != nil {
		s.mu.Unlock()
		s.t.Skipf("cannot suspend the postmaster: %v", err)
	}
	s.frozen = pid
	s.mu.Unlock()
	// Backends take signals directly, without the postmaster.
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`); err != nil {
		s.t.Fatalf("freezing PostgreSQL: disconnecting clients: %v", err)
	}
}

// Thaw resumes a frozen server.
func (s *Server) Thaw() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen == 0 {
		return
	}
	if err := signalCont(s.frozen); err != nil {
		s.t.Fatalf("thawing PostgreSQL: %v", err)
	}
	s.frozen = 0
}
