/* admin — the daemon's admin unix socket and the CLI's client for it. Main loop only.
 * One request per connection: a JSON line {"command": "...", "args": {...}} answered by one JSON
 * line {"ok": true, "result": ...} or {"ok": false, "error": "..."}. Requests are at most
 * NVR_ADMIN_MAX_REQUEST bytes; the socket is mode 0660, owned by root and the admin group. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NVR_ADMIN_MAX_REQUEST (64 * 1024)
#define NVR_ADMIN_MAX_RESPONSE (16 * 1024 * 1024)

#define NVR_ADMIN_ERROR (nvr_admin_error_quark ())
GQuark nvr_admin_error_quark (void);
typedef enum {
  NVR_ADMIN_ERROR_UNREACHABLE,   /* no daemon is listening */
  NVR_ADMIN_ERROR_PROTOCOL,
  NVR_ADMIN_ERROR_REFUSED,       /* the daemon answered with an error */
} NvrAdminError;

/* Handles one command; returns the result (transfer full) or NULL with @error set. */
typedef JsonNode *(*NvrAdminHandler) (const char *command, JsonObject *args, GError **error,
                                      gpointer user_data);

typedef struct _NvrAdmin NvrAdmin;

/* A request answered later (async commands): the handle for nvr_admin_reply(). */
typedef struct _NvrAdminReply NvrAdminReply;
/* Returns TRUE if it takes @command: it then calls nvr_admin_reply() exactly once, on the main
 * loop, within NVR_ADMIN_ASYNC_TIMEOUT_S; FALSE passes the command to the plain handler. */
typedef gboolean (*NvrAdminAsyncHandler) (const char *command, JsonObject *args,
                                          NvrAdminReply *reply, gpointer user_data);
#define NVR_ADMIN_ASYNC_TIMEOUT_S 28   /* under the CLI's 30 s socket timeout */

/* Binds and listens on @path, replacing a stale socket (one whose connect() is refused) and
 * refusing anything else found there: a socket that answers, one that cannot be probed, a file
 * that is not a socket. Connections queue in the backlog until nvr_admin_start(). */
NvrAdmin *nvr_admin_listen (const char *path, const char *group, NvrAdminHandler handler,
                            gpointer user_data, GError **error);
/* Starts answering: @handler runs for each request from the next main loop iteration on. */
void nvr_admin_start (NvrAdmin *admin);
/* Async commands (camera probes): tried before the plain handler. */
void nvr_admin_set_async_handler (NvrAdmin *admin, NvrAdminAsyncHandler handler);
/* Answers an async request: @result (transfer full) or, if NULL, @error's message. A request
 * whose client left, or that passed NVR_ADMIN_ASYNC_TIMEOUT_S (answered "timed out" then), is
 * freed here without writing. */
void nvr_admin_reply (NvrAdminReply *reply, JsonNode *result, const GError *error);
/* Stops listening and removes the socket file. */
void nvr_admin_free (NvrAdmin *admin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrAdmin, nvr_admin_free)

/* Client: sends one command and returns the result (blocking; for the CLI). @args may be NULL. */
JsonNode *nvr_admin_call (const char *path, const char *command, JsonObject *args,
                          GError **error);

G_END_DECLS
