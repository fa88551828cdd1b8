/* control — command parser and the unix-socket listener for fakecam (control.h).
 * Main loop only. A Conn is freed by whoever observes its end: the read callback (EOF, error,
 * protocol violation) or, at shutdown, the cancelled read's callback (control == NULL). */
#define G_LOG_DOMAIN "fakecam-control"

#include "control.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static gboolean
parse_camera (const char *word, int n_cameras, gboolean allow_all, int *out, GError **error)
{
  guint64 v;
  if (allow_all && strcmp (word, "all") == 0) {
    *out = 0;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (word, 10, 1, (guint64) n_cameras, &v, NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "camera must be 1..%d%s, not '%.32s'", n_cameras, allow_all ? " or all" : "", word);
    return FALSE;
  }
  *out = (int) v;
  return TRUE;
}

static const char *const garbage_names[] = { "off", "rtp", "truncate", "resize", "audio-rtp", "audio-stop" };

const char *
fc_garbage_mode_name (FcGarbageMode mode)
{
  return (guint) mode < G_N_ELEMENTS (garbage_names) ? garbage_names[mode] : NULL;
}

gboolean
fc_command_parse (const char *line, int n_cameras, FcCommand *cmd, GError **error)
{
  g_auto (GStrv) raw = g_strsplit_set (line, " \t", 8);
  const char *words[4] = { NULL };
  int n = 0;

  for (int i = 0; raw[i] != NULL; i++) {
    if (raw[i][0] == '\0')
      continue;
    if (n == 3) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "too many arguments");
      return FALSE;
    }
    words[n++] = raw[i];
  }
  memset (cmd, 0, sizeof *cmd);
  if (n == 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "empty command");
    return FALSE;
  }

  static const struct { const char *name; FcCommandKind kind; int args; } table[] = {
    { "drop", FC_CMD_DROP, 1 }, { "restore", FC_CMD_RESTORE, 1 }, { "swap", FC_CMD_SWAP, 2 },
    { "unswap", FC_CMD_UNSWAP, 1 }, { "status", FC_CMD_STATUS, 0 },
    { "garbage", FC_CMD_GARBAGE, 2 },
  };
  for (gsize t = 0; t < G_N_ELEMENTS (table); t++) {
    if (strcmp (words[0], table[t].name) != 0)
      continue;
    if (n - 1 != table[t].args) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s takes %d argument(s)",
                   table[t].name, table[t].args);
      return FALSE;
    }
    cmd->kind = table[t].kind;
    if (cmd->kind == FC_CMD_SWAP) {
      if (!parse_camera (words[1], n_cameras, FALSE, &cmd->a, error) ||
          !parse_camera (words[2], n_cameras, FALSE, &cmd->b, error))
        return FALSE;
      if (cmd->a == cmd->b) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "cannot swap a camera with itself");
        return FALSE;
      }
      return TRUE;
    }
    if (cmd->kind == FC_CMD_GARBAGE) {
      if (!parse_camera (words[1], n_cameras, TRUE, &cmd->a, error))
        return FALSE;
      for (gsize m = 0; m < G_N_ELEMENTS (garbage_names); m++)
        if (strcmp (words[2], garbage_names[m]) == 0) {
          cmd->b = (int) m;
          return TRUE;
        }
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "garbage mode must be off, rtp, truncate, resize, audio-rtp or audio-stop, not '%.32s'", words[2]);
      return FALSE;
    }
    if (table[t].args == 1)
      return parse_camera (words[1], n_cameras, TRUE, &cmd->a, error);
    return TRUE;
  }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown command '%.32s'", words[0]);
  return FALSE;
}

/* ---- socket ------------------------------------------------------------------------- */

struct _FcControl {
  char *path;
  gboolean bound;          /* we created the socket file at path */
  int n_cameras;
  GSocketService *service;
  FcControlHandler handler;
  gpointer user_data;
  GList *conns;            /* Conn *, live connections */
};

typedef struct {
  FcControl *control;      /* NULL once detached at shutdown */
  GSocketConnection *conn;
  GCancellable *cancel;
  char line[FC_CONTROL_MAX_LINE + 1];
  gsize len;
  char chunk[512];
} Conn;

static void
conn_free (Conn *c)
{
  g_io_stream_close (G_IO_STREAM (c->conn), NULL, NULL);
  g_object_unref (c->conn);
  g_object_unref (c->cancel);
  g_free (c);
}

