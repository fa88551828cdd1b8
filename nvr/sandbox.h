/* sandbox — what a camera worker takes away from itself once it knows its camera and before it
 * touches the camera's bytes (docs/design/packaging.md "Sandbox layers"): no new privileges,
 * Landlock (write only the camera's directory, read the system but nothing else of the storage
 * root; TCP connect only to the camera's ports; no signals or abstract sockets outside), and a
 * seccomp allow list. Irreversible; main thread, once, before any thread of the camera starts. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Before any library starts (gst_init), while the worker has one thread: sets the environment
 * that keeps libraries off what the sandbox will refuse. ORC_CODE=backup: ORC's JIT needs a
 * writable, executable file in $XDG_RUNTIME_DIR, $HOME or /tmp under MemoryDenyWriteExecute,
 * and without one it aborts the process; GSETTINGS_BACKEND=memory: GIO's proxy lookup would
 * otherwise open dconf's database under $HOME for writing. Values already set are kept. */
void nvr_sandbox_prepare (void);

/* Pure: the TCP port @url (rtsp://, rtspt://, rtsps://) connects to, the scheme's default when
 * it names none. FALSE for anything else. */
gboolean nvr_sandbox_url_port (const char *url, guint16 *port);

/* Enters the sandbox for the camera whose directory is @camera_dir (absolute: the only tree
 * the worker may write) and whose streams are @main_url and @motion_url (NULL: none; TCP may
 * connect to their ports only). @devices (NULL-terminated, or NULL) are device nodes it may open
 * read-write with their ioctls: the hardware decoder's (docs/design/motion.md "Hardware
 * decoding"); a path this system lacks is skipped. Landlock missing from the kernel, or a part of it (TCP ports
 * need ABI 4, signal and abstract-socket scoping ABI 6), is logged once and the rest applies;
 * so is a kernel without seccomp (PR_GET_SECCOMP fails with EINVAL: no CONFIG_SECCOMP, or
 * qemu-user). FALSE with @error when Landlock fails otherwise, or no_new_privs cannot be set, or
 * a kernel with seccomp refuses the filter: the worker must then not go on.
 *
 * Test hook (tests/security/test_sandbox.py): when the environment has NVR_SANDBOX_PROBE, the
 * sandboxed worker then tries what it must not do and logs one line per try,
 * "sandbox probe [<camera dir name>] <what>: refused (<reason>)" or "...: ALLOWED". The value is
 * comma-separated "read=PATH" (read a file or list a directory), "write=PATH" (create a file),
 * "unix=PATH" (connect to a unix socket), "tcp=IPV4:PORT" (connect); it always also tries a
 * file in its own directory (must be allowed), its parent's /proc/<pid>/environ and fd/,
 * execve("/bin/true"), ptrace(PTRACE_ATTACH) and kill(0) of its parent. Only the daemon's environment reaches it, nothing a camera sends. */
gboolean nvr_sandbox_enter_camera (const char *camera_dir, const char *main_url,
                                   const char *motion_url, const char *const *devices,
                                   GError **error);

/* Enters the same sandbox for a probe process (nvr/probe.c): no file may be written (only
 * /dev/null), TCP may connect to @tcp_port only (0: to none; UDP, for WS-Discovery, is not
 * limited by Landlock), the same seccomp allow list. Same Landlock tolerance and errors; the same
 * NVR_SANDBOX_PROBE test hook, its lines tagged "[camera-probe]" and without the own-file try. */
gboolean nvr_sandbox_enter_probe (guint16 tcp_port, GError **error);

G_END_DECLS
