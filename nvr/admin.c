/* admin — JSON-line command socket between `nvr <subcommand>` and the daemon.
 * Server side runs on the daemon's main loop and never blocks on a peer: reads are async, bounded
 * in size (NVR_ADMIN_MAX_REQUEST) and in time (REQUEST_TIMEOUT_S). */
#define G_LOG_DOMAIN "nvr-admin"

#include "admin.h"

#include <errno.h>
#include <grp.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

G_DEFINE_QUARK (nvr-admin-error-quark, nvr_admin_error)

#define REQUEST_TIMEOUT_S 10

struct _NvrAdmin {
  GSocketService *service;
  char *path;
  NvrAdminHandler handler;
  NvrAdminAsyncHandler async_handler;
  gpointer user_data;
};

typedef struct {
  NvrAdmin *admin;
  GSocketConnection *conn;
  GByteArray *buf;
  guint8 chunk[4096];
  guint timeout;
  GCancellable *cancel;     /* cancelled by the timeout */
  char *reply;
  gboolean pending;         /* an async handler owns the answer (nvr_admin_reply) */
  gboolean expired;         /* pending and past NVR_ADMIN_ASYNC_TIMEOUT_S: answered already */
} Request;

struct _NvrAdminReply {
  Request r;
};

static void
request_free (Request *r)
{
  if (r->timeout)
    g_source_remove (r->timeout);
  g_io_stream_close (G_IO_STREAM (r->conn), NULL, NULL);
  g_object_unref (r->conn);
  g_object_unref (r->cancel);
  g_byte_array_unref (r->buf);
  g_free (r->reply);
  g_free (r);
}

static char *
reply_error (const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ok");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
reply_ok (JsonNode *result)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *o = json_object_new ();
  json_object_set_boolean_member (o, "ok", TRUE);
  json_object_set_member (o, "result", result ? result : json_node_new (JSON_NODE_NULL));
  json_node_take_object (root, o);
  return json_to_string (root, FALSE);
}

static void answer (Request *r, char *reply);
static gboolean on_timeout (gpointer data);

/* The reply line, or NULL when an async handler took the request (r->pending). */
static char *
dispatch (Request *r, const char *line, gsize len)
{
  NvrAdmin *admin = r->admin;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_data (parser, line, len, &error))
    return reply_error ("request is not JSON");
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return reply_error ("request must be a JSON object");
  JsonObject *req = json_node_get_object (root);
  JsonNode *cmd = json_object_get_member (req, "command");
  if (cmd == NULL || json_node_get_value_type (cmd) != G_TYPE_STRING)
    return reply_error ("request has no \"command\" string");
  JsonNode *args = json_object_get_member (req, "args");
  if (args != NULL && !JSON_NODE_HOLDS_OBJECT (args))
    return reply_error ("\"args\" must be an object");
  g_autoptr (JsonObject) empty = json_object_new ();
  if (admin->async_handler != NULL) {
    r->pending = TRUE;   /* the handler may reply at once (a refusal) */
    if (admin->async_handler (json_node_get_string (cmd),
                              args ? json_node_get_object (args) : empty,
                              (NvrAdminReply *) r, admin->user_data)) {
      if (r->pending) {   /* not answered yet: the whole wait gets the async deadline */
        if (r->timeout)
          g_source_remove (r->timeout);
        r->timeout = g_timeout_add_seconds (NVR_ADMIN_ASYNC_TIMEOUT_S, on_timeout, r);
      }
      return NULL;
    }
    r->pending = FALSE;
  }
  JsonNode *result = admin->handler (json_node_get_string (cmd),
                                     args ? json_node_get_object (args) : empty, &error,
                                     admin->user_data);
  if (result == NULL)
    return reply_error (error ? error->message : "command failed");
  return reply_ok (result);
}

static void
on_written (GObject *src, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (src), res, NULL, NULL);
  request_free (r);
}

static void on_read (GObject *src, GAsyncResult *res, gpointer data);

static void
answer (Request *r, char *reply)
{
  if (reply == NULL)
    return;   /* pending: nvr_admin_reply() answers */
  r->reply = g_strconcat (reply, "\n", NULL);
  g_free (reply);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (r->conn));
  g_output_stream_write_all_async (out, r->reply, strlen (r->reply), G_PRIORITY_DEFAULT, r->cancel,
                                   on_written, r);
}

