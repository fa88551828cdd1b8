/* Unit tests for the identity core: the compare table (MAC decides alone, fingerprint without
 * a MAC), validation of untrusted fields, formatting, and the netlink neighbour-dump walker on
 * synthetic buffers including every truncation. */
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include <glib/gstdio.h>

#include "catalog.h"
#include "identity.h"

#define MAC_A "02:00:00:00:00:0a"
#define MAC_B "02:00:00:00:00:0b"
#define P1 "1111111111111111111111111111111111111111111111111111111111111111"
#define P2 "2222222222222222222222222222222222222222222222222222222222222222"

typedef struct {
  const char *what;
  gboolean pinned;
  NvrIdentity pin, seen;
  NvrIdentityVerdict verdict;
  const char *reason_has;   /* NULL: no reason expected */
} Case;

static const Case cases[] = {
  { "first contact", FALSE, { "", "", 0, 0, "" }, { MAC_A, "h264", 640, 360, P1 }, NVR_IDENTITY_NEW, NULL },
  { "same everything", TRUE, { MAC_A, "h264", 640, 360, P1 }, { MAC_A, "h264", 640, 360, P1 },
    NVR_IDENTITY_SAME, NULL },
  { "identical model, other unit", TRUE, { MAC_A, "h264", 640, 360, P1 },
    { MAC_B, "h264", 640, 360, P1 }, NVR_IDENTITY_MISMATCH, MAC_A " is now " MAC_B },
  { "same MAC, resolution changed", TRUE, { MAC_A, "h264", 640, 360, P1 },
    { MAC_A, "h264", 1280, 720, P2 }, NVR_IDENTITY_UPDATE, "resolution 640x360 is now 1280x720" },
  { "same MAC, codec changed", TRUE, { MAC_A, "h264", 640, 360, P1 },
    { MAC_A, "h265", 640, 360, P2 }, NVR_IDENTITY_UPDATE, "codec h264 is now h265" },
  { "pinned MAC gone", TRUE, { MAC_A, "h264", 640, 360, P1 }, { "", "h264", 640, 360, P1 },
    NVR_IDENTITY_MISMATCH, "no MAC address" },
  { "loopback, same stream", TRUE, { "", "h264", 640, 360, P1 }, { "", "h264", 640, 360, P1 },
    NVR_IDENTITY_SAME, NULL },
  { "loopback, other resolution", TRUE, { "", "h264", 640, 360, P1 },
    { "", "h264", 320, 240, P2 }, NVR_IDENTITY_MISMATCH, "resolution 640x360 is now 320x240" },
  { "loopback, other codec", TRUE, { "", "h264", 640, 360, P1 }, { "", "h265", 640, 360, P2 },
    NVR_IDENTITY_MISMATCH, "codec h264 is now h265" },
  { "loopback, other parameter sets", TRUE, { "", "h264", 640, 360, P1 },
    { "", "h264", 640, 360, P2 }, NVR_IDENTITY_MISMATCH, "11111111 are now 22222222" },
  { "fingerprint pin gains a MAC", TRUE, { "", "h264", 640, 360, P1 },
    { MAC_A, "h264", 640, 360, P1 }, NVR_IDENTITY_UPDATE, NULL },
  { "unknown params are not compared", TRUE, { "", "h264", 640, 360, "" },
    { "", "h264", 640, 360, P2 }, NVR_IDENTITY_UPDATE, NULL },
  { "unknown size is not compared", TRUE, { "", "h264", 0, 0, P1 }, { "", "h264", 640, 360, P1 },
    NVR_IDENTITY_UPDATE, NULL },
  { "seen lacks params", TRUE, { "", "h264", 640, 360, P1 }, { "", "h264", 640, 360, "" },
    NVR_IDENTITY_SAME, NULL },
};

static void
test_compare (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    g_autofree char *reason = NULL;
    NvrIdentityVerdict v = nvr_identity_compare (c->pinned ? &c->pin : NULL, &c->seen, &reason);
    if (v != c->verdict)
      g_error ("case '%s': verdict %d, expected %d (%s)", c->what, v, c->verdict,
               reason ? reason : "");
    if (c->reason_has != NULL && (reason == NULL || strstr (reason, c->reason_has) == NULL))
      g_error ("case '%s': reason '%s' lacks '%s'", c->what, reason ? reason : "(none)",
               c->reason_has);
    if (c->verdict == NVR_IDENTITY_MISMATCH)
      g_assert_nonnull (reason);
    g_assert_true (nvr_identity_valid (&c->seen));
  }
  /* NULL reason pointer is allowed. */
  g_assert_cmpint (nvr_identity_compare (&cases[2].pin, &cases[2].seen, NULL), ==,
                   NVR_IDENTITY_MISMATCH);
}

