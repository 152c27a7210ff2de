// Package localpg starts and stops a throwaway PostgreSQL cluster from the
// server binaries installed on the machine. The demo and the tests use it; it
// is not meant for data anyone wants to keep.
//
// A cluster lives in a fresh temporary directory (data, Unix socket and log),
// listens on 127.0.0.1 on a free port, authenticates TCP connections with
// SCRAM and a random superuser password, and preloads pg_stat_statements.
// Stop shuts the server down and removes the directory.
//
// PostgreSQL refuses to run as root. When the current process is root, the
// cluster runs as the "postgres" system user (override with Options.RunAs).
package localpg

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the cluster's superuser.
const Superuser = "postgres"

// Options configure [Start]. The zero value is ready to use.
type Options struct {
	// BinDir holds initdb and postgres. Empty means: $PGHERD_PG_BINDIR, then
	// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Port to listen on; zero picks a free one.
	Port int
	// RunAs is the system user that owns and runs the cluster when the
	// current process is root. Empty means "postgres".
	RunAs string
	// Settings are extra postgresql.conf lines (name → value, quoted as needed).
	Settings map[string]string
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// ScramIterations, when positive, stores the superuser's password as a
	// SCRAM secret of that many PBKDF2 rounds instead of PostgreSQL's 4096
	// (see [ScramSecret]): for test clusters, where thousands of logins
	// each pay the client's key derivation. Zero keeps the default.
	ScramIterations int
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir      string
	port     int
	password string
	binDir   string
	version  int
	hypopg   bool
	logger   *slog.Logger
	cred     *syscall.Credential // nil unless the server runs as another user

	mu       sync.Mutex    // guards cmd and exited across Restart
	cmd      *exec.Cmd     // the running postmaster
	exited   chan struct{} // closed when that postmaster has exited
	stopOnce sync.Once
	stopErr  error
}

// Start initialises a new cluster in a temporary directory and starts it.
// It returns once the server accepts connections. On error nothing is left
// behind.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := FindBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, owner, err := runAs(opts.RunAs)
	if err != nil {
		return nil, err
	}

	removeStale(logger)
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating cluster directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	// The owner file tells a later Start whose cluster this is: once that
	// process is gone, the directory is left over (see removeStale).
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", filepath.Join(dir, ownerFile), err)
	}
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return nil, fmt.Errorf("giving %s to user %s: %w", dir, owner.name, err)
		}
	}

	c := &Cluster{dir: dir, binDir: binDir, password: rand.Text(), logger: logger, cred: cred}
	if c.version, err = serverVersion(binDir); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx, cred, opts.ScramIterations); err != nil {
		return nil, err
	}
	c.port = opts.Port
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := c.writeConf(opts.Settings); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.probe(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	logger.Info("local postgres started", "port", c.port, "version", c.version, "dir", dir, "hypopg", c.hypopg)
	return c, nil
}

// Port is the TCP port the cluster listens on (127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// Version is the server's major version, e.g. 15.
func (c *Cluster) Version() int { return c.version }

// HasHypoPG reports whether the hypopg extension is installed for this server.
func (c *Cluster) HasHypoPG() bool { return c.hypopg }

// Dir is the cluster's temporary directory.
func (c *Cluster) Dir() string { return c.dir }

// LogFile is the server's log file.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "postgres.log") }

// URI returns a superuser connection URI for database db over TCP.
func (c *Cluster) URI(db string) string {
	return URI(Superuser, c.password, c.port, db)
}

// URI builds a connection URI for user on 127.0.0.1:port, database db.
func URI(user, password string, port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name, owned by the superuser.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URI("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to local postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %q: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown, then kill after 10s) and removes
// the cluster directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.shutdown()
		c.stopErr = os.RemoveAll(c.dir)
		c.logger.Info("local postgres stopped", "port", c.port)
	})
	return c.stopErr
}

// shutdown stops the postmaster (fast shutdown, then kill after 10s) and
// waits for it to exit.
func (c *Cluster) shutdown() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Restart stops the server (fast shutdown: sessions are ended) and starts
// it again on the same port and data, for settings that need a restart
// (ALTER SYSTEM SET shared_buffers). Tests use it on clusters of their own.
func (c *Cluster) Restart(ctx context.Context) error {
	c.shutdown()
	if err := c.start(ctx); err != nil {
		return err
	}
	return c.probe(ctx)
}

