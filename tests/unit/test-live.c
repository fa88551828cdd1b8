/* Unit tests of the live hub (nvr/live.c), fed directly (no supervisor): a new client gets the
 * init segment and the fragments since the last keyframe; a slow client loses whole fragments
 * until the next keyframe while others go on; the client limit; recheck ends exactly the clients
 * no longer allowed; a new init segment, a stopped or a removed camera end the right clients. */
#include <string.h>

#include "live.h"

typedef struct {
  GPtrArray *got;     /* GBytes* written to this client, in order */
  gsize queued;       /* what the sink says is still unsent */
  guint ended;
  /* a client whose HTTP connection breaks while writing: detaches itself at that write */
  NvrLiveHub *hub;
  guint64 id;
  guint detach_at;    /* 0 = never */
} TestClient;

static void
tc_write (GBytes *chunk, gpointer data)
{
  TestClient *tc = data;
  g_assert_cmpuint (tc->ended, ==, 0);
  g_assert_cmpuint (tc->id, !=, G_MAXUINT64);   /* never written to after detaching */
  g_ptr_array_add (tc->got, g_bytes_ref (chunk));
  if (tc->detach_at != 0 && tc->got->len == tc->detach_at) {
    nvr_live_hub_detach (tc->hub, tc->id);
    tc->id = G_MAXUINT64;
  }
}

static gsize
tc_queued (gpointer data)
{
  return ((TestClient *) data)->queued;
}

static void
tc_ended (gpointer data)
{
  ((TestClient *) data)->ended++;
}

static const NvrLiveSink sink = { tc_write, tc_queued, tc_ended };

static void
tc_free (TestClient *tc)
{
  g_ptr_array_unref (tc->got);
  g_free (tc);
}

/* Clients outlive every hub (a freed hub calls `ended` on them); freed at exit. */
static GPtrArray *all_clients;

static TestClient *
tc_new (void)
{
  TestClient *tc = g_new0 (TestClient, 1);
  tc->got = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_ptr_array_add (all_clients, tc);
  return tc;
}

static GBytes *
chunk (const char *name, gsize size)
{
  char *d = g_malloc0 (MAX (size, strlen (name) + 1));
  memcpy (d, name, strlen (name));
  return g_bytes_new_take (d, MAX (size, strlen (name) + 1));
}

/* The names of what @tc received, joined: "init,f3,f4". */
static char *
names (TestClient *tc)
{
  g_autoptr (GString) s = g_string_new ("");
  for (guint i = 0; i < tc->got->len; i++)
    g_string_append_printf (s, "%s%s", i ? "," : "",
                            (const char *) g_bytes_get_data (tc->got->pdata[i], NULL));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
spin (void)
{
  for (int i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
}

static void
push (NvrLiveHub *hub, gint64 cam, NvrLiveKind kind, const char *name, gboolean key)
{
  g_autoptr (GBytes) b = name ? chunk (name, 16) : NULL;
  nvr_live_hub_push (hub, cam, kind, b, key, kind == NVR_LIVE_INIT ? "avc1.64001f" : NULL);
}

#define assert_got(tc, expect) \
  G_STMT_START { g_autofree char *n_ = names (tc); g_assert_cmpstr (n_, ==, expect); } G_STMT_END

static void
test_new_client_starts_at_key (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *first = tc_new ();
  /* the stream only exists while someone watches */
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 10, &sink, first, NULL), >, 0);
  spin ();
  g_assert_null (nvr_live_hub_codec (hub, 1));
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  g_assert_cmpstr (nvr_live_hub_codec (hub, 1), ==, "avc1.64001f");
  push (hub, 1, NVR_LIVE_FRAGMENT, "f1", FALSE);   /* no keyframe yet: nobody gets it */
  push (hub, 1, NVR_LIVE_FRAGMENT, "f2", TRUE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "f3", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "f4", TRUE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "f5", FALSE);
  spin ();
  assert_got (first, "init,f2,f3,f4,f5");

  TestClient *late = tc_new ();
  guint64 id = nvr_live_hub_attach (hub, 1, 11, &sink, late, NULL);
  g_assert_cmpuint (id, >, 0);
  g_assert_cmpuint (late->got->len, ==, 0);   /* never from inside attach */
  spin ();
  assert_got (late, "init,f4,f5");
  push (hub, 1, NVR_LIVE_FRAGMENT, "f6", FALSE);
  assert_got (late, "init,f4,f5,f6");
  assert_got (first, "init,f2,f3,f4,f5,f6");
  /* detach: no `ended`, nothing more */
  nvr_live_hub_detach (hub, id);
  push (hub, 1, NVR_LIVE_FRAGMENT, "f7", FALSE);
  assert_got (late, "init,f4,f5,f6");
  g_assert_cmpuint (late->ended, ==, 0);
  /* another camera's fragments never reach this one */
  TestClient *other = tc_new ();
  nvr_live_hub_attach (hub, 2, 10, &sink, other, NULL);
  spin ();
  push (hub, 2, NVR_LIVE_INIT, "init2", FALSE);
  push (hub, 2, NVR_LIVE_FRAGMENT, "g1", TRUE);
  assert_got (other, "init2,g1");
  assert_got (first, "init,f2,f3,f4,f5,f6,f7");
}