static void
conn_end (Conn *c)
{
  if (c->control != NULL)
    c->control->conns = g_list_remove (c->control->conns, c);
  conn_free (c);
}

/* Writes @reply and a newline without blocking; FALSE if the peer is not reading. */
static gboolean
conn_reply (Conn *c, const char *reply)
{
  g_autofree char *msg = g_strconcat (reply, "\n", NULL);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));
  gsize len = strlen (msg), done = 0;

  while (done < len) {
    g_autoptr (GError) error = NULL;
    gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (out),
                                                           msg + done, len - done, NULL, &error);
    if (n <= 0) {
      g_warning ("Failed to reply on the control socket: %s", error ? error->message : "closed");
      return FALSE;
    }
    done += (gsize) n;
  }
  return TRUE;
}

static gboolean
conn_handle_line (Conn *c)
{
  FcCommand cmd;
  g_autoptr (GError) error = NULL;

  c->line[c->len] = '\0';
  if (c->len > 0 && c->line[c->len - 1] == '\r')
    c->line[c->len - 1] = '\0';
  c->len = 0;
  if (!fc_command_parse (c->line, c->control->n_cameras, &cmd, &error)) {
    g_autofree char *reply = g_strdup_printf ("ERR %s", error->message);
    return conn_reply (c, reply);
  }
  g_autofree char *reply = c->control->handler (&cmd, c->control->user_data);
  return conn_reply (c, reply);
}

static void conn_read (Conn *c);

static void
on_read (GObject *stream, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (stream), result, &error);

  if (c->control == NULL || n <= 0) {
    conn_end (c);
    return;
  }
  for (gssize i = 0; i < n; i++) {
    if (c->chunk[i] == '\n') {
      if (!conn_handle_line (c) || c->control == NULL) {
        conn_end (c);
        return;
      }
    } else if (c->len == FC_CONTROL_MAX_LINE) {
      conn_reply (c, "ERR line too long");
      conn_end (c);
      return;
    } else {
      c->line[c->len++] = c->chunk[i];
    }
  }
  conn_read (c);
}

static void
conn_read (Conn *c)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (c->conn));
  g_input_stream_read_async (in, c->chunk, sizeof c->chunk, G_PRIORITY_DEFAULT, c->cancel,
                             on_read, c);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source,
             gpointer user_data)
{
  FcControl *control = user_data;
  Conn *c = g_new0 (Conn, 1);

  c->control = control;
  c->conn = g_object_ref (connection);
  c->cancel = g_cancellable_new ();
  if (g_list_length (control->conns) >= FC_CONTROL_MAX_CLIENTS) {
    conn_reply (c, "ERR too many control connections");
    conn_free (c);
    return TRUE;
  }
  control->conns = g_list_prepend (control->conns, c);
  conn_read (c);
  return TRUE;
}

FcControl *
fc_control_new (const char *path, int n_cameras, FcControlHandler handler, gpointer user_data,
                GError **error)
{
  GStatBuf st;

  if (strlen (path) >= 100) {   /* sun_path is 108 bytes; keep a margin */
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "control socket path too long");
    return NULL;
  }
  if (g_lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    g_unlink (path);

  g_autoptr (FcControl) control = g_new0 (FcControl, 1);
  control->path = g_strdup (path);
  control->n_cameras = n_cameras;
  control->handler = handler;
  control->user_data = user_data;
  control->service = g_socket_service_new ();
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (control->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                      NULL, NULL, error))
    return NULL;
  control->bound = TRUE;
  g_signal_connect (control->service, "incoming", G_CALLBACK (on_incoming), control);
  g_socket_service_start (control->service);
  return g_steal_pointer (&control);
}

void
fc_control_free (FcControl *control)
{
  if (control == NULL)
    return;
  for (GList *l = control->conns; l != NULL; l = l->next) {
    Conn *c = l->data;
    c->control = NULL;   /* the cancelled read's callback frees it */
    g_cancellable_cancel (c->cancel);
  }
  g_list_free (control->conns);
  if (control->service != NULL) {
    g_socket_service_stop (control->service);
    g_socket_listener_close (G_SOCKET_LISTENER (control->service));
    g_object_unref (control->service);
  }
  if (control->bound)
    g_unlink (control->path);
  g_free (control->path);
  g_free (control);
}