static void
on_read (GObject *src, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (src), res, NULL);
  if (n <= 0) {
    if (n == 0 && r->buf->len > 0)
      answer (r, dispatch (r, (const char *) r->buf->data, r->buf->len));
    else
      request_free (r);
    return;
  }
  g_byte_array_append (r->buf, r->chunk, n);
  guint8 *nl = memchr (r->buf->data, '\n', r->buf->len);
  if (nl != NULL) {
    answer (r, dispatch (r, (const char *) r->buf->data, nl - r->buf->data));
    return;
  }
  if (r->buf->len > NVR_ADMIN_MAX_REQUEST) {
    answer (r, reply_error ("request is too large"));
    return;
  }
  g_input_stream_read_async (G_INPUT_STREAM (src), r->chunk, sizeof r->chunk, G_PRIORITY_DEFAULT,
                             r->cancel, on_read, r);
}

static gboolean
on_timeout (gpointer data)
{
  Request *r = data;
  r->timeout = 0;
  if (r->pending) {
    /* No I/O is in flight: say so now; the handler's late reply only frees the request. */
    r->expired = TRUE;
    GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (r->conn));
    g_autofree char *line = reply_error ("timed out");
    g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL);
    g_output_stream_write_all (out, "\n", 1, NULL, NULL, NULL);
    g_io_stream_close (G_IO_STREAM (r->conn), NULL, NULL);
    return G_SOURCE_REMOVE;
  }
  /* Fails the pending read or write, whose callback frees the request. */
  g_cancellable_cancel (r->cancel);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  Request *r = g_new0 (Request, 1);
  r->admin = data;
  r->conn = g_object_ref (conn);
  r->buf = g_byte_array_new ();
  r->cancel = g_cancellable_new ();
  r->timeout = g_timeout_add_seconds (REQUEST_TIMEOUT_S, on_timeout, r);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_input_stream_read_async (in, r->chunk, sizeof r->chunk, G_PRIORITY_DEFAULT, r->cancel,
                             on_read, r);
  return TRUE;
}

/* Makes @path free for a new listener. A socket nobody listens on (connect() is refused: the
 * daemon that made it died without removing it, e.g. kill -9 or a power cut) is removed; anything
 * else is left alone with an error: a socket that accepts (a live daemon, maybe on another storage
 * root), one whose owner cannot be told (EAGAIN: a live daemon's full backlog; EACCES), and a
 * path that is not a socket at all. */
static gboolean
clear_stale_socket (const char *path, GError **error)
{
  struct stat st;
  if (lstat (path, &st) != 0)
    return TRUE;
  if (!S_ISSOCK (st.st_mode)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                 "Failed to listen on '%s': it exists and is not a socket", path);
    return FALSE;
  }
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "Failed to listen on '%s': the path is too long for a unix socket", path);
    return FALSE;
  }
  memcpy (sa.sun_path, path, strlen (path) + 1);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to probe '%s': %s", path,
                 g_strerror (e));
    return FALSE;
  }
  int rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
  int e = errno;
  close (fd);
  if (rc == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                 "Another daemon already answers on '%s'", path);
    return FALSE;
  }
  if (e != ECONNREFUSED) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to listen on '%s': it exists and probing it failed (%s); not removing "
                 "it", path, g_strerror (e));
    return FALSE;
  }
  if (g_unlink (path) != 0 && errno != ENOENT) {
    e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to remove the stale socket '%s': %s", path, g_strerror (e));
    return FALSE;
  }
  g_message ("Removed the stale socket '%s' (no process listened on it)", path);
  return TRUE;
}

void
nvr_admin_set_async_handler (NvrAdmin *admin, NvrAdminAsyncHandler handler)
{
  admin->async_handler = handler;
}

void
nvr_admin_reply (NvrAdminReply *reply, JsonNode *result, const GError *error)
{
  Request *r = &reply->r;
  g_return_if_fail (r->pending);
  r->pending = FALSE;
  if (r->expired) {
    if (result)
      json_node_unref (result);
    request_free (r);
    return;
  }
  if (r->timeout) {
    g_source_remove (r->timeout);
    r->timeout = g_timeout_add_seconds (REQUEST_TIMEOUT_S, on_timeout, r);
  }
  answer (r, result ? reply_ok (result)
                    : reply_error (error ? error->message : "command failed"));
}

