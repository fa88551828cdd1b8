/* Unit tests for wire framing: round trip, byte-at-a-time feeding, oversize and garbage frames,
 * and a channel over a real socketpair. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

static GVariant *
fields (const char *path, gint64 start)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string (path));
  g_variant_builder_add (&b, "{sv}", "start_us", g_variant_new_int64 (start));
  return g_variant_builder_end (&b);
}

static void
test_roundtrip_bytewise (void)
{
  g_autoptr (GBytes) a = nvr_wire_encode ("segment-opened", fields ("p/1.mp4", 123));
  g_autoptr (GBytes) b = nvr_wire_encode ("stop", NULL);
  g_autoptr (NvrWireReader) r = nvr_wire_reader_new (NVR_WIRE_MAX_FRAME);
  GByteArray *all = g_byte_array_new ();
  g_byte_array_append (all, g_bytes_get_data (a, NULL), g_bytes_get_size (a));
  g_byte_array_append (all, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  guint got = 0;
  for (guint i = 0; i < all->len; i++) {
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_wire_reader_feed (r, all->data + i, 1, &error));
    g_autoptr (GVariant) msg = nvr_wire_reader_pop (r, &error);
    g_assert_no_error (error);
    if (msg == NULL)
      continue;
    const char *kind;
    g_autoptr (GVariant) f = NULL;
    g_variant_get (msg, "(&s@a{sv})", &kind, &f);
    if (got == 0) {
      g_assert_cmpstr (kind, ==, "segment-opened");
      g_assert_cmpstr (nvr_wire_get_str (f, "path", NULL), ==, "p/1.mp4");
      g_assert_cmpint (nvr_wire_get_int64 (f, "start_us", -1), ==, 123);
      g_assert_cmpint (nvr_wire_get_int64 (f, "missing", -1), ==, -1);
      g_assert_cmpstr (nvr_wire_get_str (f, "start_us", "fallback"), ==, "fallback");
    } else {
      g_assert_cmpstr (kind, ==, "stop");
    }
    got++;
  }
  g_assert_cmpuint (got, ==, 2);
  g_byte_array_unref (all);
}

static void
test_oversize (void)
{
  g_autoptr (NvrWireReader) r = nvr_wire_reader_new (1024);
  const guint8 hdr[4] = { 0, 0, 0x04, 0x01 };  /* 1025 bytes announced */
  g_autoptr (GError) error = NULL;
  g_assert_false (nvr_wire_reader_feed (r, hdr, 4, &error));
  g_assert_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_TOO_LARGE);
  g_clear_error (&error);
  /* A failed reader stays failed. */
  g_assert_false (nvr_wire_reader_feed (r, hdr, 1, &error));
}

static void
test_garbage (void)
{
  g_autoptr (NvrWireReader) r = nvr_wire_reader_new (1024);
  const guint8 frame[] = { 0, 0, 0, 5, 0xff, 0xfe, 0x01, 0x80, 0x07 };
  g_autoptr (GError) error = NULL;
  g_assert_true (nvr_wire_reader_feed (r, frame, sizeof frame, &error));
  g_autoptr (GVariant) msg = nvr_wire_reader_pop (r, &error);
  g_assert_null (msg);
  g_assert_error (error, NVR_WIRE_ERROR, NVR_WIRE_ERROR_MALFORMED);
}

/* Random bytes never crash the reader and never yield a non-normal message. */
static void
test_random (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  for (int round = 0; round < 2000; round++) {
    g_autoptr (NvrWireReader) r = nvr_wire_reader_new (256);
    guint8 buf[300];
    gsize n = g_rand_int_range (rand, 0, sizeof buf);
    for (gsize i = 0; i < n; i++)
      buf[i] = g_rand_int (rand);
    if (n >= 4) {
      buf[0] = buf[1] = 0;
      buf[2] = 0;
      buf[3] = (guint8) MIN (n - 4, 255);
    }
    g_autoptr (GError) error = NULL;
    if (!nvr_wire_reader_feed (r, buf, n, &error))
      continue;
    for (;;) {
      g_autoptr (GError) perr = NULL;
      g_autoptr (GVariant) msg = nvr_wire_reader_pop (r, &perr);
      if (msg == NULL)
        break;
      g_assert_true (g_variant_is_normal_form (msg));
    }
  }
}

typedef struct {
  GMainLoop *loop;
  GPtrArray *kinds;
  gboolean closed;
} Sink;

static void
on_msg (NvrWireChannel *ch, const char *kind, GVariant *f, gpointer data)
{
  Sink *s = data;
  g_ptr_array_add (s->kinds, g_strdup (kind));
  if (s->kinds->len == 300)
    g_main_loop_quit (s->loop);
}

static void
on_closed (NvrWireChannel *ch, const GError *error, gpointer data)
{
  Sink *s = data;
  s->closed = TRUE;
  g_main_loop_quit (s->loop);
}

static void
test_channel (void)
{
  int sv[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  Sink sink = { g_main_loop_new (NULL, FALSE), g_ptr_array_new_with_free_func (g_free), FALSE };
  Sink dummy = { sink.loop, g_ptr_array_new_with_free_func (g_free), FALSE };
  NvrWireChannel *rx = nvr_wire_channel_new (sv[0], on_msg, on_closed, &sink);
  NvrWireChannel *tx = nvr_wire_channel_new (sv[1], on_msg, on_closed, &dummy);
  /* 300 messages of ~20 KiB: more than a socket buffer, so the write queue is exercised. */
  g_autofree char *big = g_strnfill (20000, 'x');
  for (int i = 0; i < 300; i++) {
    g_autoptr (GError) error = NULL;
    g_assert_true (nvr_wire_channel_send (tx, "m", fields (big, i), &error));
  }
  /* The main loop drains the sender's queue as the receiver reads. */
  g_main_loop_run (sink.loop);
  g_assert_cmpuint (sink.kinds->len, ==, 300);
  g_assert_false (sink.closed);
  nvr_wire_channel_close (tx);
  g_main_loop_run (sink.loop);
  g_assert_true (sink.closed);
  nvr_wire_channel_unref (rx);
  nvr_wire_channel_unref (tx);
  g_ptr_array_unref (sink.kinds);
  g_ptr_array_unref (dummy.kinds);
  g_main_loop_unref (sink.loop);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wire/roundtrip-bytewise", test_roundtrip_bytewise);
  g_test_add_func ("/wire/oversize", test_oversize);
  g_test_add_func ("/wire/garbage", test_garbage);
  g_test_add_func ("/wire/random", test_random);
  g_test_add_func ("/wire/channel", test_channel);
  return g_test_run ();
}