// StartStandby creates a streaming-replication standby of c with
// pg_basebackup in a new temporary directory and starts it on a free port.
// It replicates as the superuser and reports itself to the primary as
// applicationName. Stop it before c.
func (c *Cluster) StartStandby(ctx context.Context, applicationName string) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating standby directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, fmt.Errorf("giving %s to the server's user: %w", dir, err)
		}
	}
	s := &Cluster{dir: dir, binDir: c.binDir, password: c.password, version: c.version, hypopg: c.hypopg,
		logger: c.logger, cred: c.cred}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "pg_basebackup"),
		"-D", filepath.Join(dir, "data"), "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", Superuser,
		"-X", "stream", "--checkpoint=fast", "--no-sync")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+c.password)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_basebackup: %w\n%s", err, tail(string(out), 20))
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s application_name=%s", c.port, Superuser, c.password, applicationName)
	if err := s.writeConf(map[string]string{"primary_conninfo": quote(conninfo), "hot_standby": "on"}); err != nil {
		return nil, err
	}
	signal := filepath.Join(dir, "data", "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return nil, fmt.Errorf("writing standby.signal: %w", err)
	}
	if c.cred != nil {
		os.Chown(signal, int(c.cred.Uid), int(c.cred.Gid))
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	if err := s.probe(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (c *Cluster) initdb(ctx context.Context, cred *syscall.Credential, iterations int) error {
	// initdb sets the password with ALTER ROLE, which stores a SCRAM
	// secret as it is given.
	secret := c.password
	if iterations > 0 {
		var err error
		if secret, err = ScramSecret(c.password, iterations); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(c.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(secret+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing password file: %w", err)
	}
	defer os.Remove(pwfile)
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "initdb"),
		"-D", filepath.Join(c.dir, "data"),
		"-U", Superuser,
		"--pwfile", pwfile,
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tail(string(out), 20))
	}
	return nil
}

func (c *Cluster) writeConf(extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":           "'127.0.0.1'",
		"port":                       strconv.Itoa(c.port),
		"unix_socket_directories":    quote(c.dir),
		"max_connections":            "300",
		"shared_buffers":             "'64MB'",
		"fsync":                      "off",
		"synchronous_commit":         "off",
		"full_page_writes":           "off",
		"shared_preload_libraries":   "'pg_stat_statements'",
		"pg_stat_statements.track":   "all",
		"track_io_timing":            "on",
		"log_min_messages":           "warning",
		"log_min_error_statement":    "panic",
		"dynamic_shared_memory_type": "posix",
	}
	for k, v := range extra {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# written by pgherd localpg\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	f, err := os.OpenFile(filepath.Join(c.dir, "data", "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("writing postgresql.conf: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("writing postgresql.conf: %w", err)
	}
	return f.Close()
}

func (c *Cluster) start(ctx context.Context) error {
	cred := c.cred
	logf, err := os.OpenFile(c.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening server log: %w", err)
	}
	if cred != nil {
		os.Chown(c.LogFile(), int(cred.Uid), int(cred.Gid))
	}
	// Not CommandContext: the server outlives the start-up context and is
	// stopped by Stop.
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), "-D", filepath.Join(c.dir, "data"))
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so a terminal's Ctrl-C reaches pgherd (which stops
	// the server in order) and not postgres directly. If pgherd dies without
	// stopping it (a killed test binary), the kernel sends the postmaster
	// SIGQUIT: immediate shutdown, children included.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()

	// Wait for the postmaster to report "ready" in postmaster.pid.
	pidfile := filepath.Join(c.dir, "data", "postmaster.pid")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ready(pidfile) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited during start-up:\n%s", c.logTail())
		case <-ctx.Done():
			c.Stop()
			return fmt.Errorf("waiting for postgres to start: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return fmt.Errorf("postgres did not become ready within 60s:\n%s", c.logTail())
		}
	}
}