static void
test_valid (void)
{
  NvrIdentity id = { MAC_A, "h264", 640, 360, P1 };
  g_assert_true (nvr_identity_valid (&id));
  NvrIdentity bad = id;
  g_strlcpy (bad.mac, "02:00:00:00:00:0A'", sizeof bad.mac);
  g_assert_false (nvr_identity_valid (&bad));
  bad = id;
  bad.width = -1;
  g_assert_false (nvr_identity_valid (&bad));
  bad = id;
  memset (bad.codec, 'a', sizeof bad.codec);   /* not terminated */
  g_assert_false (nvr_identity_valid (&bad));
  bad = id;
  g_strlcpy (bad.params, "xyz", sizeof bad.params);
  g_assert_false (nvr_identity_valid (&bad));
  g_assert_false (nvr_identity_valid (NULL));
  g_autofree char *d = nvr_identity_describe (&id);
  g_assert_cmpstr (d, ==, "MAC " MAC_A ", h264 640x360, params 11111111");
}

static void
test_format (void)
{
  char mac[NVR_IDENTITY_MAC_MAX];
  const guint8 a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
  nvr_identity_format_mac (a, 6, mac);
  g_assert_cmpstr (mac, ==, MAC_A);
  guint8 big[21] = { 0xff };
  nvr_identity_format_mac (big, 20, mac);
  g_assert_cmpuint (strlen (mac), ==, 20 * 3 - 1);
  nvr_identity_format_mac (big, 21, mac);
  g_assert_cmpstr (mac, ==, "");
  nvr_identity_format_mac (a, 0, mac);
  g_assert_cmpstr (mac, ==, "");

  char h[NVR_IDENTITY_PARAMS_MAX];
  nvr_identity_params_hash ((const guint8 *) "abc", 3, h);
  g_assert_cmpstr (h, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  nvr_identity_params_hash (NULL, 0, h);
  g_assert_cmpstr (h, ==, "");
}

/* Appends one RTM_NEWNEIGH message to @b. */
static void
add_neigh (GByteArray *b, int family, guint16 state, const guint8 *dst, gsize dst_len,
           const guint8 *ll, gsize ll_len)
{
  guint8 msg[256] = { 0 };
  struct nlmsghdr *h = (struct nlmsghdr *) msg;
  struct ndmsg *nd = NLMSG_DATA (h);
  nd->ndm_family = (guint8) family;
  nd->ndm_state = state;
  gsize off = NLMSG_HDRLEN + NLMSG_ALIGN (sizeof *nd);
  struct rtattr *a = (struct rtattr *) (msg + off);
  a->rta_type = NDA_DST;
  a->rta_len = (unsigned short) RTA_LENGTH (dst_len);
  memcpy (RTA_DATA (a), dst, dst_len);
  off += RTA_ALIGN (a->rta_len);
  if (ll != NULL) {
    a = (struct rtattr *) (msg + off);
    a->rta_type = NDA_LLADDR;
    a->rta_len = (unsigned short) RTA_LENGTH (ll_len);
    memcpy (RTA_DATA (a), ll, ll_len);
    off += RTA_ALIGN (a->rta_len);
  }
  h->nlmsg_type = RTM_NEWNEIGH;
  h->nlmsg_len = (guint32) off;
  g_byte_array_append (b, msg, (guint) NLMSG_ALIGN (off));
}

static void
add_done (GByteArray *b)
{
  struct nlmsghdr h = { .nlmsg_len = NLMSG_HDRLEN + 4, .nlmsg_type = NLMSG_DONE };
  guint8 msg[NLMSG_HDRLEN + 4] = { 0 };
  memcpy (msg, &h, sizeof h);
  g_byte_array_append (b, msg, sizeof msg);
}

static void
test_neigh (void)
{
  const guint8 ip_a[4] = { 169, 254, 77, 11 }, ip_b[4] = { 169, 254, 77, 12 };
  const guint8 ip6[16] = { 0xfe, 0x80, [15] = 0x0b };
  const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a }, mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
  const guint8 zero[6] = { 0 };
  g_autoptr (GByteArray) b = g_byte_array_new ();
  add_neigh (b, AF_INET, NUD_FAILED, ip_a, 4, mac_b, 6);      /* unusable state */
  add_neigh (b, AF_INET, NUD_REACHABLE, ip_b, 4, mac_b, 6);   /* other address */
  add_neigh (b, AF_INET, NUD_NOARP, ip_a, 4, zero, 6);        /* no real lladdr */
  add_neigh (b, AF_INET, NUD_STALE, ip_a, 4, zero, 6);        /* all-zero lladdr */
  add_neigh (b, AF_INET6, NUD_REACHABLE, ip6, 16, mac_b, 6);
  add_neigh (b, AF_INET, NUD_INCOMPLETE, ip_a, 4, NULL, 0);
  add_neigh (b, AF_INET, NUD_REACHABLE, ip_a, 4, mac_a, 6);
  gsize full = b->len;
  add_done (b);

  char mac[NVR_IDENTITY_MAC_MAX];
  gboolean done;
  g_assert_true (nvr_identity_neigh_find (b->data, b->len, AF_INET, ip_a, 4, mac, &done));
  g_assert_cmpstr (mac, ==, MAC_A);
  g_assert_true (nvr_identity_neigh_find (b->data, b->len, AF_INET6, ip6, 16, mac, &done));
  g_assert_cmpstr (mac, ==, MAC_B);
  const guint8 ip_c[4] = { 10, 0, 0, 1 };
  g_assert_false (nvr_identity_neigh_find (b->data, b->len, AF_INET, ip_c, 4, mac, &done));
  g_assert_true (done);
  g_assert_cmpstr (mac, ==, "");
  /* Without DONE the walk is not over. */
  g_assert_false (nvr_identity_neigh_find (b->data, full, AF_INET, ip_c, 4, mac, &done));
  g_assert_false (done);

  /* Every prefix: never reads past the end (ASan), finds A only when its message is whole. */
  for (gsize n = 0; n <= b->len; n++) {
    guint8 *copy = g_memdup2 (b->data, n);
    gboolean found = nvr_identity_neigh_find (copy, n, AF_INET, ip_a, 4, mac, &done);
    g_assert_true (!found || n >= full);
    g_free (copy);
  }
  /* A lying length ends the walk. */
  struct nlmsghdr *h = (struct nlmsghdr *) b->data;
  h->nlmsg_len = 100000;
  g_assert_false (nvr_identity_neigh_find (b->data, b->len, AF_INET, ip_a, 4, mac, &done));
  g_assert_true (done);
}