static void
test_slow_client_skips_to_key (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *slow = tc_new ();
  TestClient *fast = tc_new ();
  nvr_live_hub_attach (hub, 1, 1, &sink, slow, NULL);
  nvr_live_hub_attach (hub, 1, 2, &sink, fast, NULL);
  spin ();
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k1", TRUE);
  slow->queued = NVR_LIVE_MAX_CLIENT_QUEUED;   /* its socket is full */
  push (hub, 1, NVR_LIVE_FRAGMENT, "d1", FALSE);
  slow->queued = 0;                            /* drained: still waits for a keyframe */
  push (hub, 1, NVR_LIVE_FRAGMENT, "d2", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k2", TRUE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "d3", FALSE);
  assert_got (fast, "init,k1,d1,d2,k2,d3");
  assert_got (slow, "init,k1,k2,d3");
  g_assert_cmpuint (slow->ended + fast->ended, ==, 0);
  /* a client whose queue stays full loses fragments, never stalls the rest */
  slow->queued = NVR_LIVE_MAX_CLIENT_QUEUED;
  push (hub, 1, NVR_LIVE_FRAGMENT, "k3", TRUE);
  assert_got (fast, "init,k1,d1,d2,k2,d3,k3");
  assert_got (slow, "init,k1,k2,d3");
  /* a new client whose queue is already full gets the init, and the GOP only with room */
  TestClient *full = tc_new ();
  full->queued = NVR_LIVE_MAX_CLIENT_QUEUED;
  nvr_live_hub_attach (hub, 1, 3, &sink, full, NULL);
  spin ();
  assert_got (full, "init");
  full->queued = 0;
  push (hub, 1, NVR_LIVE_FRAGMENT, "d4", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k4", TRUE);
  assert_got (full, "init,k4");
}

static void
test_gop_cache_bounded (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *a = tc_new ();
  nvr_live_hub_attach (hub, 1, 1, &sink, a, NULL);
  spin ();
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  gsize big = NVR_LIVE_MAX_GOP_BYTES / 4;
  for (int i = 0; i < 6; i++) {   /* one GOP of 1.5 × the cache */
    g_autofree char *n = g_strdup_printf ("b%d", i);
    g_autoptr (GBytes) b = chunk (n, big);
    nvr_live_hub_push (hub, 1, NVR_LIVE_FRAGMENT, b, i == 0, NULL);
  }
  g_assert_cmpuint (a->got->len, ==, 7);   /* a live client gets all of it */
  TestClient *late = tc_new ();
  nvr_live_hub_attach (hub, 1, 2, &sink, late, NULL);
  spin ();
  assert_got (late, "init");   /* the GOP was too long to cache: wait for the next key */
  push (hub, 1, NVR_LIVE_FRAGMENT, "d", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k", TRUE);
  assert_got (late, "init,k");
}

static void
test_max_clients (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  guint64 first = 0;
  for (int i = 0; i < NVR_LIVE_MAX_CLIENTS; i++) {
    TestClient *tc = tc_new ();
    guint64 id = nvr_live_hub_attach (hub, 1, i, &sink, tc, NULL);
    g_assert_cmpuint (id, >, 0);
    if (first == 0)
      first = id;
  }
  TestClient *extra = tc_new ();
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 99, &sink, extra, NULL), ==, 0);
  /* another camera has its own limit */
  g_assert_cmpuint (nvr_live_hub_attach (hub, 2, 99, &sink, extra, NULL), >, 0);
  /* one leaves, one more fits */
  nvr_live_hub_detach (hub, first);
  TestClient *extra2 = tc_new ();
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 100, &sink, extra2, NULL), >, 0);
  spin ();
}

