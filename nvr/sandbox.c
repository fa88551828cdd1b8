/* sandbox — a camera worker's own restrictions (sandbox.h). Main thread, once, before the
 * camera's first byte. Order: Landlock, then no_new_privs, then seccomp (which refuses the
 * Landlock and seccomp syscalls afterwards). A kernel without Landlock, or with an older ABI,
 * is logged and tolerated; any other failure is an error and the worker stops. The allow list
 * is what workers were measured to call (strace -f over record, motion, live, snapshot,
 * reconnect, identity: docs/design/packaging.md), sanitizer runtime included. */
#define G_LOG_DOMAIN "nvr-sandbox"

#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- Landlock: the kernel ABI (stable numbers); bookworm's headers stop at ABI 2 ---- */

#define LL_FS_TRUNCATE (1ULL << 14)      /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)     /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)      /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)   /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)   /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)          /* ABI 6 */
#define LL_RULE_NET_PORT 2

/* Most TCP ports a worker may connect to: its camera's main and motion URLs. */
#define MAX_PORTS 2

typedef struct {
  const char *camera_dir;
  guint16 ports[MAX_PORTS];   /* 0 = unused */
  const char *const *devices; /* NULL-terminated, or NULL: device nodes opened read-write */
} NvrSandboxSpec;

typedef struct {
  guint64 handled_access_fs;
  guint64 handled_access_net;
  guint64 scoped;
} LlRulesetAttr;

typedef struct {
  guint64 allowed_access;
  guint64 port;
} LlNetPortAttr;

/* Read-only for the worker: libraries and GStreamer's plugins (/usr; /lib and /lib64 are
 * symlinks into it on Debian 12 but not everywhere), name resolution and TLS roots (/etc), the
 * CPU's and memory's description (/sys), device listing (/dev). Of /proc only its own process
 * ("/proc/self" is resolved when the rule is made) and the few system files libraries read
 * (measured): not the daemon's or another worker's /proc/<pid>. */
static const char *const read_paths[] = { "/usr", "/lib", "/lib64", "/etc", "/sys", "/dev",
                                          "/proc/self", "/proc/filesystems", "/proc/sys",
                                          "/proc/cpuinfo", "/proc/meminfo", "/proc/stat" };
/* Written though outside the camera's directory: the null device (GLib, libav). */
static const char *const write_files[] = { "/dev/null" };

static int
ll_create (const LlRulesetAttr *attr, size_t size, guint32 flags)
{
  return (int) syscall (SYS_landlock_create_ruleset, attr, size, flags);
}

static gboolean
ll_add_path (int ruleset, const char *path, guint64 access, guint64 handled)
{
  int fd = open (path, O_PATH | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT;   /* a tree this system lacks needs no rule */
  struct stat st;
  /* Directory rights on a file are EINVAL: keep only what applies to a file. */
  if (fstat (fd, &st) == 0 && !S_ISDIR (st.st_mode))
    access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
              LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
  struct landlock_path_beneath_attr pb = { .allowed_access = access & handled,
                                           .parent_fd = fd };
  int rc = (int) syscall (SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
  int e = errno;
  close (fd);
  errno = e;
  return rc == 0;
}

/* Returns the ABI in use, 0 when the kernel has no Landlock (logged), -1 with @error. */
static int
enter_landlock (const NvrSandboxSpec *spec, GError **error)
{
  int abi = ll_create (NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) {
    g_message ("Landlock unavailable (%s): the worker's file and network limits are only the "
               "unit's; kernel 5.13 or later with lsm=landlock gives them",
               g_strerror (errno));
    return 0;
  }
  guint64 fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
               LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
               LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
               LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
               LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
               LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
               LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2)
    fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3)
    fs |= LL_FS_TRUNCATE;
  if (abi >= 5)
    fs |= LL_FS_IOCTL_DEV;
  LlRulesetAttr attr = { .handled_access_fs = fs };
  size_t size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    size = offsetof (LlRulesetAttr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
    size = sizeof attr;
  }
  int rs = ll_create (&attr, size, 0);
  if (rs < 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to create a Landlock ruleset (ABI %d): %s", abi, g_strerror (e));
    return -1;
  }
  guint64 ro = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < G_N_ELEMENTS (read_paths); i++)
    ok = ll_add_path (rs, read_paths[i], ro, fs);
  for (guint i = 0; ok && i < G_N_ELEMENTS (write_files); i++)
    ok = ll_add_path (rs, write_files[i], ro | LANDLOCK_ACCESS_FS_WRITE_FILE, fs);
  /* A hardware decoder's device nodes (a Pi's /dev/video*): read, write and their ioctls. */
  for (guint i = 0; ok && spec->devices != NULL && spec->devices[i] != NULL; i++)
    ok = ll_add_path (rs, spec->devices[i], ro | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_IOCTL_DEV,
                      fs);
  /* Everything under its own directory except executing, devices, sockets and fifos. A probe
   * (camera_dir NULL) writes nothing at all. */
  if (ok && spec->camera_dir != NULL)
    ok = ll_add_path (rs, spec->camera_dir,
                      fs & ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                             LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                             LANDLOCK_ACCESS_FS_MAKE_FIFO | LL_FS_IOCTL_DEV), fs);
  for (guint i = 0; ok && abi >= 4 && i < MAX_PORTS; i++) {
    if (spec->ports[i] == 0)
      continue;
    LlNetPortAttr np = { .allowed_access = LL_NET_CONNECT_TCP, .port = spec->ports[i] };
    ok = syscall (SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) == 0;
  }
  if (ok)
    ok = prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         syscall (SYS_landlock_restrict_self, rs, 0) == 0;
  int e = errno;
  close (rs);
  if (!ok) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to enter the Landlock sandbox for '%s': %s",
                 spec->camera_dir ? spec->camera_dir : "a probe", g_strerror (e));
    return -1;
  }
  if (abi < 4)
    g_message ("Landlock ABI %d: files limited; TCP ports need ABI 4 (kernel 6.7)", abi);
  else if (abi < 6)
    g_message ("Landlock ABI %d: files and TCP ports limited; signal and abstract-socket "
               "scoping need ABI 6 (kernel 6.12)", abi);
  return abi;
}