NvrAdmin *
nvr_admin_listen (const char *path, const char *group, NvrAdminHandler handler,
                  gpointer user_data, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to create '%s': %s", dir,
                 g_strerror (e));
    return NULL;
  }
  if (!clear_stale_socket (path, error))
    return NULL;
  NvrAdmin *admin = g_new0 (NvrAdmin, 1);
  admin->path = g_strdup (path);
  admin->handler = handler;
  admin->user_data = user_data;
  /* Not accepting until nvr_admin_start(): a client that connects meanwhile waits in the
   * backlog and is answered then, instead of being refused. */
  admin->service = g_socket_service_new ();
  g_socket_service_stop (admin->service);
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  mode_t old = umask (0117);
  gboolean ok = g_socket_listener_add_address (G_SOCKET_LISTENER (admin->service), addr,
                                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                               NULL, NULL, error);
  umask (old);
  if (!ok) {
    g_prefix_error (error, "Failed to listen on '%s': ", path);
    g_clear_object (&admin->service);
    nvr_admin_free (admin);
    return NULL;
  }
  /* Root and @group only; without a group, root only: the process's own group may be the web
   * front's (systemd/hearth.service), which must never reach this socket. */
  gboolean shared = FALSE;
  if (group != NULL) {
    struct group *gr = getgrnam (group);
    shared = gr != NULL && chown (path, (uid_t) -1, gr->gr_gid) == 0;
    if (!shared)
      g_warning ("Failed to give group '%s' access to '%s'; only root can use it", group, path);
  }
  if (!shared && g_chmod (path, 0600) != 0)
    g_warning ("Failed to restrict '%s' to root: %s", path, g_strerror (errno));
  g_signal_connect (admin->service, "incoming", G_CALLBACK (on_incoming), admin);
  return admin;
}

void
nvr_admin_start (NvrAdmin *admin)
{
  g_socket_service_start (admin->service);
}

void
nvr_admin_free (NvrAdmin *admin)
{
  if (admin == NULL)
    return;
  if (admin->service != NULL) {
    g_socket_service_stop (admin->service);
    g_socket_listener_close (G_SOCKET_LISTENER (admin->service));
    g_object_unref (admin->service);
    g_unlink (admin->path);
  }
  g_free (admin->path);
  g_free (admin);
}

JsonNode *
nvr_admin_call (const char *path, const char *command, JsonObject *args, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_timeout (client, 30);
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  g_autoptr (GError) cerr = NULL;
  g_autoptr (GSocketConnection) conn =
      g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, &cerr);
  if (conn == NULL) {
    g_set_error (error, NVR_ADMIN_ERROR, NVR_ADMIN_ERROR_UNREACHABLE,
                 "Cannot reach the daemon at '%s': %s (is `nvr run` running, and are you root "
                 "or in its group?)", path, cerr->message);
    return NULL;
  }
  JsonObject *req = json_object_new ();
  json_object_set_string_member (req, "command", command);
  if (args != NULL)
    json_object_set_object_member (req, "args", json_object_ref (args));
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (root, req);
  g_autofree char *text = json_to_string (root, FALSE);
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  if (!g_output_stream_write_all (out, line, strlen (line), NULL, NULL, error))
    return NULL;

  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[8192];
  for (;;) {
    gssize n = g_input_stream_read (in, chunk, sizeof chunk, NULL, error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break;
    g_byte_array_append (buf, chunk, n);
    if (buf->len > NVR_ADMIN_MAX_RESPONSE) {
      g_set_error (error, NVR_ADMIN_ERROR, NVR_ADMIN_ERROR_PROTOCOL, "Daemon reply is too large");
      return NULL;
    }
  }
  if (buf->len == 0) {
    g_set_error (error, NVR_ADMIN_ERROR, NVR_ADMIN_ERROR_PROTOCOL,
                 "The daemon closed the connection without answering");
    return NULL;
  }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const char *) buf->data, buf->len, error))
    return NULL;
  JsonNode *reply = json_parser_get_root (parser);
  if (reply == NULL || !JSON_NODE_HOLDS_OBJECT (reply)) {
    g_set_error (error, NVR_ADMIN_ERROR, NVR_ADMIN_ERROR_PROTOCOL, "Daemon reply is not an object");
    return NULL;
  }
  JsonObject *o = json_node_get_object (reply);
  if (!json_object_get_boolean_member_with_default (o, "ok", FALSE)) {
    g_set_error (error, NVR_ADMIN_ERROR, NVR_ADMIN_ERROR_REFUSED, "%s",
                 json_object_get_string_member_with_default (o, "error", "unknown error"));
    return NULL;
  }
  JsonNode *result = json_object_get_member (o, "result");
  return result ? json_node_copy (result) : json_node_new (JSON_NODE_NULL);
}