/* One device cannot take a camera's or the daemon's viewers from the others. */
static void
test_fair_shares (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  nvr_live_hub_set_limits (hub, (NvrLiveLimits) { .per_device_camera = 2, .per_device = 5,
                                                  .total = 8 });
  NvrLiveRefusal why = NVR_LIVE_FULL_TOTAL;
  guint64 ids[3];
  /* Device 7: two of camera 1, then refused for camera 1 only. */
  for (int i = 0; i < 2; i++) {
    ids[i] = nvr_live_hub_attach (hub, 1, 7, &sink, tc_new (), &why);
    g_assert_cmpuint (ids[i], >, 0);
    g_assert_cmpint (why, ==, NVR_LIVE_ATTACHED);
  }
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 7, &sink, tc_new (), &why), ==, 0);
  g_assert_cmpint (why, ==, NVR_LIVE_FULL_DEVICE_CAMERA);
  /* Three more cameras: five in all, then refused for any camera. */
  for (gint64 cam = 2; cam <= 4; cam++)
    g_assert_cmpuint (nvr_live_hub_attach (hub, cam, 7, &sink, tc_new (), NULL), >, 0);
  g_assert_cmpuint (nvr_live_hub_attach (hub, 5, 7, &sink, tc_new (), &why), ==, 0);
  g_assert_cmpint (why, ==, NVR_LIVE_FULL_DEVICE);
  /* Another device still gets camera 1. */
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 8, &sink, tc_new (), &why), >, 0);
  g_assert_cmpint (why, ==, NVR_LIVE_ATTACHED);
  /* The total: 6 now, two more fit, then nobody's. */
  g_assert_cmpuint (nvr_live_hub_attach (hub, 2, 8, &sink, tc_new (), NULL), >, 0);
  g_assert_cmpuint (nvr_live_hub_attach (hub, 3, 9, &sink, tc_new (), NULL), >, 0);
  g_assert_cmpuint (nvr_live_hub_attach (hub, 3, 10, &sink, tc_new (), &why), ==, 0);
  g_assert_cmpint (why, ==, NVR_LIVE_FULL_TOTAL);
  /* A viewer that leaves gives its place back to its device. */
  nvr_live_hub_detach (hub, ids[0]);
  g_assert_cmpuint (nvr_live_hub_attach (hub, 1, 7, &sink, tc_new (), &why), >, 0);
  g_assert_cmpstr (nvr_live_refusal_reason (NVR_LIVE_FULL_DEVICE), !=,
                   nvr_live_refusal_reason (NVR_LIVE_FULL_TOTAL));
  spin ();
}

static gboolean
allow_not_device_2 (gint64 camera_id, gint64 device_id, gpointer data)
{
  guint *calls = data;
  (*calls)++;
  return device_id != 2 && !(device_id == 3 && camera_id == 2);
}

static void
test_recheck (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *d1 = tc_new ();
  TestClient *d2 = tc_new ();
  TestClient *d2b = tc_new ();
  TestClient *d3c1 = tc_new ();
  TestClient *d3c2 = tc_new ();
  nvr_live_hub_attach (hub, 1, 1, &sink, d1, NULL);
  guint64 id2 = nvr_live_hub_attach (hub, 1, 2, &sink, d2, NULL);
  nvr_live_hub_attach (hub, 2, 2, &sink, d2b, NULL);
  nvr_live_hub_attach (hub, 1, 3, &sink, d3c1, NULL);
  nvr_live_hub_attach (hub, 2, 3, &sink, d3c2, NULL);
  spin ();
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  push (hub, 2, NVR_LIVE_INIT, "init", FALSE);
  guint calls = 0;
  nvr_live_hub_recheck (hub, allow_not_device_2, &calls);
  g_assert_cmpuint (calls, ==, 5);
  g_assert_cmpuint (d1->ended, ==, 0);
  g_assert_cmpuint (d2->ended, ==, 1);
  g_assert_cmpuint (d2b->ended, ==, 1);
  g_assert_cmpuint (d3c1->ended, ==, 0);
  g_assert_cmpuint (d3c2->ended, ==, 1);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k", TRUE);   /* tc_write asserts nothing reaches the ended */
  push (hub, 2, NVR_LIVE_FRAGMENT, "k", TRUE);
  assert_got (d1, "init,k");
  assert_got (d2, "init");
  nvr_live_hub_detach (hub, id2);   /* already ended: nothing happens */
  calls = 0;
  nvr_live_hub_recheck (hub, allow_not_device_2, &calls);
  g_assert_cmpuint (calls, ==, 2);
  g_assert_cmpuint (d2->ended, ==, 1);
}