/* ---- seccomp ---- */

/* Allowed without conditions. Measured (see the file comment); grouped by purpose. */
static const char *const allowed[] = {
  /* memory */
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock", "membarrier",
  "get_mempolicy", "set_mempolicy", "mincore",
  /* files: the camera's directory and reading the system (Landlock says which) */
  "openat", "open", "close", "close_range", "read", "pread64", "readv", "write", "pwrite64",
  "writev", "lseek", "fstat", "newfstatat", "stat", "lstat", "statx", "statfs", "fstatfs",
  "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "mkdir",
  "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "ftruncate", "fsync",
  "fdatasync", "fallocate", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "getcwd",
  "flock", "fadvise64", "umask", "sync_file_range",
  /* events and waiting */
  "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
  "epoll_pwait", "eventfd2", "futex", "nanosleep", "clock_nanosleep", "sched_yield",
  "timerfd_create", "timerfd_settime", "restart_syscall",
  /* network: sockets are allowed by family below */
  "connect", "bind", "listen", "getsockname", "getpeername", "setsockopt", "getsockopt",
  "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "socketpair",
  "ioctl",
  /* threads, signals, identity of itself */
  "clone", "clone3", "set_robust_list", "rseq", "set_tid_address", "gettid", "getpid",
  "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigtimedwait",
  "tgkill", "tkill", "kill", "prctl", "arch_prctl", "sched_getaffinity", "sched_setaffinity",
  "sched_getparam", "sched_getscheduler", "sched_getattr", "sched_setattr", "sched_get_priority_min", "sched_get_priority_max",
  "getpriority", "setpriority", "getrlimit", "prlimit64", "getrusage", "exit", "exit_group",
  "wait4", "uname", "sysinfo", "getrandom",
  /* time */
  "clock_gettime", "clock_getres", "gettimeofday", "time",
};

/* Refused with EPERM (not killed) so that a probe or a library's fallback sees an error: the
 * ways out of the sandbox that are worth naming. Anything else unlisted kills the worker
 * (SIGSYS); the supervisor logs "killed by signal 31" and restarts it with back-off. */
static const char *const refused[] = {
  "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "fork", "vfork",
  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
  "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown", "link", "linkat",
  "symlink", "symlinkat", "mknod", "mknodat", "landlock_create_ruleset", "landlock_add_rule",
  "landlock_restrict_self", "seccomp", "unshare", "setns", "mount", "umount2", "chroot",
  "pivot_root", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
  "request_key", "io_uring_setup", "memfd_create",
};

static gboolean
rule (scmp_filter_ctx ctx, guint32 action, const char *name, unsigned n,
      const struct scmp_arg_cmp *cmp)
{
  int nr = seccomp_syscall_resolve_name (name);
  if (nr == __NR_SCMP_ERROR)
    return TRUE;   /* not on this architecture */
  int rc = n == 0 ? seccomp_rule_add (ctx, action, nr, 0)
                  : seccomp_rule_add_array (ctx, action, nr, n, cmp);
  return rc == 0 || rc == -EEXIST;
}

/* Returns 1 with the filter loaded, 0 when the kernel has no seccomp (logged), -1 with @error.
 * No seccomp is what PR_GET_SECCOMP's EINVAL says (a kernel without CONFIG_SECCOMP, or
 * qemu-user, which refuses filters, as in the arm64 test chroot: docs/design/packaging.md):
 * treated like a kernel without Landlock. A kernel that has seccomp and refuses the filter is an
 * error, and the worker does not go on. */
