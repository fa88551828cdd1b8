/* wire — framed (sa{sv}) messages over a socketpair between daemon and camera workers.
 * The reader is pure (no I/O); the channel runs on the thread-default main context at creation.
 * Invariant: a frame's length is checked against the maximum before its bytes are buffered. */
#define G_LOG_DOMAIN "nvr-wire"

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>

G_DEFINE_QUARK (nvr-wire-error-quark, nvr_wire_error)

#define MSG_TYPE G_VARIANT_TYPE ("(sa{sv})")

GBytes *
nvr_wire_encode (const char *kind, GVariant *fields)
{
  g_autoptr (GVariant) dict = NULL;
  if (fields != NULL)
    dict = g_variant_ref_sink (fields);
  else
    dict = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));

  g_autoptr (GVariant) msg = g_variant_ref_sink (g_variant_new ("(s@a{sv})", kind, dict));
  gsize size = g_variant_get_size (msg);
  guint8 *buf = g_malloc (size + 4);
  buf[0] = (size >> 24) & 0xff;
  buf[1] = (size >> 16) & 0xff;
  buf[2] = (size >> 8) & 0xff;
  buf[3] = size & 0xff;
  /* Not g_variant_store(): it needs an 8-byte aligned destination, buf + 4 is not. */
  memcpy (buf + 4, g_variant_get_data (msg), size);
  return g_bytes_new_take (buf, size + 4);
}

struct _NvrWireReader {
  GByteArray *buf;
  gsize max_frame;
  gboolean failed;
};

NvrWireReader *
nvr_wire_reader_new (gsize max_frame)
{
  NvrWireReader *r = g_new0 (NvrWireReader, 1);
  r->buf = g_byte_array_new ();
  r->max_frame = max_frame;
  return r;
}

void
nvr_wire_reader_free (NvrWireReader *reader)
{
  if (reader == NULL)
    return;
  g_byte_array_unref (reader->buf);
  g_free (reader);
}

static gsize
frame_length (const guint8 *p)
{
  return ((gsize) p[0] << 24) | ((gsize) p[1] << 16) | ((gsize) p[2] << 8) | p[3];
}

gboolean
nvr_wire_reader_feed (NvrWireReader *reader, const guint8 *data, gsize len, GError **error)
{
  if (reader->failed) {
    g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_TOO_LARGE, "Reader already failed");
    return FALSE;
  }
  g_byte_array_append (reader->buf, data, len);
  /* Check every complete header now, so an oversized frame is refused before it is buffered. */
  gsize off = 0;
  while (reader->buf->len - off >= 4) {
    gsize n = frame_length (reader->buf->data + off);
    if (n > reader->max_frame) {
      reader->failed = TRUE;
      g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_TOO_LARGE,
                   "Frame of %" G_GSIZE_FORMAT " bytes exceeds the maximum of %" G_GSIZE_FORMAT,
                   n, reader->max_frame);
      return FALSE;
    }
    if (reader->buf->len - off - 4 < n)
      break;
    off += 4 + n;
  }
  return TRUE;
}

GVariant *
nvr_wire_reader_pop (NvrWireReader *reader, GError **error)
{
  if (reader->failed || reader->buf->len < 4)
    return NULL;
  gsize n = frame_length (reader->buf->data);
  if (reader->buf->len - 4 < n)
    return NULL;

  g_autoptr (GBytes) bytes = g_bytes_new (reader->buf->data + 4, n);
  g_byte_array_remove_range (reader->buf, 0, 4 + n);

  g_autoptr (GVariant) v = g_variant_ref_sink (g_variant_new_from_bytes (MSG_TYPE, bytes, FALSE));
  if (!g_variant_is_normal_form (v)) {
    g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_MALFORMED,
                 "Frame of %" G_GSIZE_FORMAT " bytes is not a valid message", n);
    return NULL;
  }
  return g_steal_pointer (&v);
}