static void
test_stream_changes (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *playing = tc_new ();
  nvr_live_hub_attach (hub, 1, 1, &sink, playing, NULL);
  spin ();
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k", TRUE);
  TestClient *waiting = tc_new ();
  nvr_live_hub_attach (hub, 1, 2, &sink, waiting, NULL);
  /* the worker reconnected: a new init; the playing client must reconnect, the fresh one gets
   * the new stream */
  push (hub, 1, NVR_LIVE_INIT, "init-b", FALSE);
  g_assert_cmpuint (playing->ended, ==, 1);
  spin ();
  assert_got (waiting, "init-b");
  g_assert_cmpuint (waiting->ended, ==, 0);
  push (hub, 1, NVR_LIVE_FRAGMENT, "kb", TRUE);
  assert_got (waiting, "init-b,kb");
  /* the connection was lost: clients that started are ended, the cache is gone */
  push (hub, 1, NVR_LIVE_STOPPED, NULL, FALSE);
  g_assert_cmpuint (waiting->ended, ==, 1);
  g_assert_null (nvr_live_hub_codec (hub, 1));
  TestClient *next = tc_new ();
  nvr_live_hub_attach (hub, 1, 3, &sink, next, NULL);
  spin ();
  g_assert_cmpuint (next->got->len, ==, 0);
  push (hub, 1, NVR_LIVE_FRAGMENT, "stale", TRUE);   /* no init since: ignored */
  g_assert_cmpuint (next->got->len, ==, 0);
  /* the camera was removed: everyone ends, also the ones still waiting */
  push (hub, 1, NVR_LIVE_REMOVED, NULL, FALSE);
  g_assert_cmpuint (next->ended, ==, 1);
}

/* A sink that detaches from inside `write` (its connection broke): no use after free (ASan), no
 * more writes to it, the others go on. */
static void
test_detach_inside_write (void)
{
  g_autoptr (NvrLiveHub) hub = nvr_live_hub_new (NULL);
  TestClient *a = tc_new ();
  TestClient *b = tc_new ();
  a->hub = b->hub = hub;
  a->detach_at = 2;
  a->id = nvr_live_hub_attach (hub, 1, 1, &sink, a, NULL);
  b->id = nvr_live_hub_attach (hub, 1, 2, &sink, b, NULL);
  spin ();
  push (hub, 1, NVR_LIVE_INIT, "init", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "k1", TRUE);   /* a detaches here */
  push (hub, 1, NVR_LIVE_FRAGMENT, "d1", FALSE);
  push (hub, 1, NVR_LIVE_FRAGMENT, "d2", FALSE);
  assert_got (a, "init,k1");
  assert_got (b, "init,k1,d1,d2");
  /* a new client served from the cache detaches in the middle of it */
  TestClient *c = tc_new ();
  c->hub = hub;
  c->detach_at = 3;
  c->id = nvr_live_hub_attach (hub, 1, 3, &sink, c, NULL);
  spin ();
  assert_got (c, "init,k1,d1");
  push (hub, 1, NVR_LIVE_FRAGMENT, "d3", FALSE);
  assert_got (c, "init,k1,d1");
  assert_got (b, "init,k1,d1,d2,d3");
  g_assert_cmpuint (a->ended + b->ended + c->ended, ==, 0);
}

static void
test_free_ends_clients (void)
{
  NvrLiveHub *hub = nvr_live_hub_new (NULL);
  TestClient *a = tc_new ();
  TestClient *b = tc_new ();
  nvr_live_hub_attach (hub, 1, 1, &sink, a, NULL);
  nvr_live_hub_attach (hub, 2, 1, &sink, b, NULL);
  nvr_live_hub_free (hub);
  g_assert_cmpuint (a->ended, ==, 1);
  g_assert_cmpuint (b->ended, ==, 1);
  spin ();   /* no source left behind that touches the freed hub */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  all_clients = g_ptr_array_new_with_free_func ((GDestroyNotify) tc_free);
  g_test_add_func ("/live/new-client-starts-at-key", test_new_client_starts_at_key);
  g_test_add_func ("/live/slow-client-skips-to-key", test_slow_client_skips_to_key);
  g_test_add_func ("/live/gop-cache-bounded", test_gop_cache_bounded);
  g_test_add_func ("/live/max-clients", test_max_clients);
  g_test_add_func ("/live/fair-shares", test_fair_shares);
  g_test_add_func ("/live/recheck", test_recheck);
  g_test_add_func ("/live/stream-changes", test_stream_changes);
  g_test_add_func ("/live/detach-inside-write", test_detach_inside_write);
  g_test_add_func ("/live/free-ends-clients", test_free_ends_clients);
  int status = g_test_run ();
  g_ptr_array_unref (all_clients);
  return status;
}