static int
enter_seccomp (GError **error)
{
  if (prctl (PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
    g_message ("seccomp unavailable (%s): the worker's system calls are limited only by the "
               "unit's SystemCallFilter", g_strerror (EINVAL));
    return 0;
  }
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_KILL_PROCESS);
  if (ctx == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Failed to set up a seccomp filter");
    return -1;
  }
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < G_N_ELEMENTS (allowed); i++)
    ok = rule (ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL);
  for (guint i = 0; ok && i < G_N_ELEMENTS (refused); i++)
    ok = rule (ctx, SCMP_ACT_ERRNO (EPERM), refused[i], 0, NULL);
  /* Sockets: TCP/UDP to the camera (v4, v6), netlink for the neighbour table (identity);
   * unix sockets refused: the daemon's sockets are the same user's, and the worker has its
   * channel already (fd 3). Other families kill. */
  static const int families[] = { AF_INET, AF_INET6, AF_NETLINK };
  for (guint i = 0; ok && i < G_N_ELEMENTS (families); i++) {
    struct scmp_arg_cmp c = SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) families[i]);
    ok = rule (ctx, SCMP_ACT_ALLOW, "socket", 1, &c);
  }
  if (ok) {
    struct scmp_arg_cmp c = SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) AF_UNIX);
    ok = rule (ctx, SCMP_ACT_ERRNO (EACCES), "socket", 1, &c);
  }
  int rc = ok ? seccomp_load (ctx) : -EINVAL;
  seccomp_release (ctx);
  if (rc != 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-rc),
                 "Failed to load the seccomp filter: %s", g_strerror (-rc));
    return -1;
  }
  return 1;
}

gboolean
nvr_sandbox_url_port (const char *url, guint16 *port)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NON_DNS | G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    return FALSE;
  const char *scheme = g_uri_get_scheme (uri);
  gint p = g_uri_get_port (uri);
  if (p == -1) {
    if (g_ascii_strcasecmp (scheme, "rtsp") == 0 || g_ascii_strcasecmp (scheme, "rtspt") == 0)
      p = 554;
    else if (g_ascii_strcasecmp (scheme, "rtsps") == 0)
      p = 322;
    else
      return FALSE;
  } else if (g_ascii_strcasecmp (scheme, "rtsp") != 0 &&
             g_ascii_strcasecmp (scheme, "rtspt") != 0 &&
             g_ascii_strcasecmp (scheme, "rtsps") != 0) {
    return FALSE;
  }
  if (p < 1 || p > 65535)
    return FALSE;
  *port = (guint16) p;
  return TRUE;
}

static gboolean
enter (const NvrSandboxSpec *spec, GError **error)
{
  if (spec->camera_dir != NULL && !g_path_is_absolute (spec->camera_dir)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "The sandbox needs the camera's directory as an absolute path");
    return FALSE;
  }
  int abi = enter_landlock (spec, error);
  if (abi < 0)
    return FALSE;
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to set no_new_privs: %s", g_strerror (e));
    return FALSE;
  }
  int sc = enter_seccomp (error);
  if (sc < 0)
    return FALSE;
  g_message ("Sandbox entered: writes only '%s', Landlock ABI %d, %s",
             spec->camera_dir ? spec->camera_dir : "/dev/null", abi,
             sc > 0 ? "seccomp allow list" : "no seccomp (unavailable)");
  return TRUE;
}

/* ---- test hook ---- */

/* @cam: the camera directory's last component, so that a test tells workers' lines apart. */
static void
report (const char *cam, const char *what, int rc, int err)
{
  if (rc == 0)
    g_message ("sandbox probe [%s] %s: ALLOWED", cam, what);
  else
    g_message ("sandbox probe [%s] %s: refused (%s)", cam, what, g_strerror (err));
}

static void
probe_read (const char *cam, const char *path)
{
  g_autofree char *what = g_strdup_printf ("read %s", path);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int e = errno;
  if (fd >= 0) {
    char c;
    struct stat st;
    /* A directory must also list; a file must also read. */
    if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode)) {
      GDir *d = g_dir_open (path, 0, NULL);
      e = EACCES;
      if (d != NULL)
        g_dir_close (d);
      close (fd);
      report (cam, what, d != NULL ? 0 : -1, e);
      return;
    }
    gboolean ok = read (fd, &c, 1) >= 0;
    e = errno;
    close (fd);
    report (cam, what, ok ? 0 : -1, e);
    return;
  }
  report (cam, what, -1, e);
}

static void
probe_write (const char *cam, const char *path)
{
  g_autofree char *what = g_strdup_printf ("write %s", path);
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  int e = errno;
  if (fd >= 0) {
    close (fd);
    unlink (path);
  }
  report (cam, what, fd >= 0 ? 0 : -1, e);
}