// probe connects once, confirming the superuser password works, and records
// which optional extensions are available.
func (c *Cluster) probe(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URI("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to local postgres: %w\n%s", err, c.logTail())
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hypopg')").Scan(&c.hypopg)
	if err != nil {
		return fmt.Errorf("probing local postgres: %w", err)
	}
	return nil
}

func (c *Cluster) logTail() string {
	data, _ := os.ReadFile(c.LogFile())
	return tail(string(data), 20)
}

// dirPrefix names the temporary directories of clusters.
const dirPrefix = "pgherd-pg-"

// ownerFile, in a cluster directory, holds the process id of the process
// that started the cluster.
const ownerFile = "owner.pid"

// removeStale deletes cluster directories left by processes that died
// without calling Stop (a killed demo, a crashed test binary): the process
// that started the cluster is gone, or its postmaster is. The postmaster
// dies with its parent and removes postmaster.pid as it goes, so a missing
// postmaster.pid alone proves nothing: a cluster being created has none
// yet. A directory with neither file (from an older pgherd, whose initdb
// may still be running) is stale after an hour.
func removeStale(logger *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			continue
		}
		gone := func(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }
		var stale bool
		if pid, ok := readPID(filepath.Join(dir, ownerFile)); ok {
			stale = gone(pid)
		} else if pid, ok := readPID(filepath.Join(dir, "data", "postmaster.pid")); ok {
			stale = gone(pid)
		} else {
			stale = time.Since(info.ModTime()) > time.Hour
		}
		if stale && os.RemoveAll(dir) == nil {
			logger.Info("removed a stale local postgres directory", "dir", dir)
		}
	}
}

// readPID reads the process id on the first line of a pid file
// (postmaster.pid, owner.pid).
func readPID(pidfile string) (int, bool) {
	data, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 0
}

// ready reports whether postmaster.pid says the server accepts connections
// (line 8, PM_STATUS_READY).
func ready(pidfile string) bool {
	f, err := os.Open(pidfile)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for i := 1; s.Scan(); i++ {
		if i == 8 {
			return strings.TrimSpace(s.Text()) == "ready"
		}
	}
	return false
}

// FindBinDir returns the directory holding initdb and postgres, trying
// dir, $PGHERD_PG_BINDIR, `pg_config --bindir` and /usr/lib/postgresql/*/bin
// (newest first).
func FindBinDir(dir string) (string, error) {
	var tried []string
	try := func(d string) bool {
		if d == "" {
			return false
		}
		tried = append(tried, d)
		_, err1 := os.Stat(filepath.Join(d, "initdb"))
		_, err2 := os.Stat(filepath.Join(d, "postgres"))
		return err1 == nil && err2 == nil
	}
	if try(dir) {
		return dir, nil
	}
	if try(os.Getenv("PGHERD_PG_BINDIR")) {
		return os.Getenv("PGHERD_PG_BINDIR"), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); try(d) {
			return d, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, d := range matches {
		if try(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found (tried %s); "+
		"install them (Debian: apt-get install postgresql-15) or set PGHERD_PG_BINDIR", strings.Join(tried, ", "))
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func serverVersion(binDir string) (int, error) {
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("running postgres --version: %w", err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return 0, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	major, _, _ := strings.Cut(fields[2], ".")
	v, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	return v, nil
}

type owner struct {
	name     string
	uid, gid int
}

// runAs returns the credential to run the server with: nil when the current
// process is not root, the named user's otherwise.
func runAs(name string) (*syscall.Credential, *owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("PostgreSQL cannot run as root and system user %q was not found: "+
			"create it (useradd --system %s) or run as a non-root user", name, name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, &owner{name, uid, gid}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Halt shuts the server down (fast shutdown: sessions end with SQLSTATE
// 57P01, as in a restart) and keeps its files; Resume starts it again on
// the same port. Tests use them for outages of a chosen length.
func (c *Cluster) Halt() {
	c.shutdown()
	c.logger.Info("local postgres halted", "port", c.port)
}

// Resume starts a halted server again and returns once it accepts
// connections.
func (c *Cluster) Resume(ctx context.Context) error {
	if err := c.start(ctx); err != nil {
		return err
	}
	c.logger.Info("local postgres resumed", "port", c.port)
	return nil
}