const char *
nvr_wire_get_str (GVariant *fields, const char *key, const char *fallback)
{
  const char *s = NULL;
  if (g_variant_lookup (fields, key, "&s", &s))
    return s;
  return fallback;
}

gint64
nvr_wire_get_int64 (GVariant *fields, const char *key, gint64 fallback)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (fields, key, NULL);
  if (v == NULL)
    return fallback;
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    return g_variant_get_int64 (v);
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64)) {
    guint64 u = g_variant_get_uint64 (v);
    return u > G_MAXINT64 ? fallback : (gint64) u;
  }
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT32))
    return g_variant_get_int32 (v);
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32 (v);
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_BOOLEAN))
    return g_variant_get_boolean (v);
  return fallback;
}

/* ---- channel ---- */

struct _NvrWireChannel {
  gint refcount;
  int fd;
  guint in_source;
  guint out_source;
  NvrWireReader *reader;
  GQueue out;               /* GBytes, written in order */
  gsize out_offset;         /* bytes of the head already written */
  gsize out_queued;
  NvrWireMessageFunc on_message;
  NvrWireClosedFunc on_closed;
  gpointer user_data;
  gboolean closed;
};

static void channel_fail (NvrWireChannel *ch, GError *error);

static gboolean
on_readable (int fd, GIOCondition cond, gpointer data)
{
  NvrWireChannel *ch = data;
  guint8 buf[65536];

  nvr_wire_channel_ref (ch);
  for (int rounds = 0; rounds < 16 && !ch->closed; rounds++) {
    ssize_t n = read (fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0) {
      GError *err = NULL;
      if (n < 0)
        err = g_error_new (NVR_WIRE_ERROR, NVR_WIRE_ERROR_CLOSED, "read: %s", g_strerror (errno));
      ch->in_source = 0;
      channel_fail (ch, err);
      nvr_wire_channel_unref (ch);
      return G_SOURCE_REMOVE;
    }
    GError *err = NULL;
    if (!nvr_wire_reader_feed (ch->reader, buf, n, &err)) {
      ch->in_source = 0;
      channel_fail (ch, err);
      nvr_wire_channel_unref (ch);
      return G_SOURCE_REMOVE;
    }
    for (;;) {
      g_autoptr (GVariant) msg = nvr_wire_reader_pop (ch->reader, &err);
      if (err != NULL) {
        ch->in_source = 0;
        channel_fail (ch, err);
        nvr_wire_channel_unref (ch);
        return G_SOURCE_REMOVE;
      }
      if (msg == NULL || ch->closed)
        break;
      const char *kind = NULL;
      g_autoptr (GVariant) fields = NULL;
      g_variant_get (msg, "(&s@a{sv})", &kind, &fields);
      ch->on_message (ch, kind, fields, ch->user_data);
    }
    if ((gsize) n < sizeof buf)
      break;
  }
  gboolean keep = !ch->closed;
  if (!keep)
    ch->in_source = 0;
  nvr_wire_channel_unref (ch);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Writes as much as the socket takes; returns FALSE with @error on a broken peer. */
static gboolean
write_some (NvrWireChannel *ch, GError **error)
{
  while (!g_queue_is_empty (&ch->out)) {
    GBytes *head = g_queue_peek_head (&ch->out);
    gsize size;
    const guint8 *p = g_bytes_get_data (head, &size);
    ssize_t n = write (ch->fd, p + ch->out_offset, size - ch->out_offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return TRUE;
    if (n < 0) {
      g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_CLOSED, "write: %s", g_strerror (errno));
      return FALSE;
    }
    ch->out_offset += n;
    if (ch->out_offset == size) {
      ch->out_queued -= size;
      ch->out_offset = 0;
      g_bytes_unref (g_queue_pop_head (&ch->out));
    }
  }
  return TRUE;
}

static gboolean
on_writable (int fd, GIOCondition cond, gpointer data)
{
  NvrWireChannel *ch = data;
  GError *err = NULL;
  if (!write_some (ch, &err)) {
    ch->out_source = 0;
    channel_fail (ch, err);
    return G_SOURCE_REMOVE;
  }
  if (g_queue_is_empty (&ch->out)) {
    ch->out_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

NvrWireChannel *
nvr_wire_channel_new (int fd, NvrWireMessageFunc on_message, NvrWireClosedFunc on_closed,
                      gpointer user_data)
{
  NvrWireChannel *ch = g_new0 (NvrWireChannel, 1);
  ch->refcount = 1;
  ch->fd = fd;
  ch->reader = nvr_wire_reader_new (NVR_WIRE_MAX_FRAME);
  ch->on_message = on_message;
  ch->on_closed = on_closed;
  ch->user_data = user_data;
  g_queue_init (&ch->out);
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  ch->in_source = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, ch);
  return ch;
}

NvrWireChannel *
nvr_wire_channel_ref (NvrWireChannel *ch)
{
  g_atomic_int_inc (&ch->refcount);
  return ch;
}

void
nvr_wire_channel_close (NvrWireChannel *ch)
{
  if (ch->closed)
    return;
  ch->closed = TRUE;
  if (ch->in_source)
    g_source_remove (ch->in_source);
  if (ch->out_source)
    g_source_remove (ch->out_source);
  ch->in_source = ch->out_source = 0;
  if (ch->fd >= 0)
    close (ch->fd);
  ch->fd = -1;
  g_queue_clear_full (&ch->out, (GDestroyNotify) g_bytes_unref);
  ch->out_queued = 0;
}

static void
channel_fail (NvrWireChannel *ch, GError *error)
{
  if (ch->closed) {
    g_clear_error (&error);
    return;
  }
  /* The source that is dispatching was zeroed by its caller; close() removes the others. */
  nvr_wire_channel_close (ch);
  if (ch->on_closed != NULL)
    ch->on_closed (ch, error, ch->user_data);
  g_clear_error (&error);
}

void
nvr_wire_channel_unref (NvrWireChannel *ch)
{
  if (ch == NULL || !g_atomic_int_dec_and_test (&ch->refcount))
    return;
  nvr_wire_channel_close (ch);
  nvr_wire_reader_free (ch->reader);
  g_free (ch);
}

gboolean
nvr_wire_channel_send (NvrWireChannel *ch, const char *kind, GVariant *fields, GError **error)
{
  g_autoptr (GBytes) frame = nvr_wire_encode (kind, fields);
  if (ch->closed) {
    g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_CLOSED, "Channel is closed");
    return FALSE;
  }
  gsize size = g_bytes_get_size (frame);
  if (ch->out_queued + size > NVR_WIRE_MAX_QUEUED) {
    g_set_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_OVERFLOW,
                 "Peer is not reading: %" G_GSIZE_FORMAT " bytes already queued", ch->out_queued);
    return FALSE;
  }
  g_queue_push_tail (&ch->out, g_steal_pointer (&frame));
  ch->out_queued += size;
  if (ch->out_source == 0) {
    GError *err = NULL;
    if (!write_some (ch, &err)) {
      g_propagate_error (error, g_error_copy (err));
      channel_fail (ch, err);
      return FALSE;
    }
    if (!g_queue_is_empty (&ch->out))
      ch->out_source = g_unix_fd_add (ch->fd, G_IO_OUT, on_writable, ch);
  }
  return TRUE;
}

void
nvr_wire_channel_flush (NvrWireChannel *ch, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (!ch->closed && !g_queue_is_empty (&ch->out) && g_get_monotonic_time () < deadline) {
    GError *err = NULL;
    if (!write_some (ch, &err)) {
      g_clear_error (&err);
      return;
    }
    if (!g_queue_is_empty (&ch->out))
      g_usleep (1000);
  }
}