static void
probe_unix (const char *cam, const char *path)
{
  g_autofree char *what = g_strdup_printf ("connect unix %s", path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = -1, e = errno;
  if (fd >= 0) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
    rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
    e = errno;
    close (fd);
  }
  report (cam, what, rc, e);
}

static void
probe_tcp (const char *cam, const char *hostport)
{
  g_autofree char *what = g_strdup_printf ("connect tcp %s", hostport);
  const char *colon = strrchr (hostport, ':');
  g_autofree char *host = colon ? g_strndup (hostport, colon - hostport) : NULL;
  struct sockaddr_in sa = { .sin_family = AF_INET };
  if (host == NULL || inet_pton (AF_INET, host, &sa.sin_addr) != 1) {
    g_warning ("sandbox probe: bad tcp=%s", hostport);
    return;
  }
  sa.sin_port = htons ((guint16) g_ascii_strtoull (colon + 1, NULL, 10));
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = -1, e = errno;
  if (fd >= 0) {
    rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
    e = errno;
    close (fd);
  }
  report (cam, what, rc, e);
}

/* @camera_dir NULL: a probe process (writes nothing, so there is no own file to try). */
static void
probe (const char *spec, const char *camera_dir)
{
  g_autofree char *cam = camera_dir ? g_path_get_basename (camera_dir) : g_strdup ("camera-probe");
  g_auto (GStrv) items = g_strsplit (spec, ",", -1);
  for (guint i = 0; items[i] != NULL; i++) {
    const char *v = strchr (items[i], '=');
    if (v == NULL)
      continue;
    g_autofree char *kind = g_strndup (items[i], v - items[i]);
    v++;
    if (strcmp (kind, "read") == 0)
      probe_read (cam, v);
    else if (strcmp (kind, "write") == 0)
      probe_write (cam, v);
    else if (strcmp (kind, "unix") == 0)
      probe_unix (cam, v);
    else if (strcmp (kind, "tcp") == 0)
      probe_tcp (cam, v);
  }
  if (camera_dir != NULL) {
    g_autofree char *own = g_build_filename (camera_dir, ".sandbox-probe", NULL);
    probe_write (cam, own);
  }
  /* Its own /proc/self is readable, not the daemon's /proc/<pid>. */
  g_autofree char *environ_path = g_strdup_printf ("/proc/%d/environ", (int) getppid ());
  g_autofree char *fd_path = g_strdup_printf ("/proc/%d/fd", (int) getppid ());
  probe_read (cam, environ_path);
  probe_read (cam, fd_path);
  char *const argv[] = { (char *) "/bin/true", NULL };
  char *const envp[] = { NULL };
  int rc = execve ("/bin/true", argv, envp);   /* returns only when refused */
  report (cam, "execve /bin/true", rc, errno);
  rc = (int) ptrace (PTRACE_ATTACH, getppid (), NULL, NULL);
  int e = errno;
  if (rc == 0)
    ptrace (PTRACE_DETACH, getppid (), NULL, NULL);
  report (cam, "ptrace parent", rc, e);
  rc = kill (getppid (), 0);
  report (cam, "signal parent", rc, errno);
}

void
nvr_sandbox_prepare (void)
{
  g_setenv ("ORC_CODE", "backup", FALSE);
  g_setenv ("GSETTINGS_BACKEND", "memory", FALSE);
}

gboolean
nvr_sandbox_enter_camera (const char *camera_dir, const char *main_url, const char *motion_url,
                          const char *const *devices, GError **error)
{
  if (camera_dir == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "The sandbox needs the camera's directory as an absolute path");
    return FALSE;
  }
  NvrSandboxSpec spec = { .camera_dir = camera_dir, .devices = devices };
  const char *urls[MAX_PORTS] = { main_url, motion_url };
  for (guint i = 0; i < MAX_PORTS; i++)
    if (urls[i] != NULL && !nvr_sandbox_url_port (urls[i], &spec.ports[i])) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "No TCP port in the camera URL '%s'", urls[i]);
      return FALSE;
    }
  if (!enter (&spec, error))
    return FALSE;
  const char *p = g_getenv ("NVR_SANDBOX_PROBE");
  if (p != NULL)
    probe (p, camera_dir);
  return TRUE;
}

gboolean
nvr_sandbox_enter_probe (guint16 tcp_port, GError **error)
{
  NvrSandboxSpec spec = { .camera_dir = NULL, .ports = { tcp_port, 0 } };
  if (!enter (&spec, error))
    return FALSE;
  const char *p = g_getenv ("NVR_SANDBOX_PROBE");
  if (p != NULL)
    probe (p, NULL);
  return TRUE;
}