/* The catalog keeps a pin across reopen, reset forgets it, unknown names are NOT_FOUND. */
static void
test_catalog (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hearth-identity-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "catalog.db", NULL);
  NvrCatalog *cat = nvr_catalog_open (path, &error);
  g_assert_no_error (error);
  NvrCameraRow row = { .name = "porch", .main_url = "rtsp://169.254.77.11:8554/cam1/main" };
  gint64 id = 0;
  g_assert_true (nvr_catalog_camera_add (cat, &row, 1000, &id, &error));
  NvrIdentity got;
  gboolean pinned = TRUE;
  g_assert_true (nvr_catalog_identity_get (cat, id, &got, &pinned, &error));
  g_assert_false (pinned);
  g_assert_cmpstr (got.mac, ==, "");
  NvrIdentity pin = { MAC_A, "h264", 640, 360, P1 };
  g_assert_true (nvr_catalog_identity_pin (cat, id, &pin, 2000, &error));
  nvr_catalog_close (cat);

  cat = nvr_catalog_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (nvr_catalog_identity_get (cat, id, &got, &pinned, &error));
  g_assert_true (pinned);
  g_assert_cmpint (nvr_identity_compare (&pin, &got, NULL), ==, NVR_IDENTITY_SAME);
  g_assert_cmpstr (got.mac, ==, pin.mac);
  g_assert_cmpstr (got.params, ==, pin.params);
  g_assert_cmpint (got.width * 10000 + got.height, ==, 640 * 10000 + 360);
  gint64 reset_id = 0;
  g_assert_true (nvr_catalog_identity_reset (cat, "porch", &reset_id, &error));
  g_assert_cmpint (reset_id, ==, id);
  g_assert_true (nvr_catalog_identity_get (cat, id, &got, &pinned, &error));
  g_assert_false (pinned);
  g_assert_false (nvr_catalog_identity_reset (cat, "garage", NULL, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (nvr_catalog_identity_get (cat, id + 1, &got, &pinned, &error));
  g_assert_error (error, NVR_CATALOG_ERROR, NVR_CATALOG_ERROR_NOT_FOUND);
  nvr_catalog_close (cat);

  const char *suffixes[] = { "", "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++) {
    g_autofree char *f = g_strconcat (path, suffixes[i], NULL);
    g_unlink (f);
  }
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/identity/compare", test_compare);
  g_test_add_func ("/identity/valid", test_valid);
  g_test_add_func ("/identity/format", test_format);
  g_test_add_func ("/identity/neigh", test_neigh);
  g_test_add_func ("/identity/catalog", test_catalog);
  return g_test_run ();
}
