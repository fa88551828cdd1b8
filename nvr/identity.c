/* identity — camera identity: compare a connection's MAC + stream fingerprint with the pin,
 * format them, and find a MAC in a netlink neighbour dump. Pure (no I/O, no clock); any thread.
 * Invariant: a MAC present on both sides decides alone; without one, the fingerprint does. */
#define G_LOG_DOMAIN "nvr-identity"

#include "identity.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#define LLADDR_MAX 20

static gboolean
str_field_ok (const char *s, gsize size, const char *allowed)
{
  gsize n = strnlen (s, size);
  if (n == size)
    return FALSE;   /* not terminated */
  return strspn (s, allowed) == n;
}

gboolean
nvr_identity_valid (const NvrIdentity *id)
{
  return id != NULL &&
         str_field_ok (id->mac, sizeof id->mac, "0123456789abcdef:") &&
         str_field_ok (id->codec, sizeof id->codec, "abcdefghijklmnopqrstuvwxyz0123456789") &&
         str_field_ok (id->params, sizeof id->params, "0123456789abcdef") &&
         id->width >= 0 && id->width <= 65535 && id->height >= 0 && id->height <= 65535;
}

static char *
short_params (const char *params)
{
  return *params ? g_strndup (params, 8) : g_strdup ("?");
}

char *
nvr_identity_describe (const NvrIdentity *id)
{
  g_autofree char *p = short_params (id->params);
  return g_strdup_printf ("%s%s, %s %dx%d, params %s", *id->mac ? "MAC " : "no MAC",
                          id->mac, *id->codec ? id->codec : "?", id->width, id->height, p);
}

/* What differs in the stream fingerprint, or NULL if nothing both sides know. */
static char *
stream_difference (const NvrIdentity *pin, const NvrIdentity *seen)
{
  if (*pin->codec && *seen->codec && strcmp (pin->codec, seen->codec) != 0)
    return g_strdup_printf ("codec %s is now %s", pin->codec, seen->codec);
  if (pin->width && pin->height && seen->width && seen->height &&
      (pin->width != seen->width || pin->height != seen->height))
    return g_strdup_printf ("resolution %dx%d is now %dx%d", pin->width, pin->height,
                            seen->width, seen->height);
  if (*pin->params && *seen->params && strcmp (pin->params, seen->params) != 0) {
    g_autofree char *a = short_params (pin->params);
    g_autofree char *b = short_params (seen->params);
    return g_strdup_printf ("stream parameter sets (SPS/PPS) %s are now %s", a, b);
  }
  return NULL;
}

/* TRUE if @seen knows a field @pin lacks (the pin can be completed). */
static gboolean
adds_fields (const NvrIdentity *pin, const NvrIdentity *seen)
{
  return (!*pin->mac && *seen->mac) || (!*pin->codec && *seen->codec) ||
         (!pin->width && seen->width) || (!*pin->params && *seen->params);
}

NvrIdentityVerdict
nvr_identity_compare (const NvrIdentity *pin, const NvrIdentity *seen, char **reason)
{
  char *why = NULL;
  NvrIdentityVerdict v;
  if (pin == NULL) {
    v = NVR_IDENTITY_NEW;
  } else if (*pin->mac && *seen->mac) {
    if (strcmp (pin->mac, seen->mac) != 0) {
      why = g_strdup_printf ("a different device answers at the camera's address: MAC address "
                             "%s is now %s", pin->mac, seen->mac);
      v = NVR_IDENTITY_MISMATCH;
    } else {
      g_autofree char *diff = stream_difference (pin, seen);
      if (diff != NULL)
        why = g_strdup_printf ("same device (MAC %s), its stream changed: %s", pin->mac, diff);
      v = diff != NULL || adds_fields (pin, seen) ? NVR_IDENTITY_UPDATE : NVR_IDENTITY_SAME;
    }
  } else if (*pin->mac) {
    why = g_strdup_printf ("no MAC address behind the camera's address any more (pinned %s): "
                           "it is not on this LAN segment now", pin->mac);
    v = NVR_IDENTITY_MISMATCH;
  } else {
    g_autofree char *diff = stream_difference (pin, seen);
    if (diff != NULL) {
      why = g_strdup_printf ("a different camera model answers at the camera's address: %s",
                             diff);
      v = NVR_IDENTITY_MISMATCH;
    } else {
      v = adds_fields (pin, seen) ? NVR_IDENTITY_UPDATE : NVR_IDENTITY_SAME;
    }
  }
  if (reason != NULL)
    *reason = why;
  else
    g_free (why);
  return v;
}

void
nvr_identity_format_mac (const guint8 *lladdr, gsize len, char out[NVR_IDENTITY_MAC_MAX])
{
  out[0] = '\0';
  if (lladdr == NULL || len == 0 || len > LLADDR_MAX)
    return;
  char *p = out;
  for (gsize i = 0; i < len; i++) {
    g_snprintf (p, 4, i == 0 ? "%02x" : ":%02x", lladdr[i]);
    p += i == 0 ? 2 : 3;
  }
}

void
nvr_identity_params_hash (const guint8 *data, gsize len, char out[NVR_IDENTITY_PARAMS_MAX])
{
  out[0] = '\0';
  if (data == NULL || len == 0)
    return;
  g_autofree char *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  g_strlcpy (out, hex, NVR_IDENTITY_PARAMS_MAX);
}

static gboolean
all_zero (const guint8 *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (b[i] != 0)
      return FALSE;
  return TRUE;
}

#define USABLE_STATES (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)

gboolean
nvr_identity_neigh_find (const void *buf, gsize len, int family, const void *addr,
                         gsize addr_len, char mac[NVR_IDENTITY_MAC_MAX], gboolean *done)
{
  const guint8 *p = buf;
  gsize off = 0;
  *done = FALSE;
  mac[0] = '\0';
  while (len - off >= sizeof (struct nlmsghdr)) {
    struct nlmsghdr h;
    memcpy (&h, p + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off) {
      *done = TRUE;   /* malformed: stop */
      return FALSE;
    }
    if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) {
      *done = TRUE;
      return FALSE;
    }
    gsize body = off + NLMSG_HDRLEN;
    gsize end = off + h.nlmsg_len;
    if (h.nlmsg_type == RTM_NEWNEIGH && end - body >= sizeof (struct ndmsg)) {
      struct ndmsg nd;
      memcpy (&nd, p + body, sizeof nd);
      const guint8 *dst = NULL, *ll = NULL;
      gsize dst_len = 0, ll_len = 0;
      gsize a = body + NLMSG_ALIGN (sizeof nd);
      while (a < end && end - a >= sizeof (struct rtattr)) {
        struct rtattr rta;
        memcpy (&rta, p + a, sizeof rta);
        if (rta.rta_len < sizeof rta || rta.rta_len > end - a)
          break;
        gsize payload = rta.rta_len - RTA_LENGTH (0);
        if (rta.rta_type == NDA_DST) {
          dst = p + a + RTA_LENGTH (0);
          dst_len = payload;
        } else if (rta.rta_type == NDA_LLADDR) {
          ll = p + a + RTA_LENGTH (0);
          ll_len = payload;
        }
        gsize step = RTA_ALIGN (rta.rta_len);
        if (step > end - a)
          break;
        a += step;
      }
      if (nd.ndm_family == family && (nd.ndm_state & USABLE_STATES) && dst != NULL &&
          dst_len == addr_len && memcmp (dst, addr, addr_len) == 0 && ll != NULL &&
          !all_zero (ll, ll_len)) {
        nvr_identity_format_mac (ll, ll_len, mac);
        if (*mac)
          return TRUE;
      }
    }
    gsize step = NLMSG_ALIGN (h.nlmsg_len);
    if (step > len - off)
      break;
    off += step;
  }
  return FALSE;
}

static char *
key (const char *prefix, const char *name)
{
  return g_strconcat (prefix, name, NULL);
}

void
nvr_identity_add_fields (GVariantBuilder *b, const char *prefix, const NvrIdentity *id)
{
  g_autofree char *k_mac = key (prefix, "mac");
  g_autofree char *k_codec = key (prefix, "codec");
  g_autofree char *k_width = key (prefix, "width");
  g_autofree char *k_height = key (prefix, "height");
  g_autofree char *k_params = key (prefix, "params");
  g_variant_builder_add (b, "{sv}", k_mac, g_variant_new_string (id->mac));
  g_variant_builder_add (b, "{sv}", k_codec, g_variant_new_string (id->codec));
  g_variant_builder_add (b, "{sv}", k_width, g_variant_new_int32 (id->width));
  g_variant_builder_add (b, "{sv}", k_height, g_variant_new_int32 (id->height));
  g_variant_builder_add (b, "{sv}", k_params, g_variant_new_string (id->params));
}

static gboolean
copy_str (GVariant *fields, const char *prefix, const char *name, char *out, gsize size)
{
  g_autofree char *k = key (prefix, name);
  const char *s = "";
  g_autoptr (GVariant) v = g_variant_lookup_value (fields, k, G_VARIANT_TYPE_STRING);
  if (v != NULL)
    s = g_variant_get_string (v, NULL);
  return g_strlcpy (out, s, size) < size;
}

static gint32
get_i32 (GVariant *fields, const char *prefix, const char *name)
{
  g_autofree char *k = key (prefix, name);
  g_autoptr (GVariant) v = g_variant_lookup_value (fields, k, G_VARIANT_TYPE_INT32);
  return v != NULL ? g_variant_get_int32 (v) : 0;
}

gboolean
nvr_identity_from_fields (GVariant *fields, const char *prefix, NvrIdentity *out)
{
  memset (out, 0, sizeof *out);
  if (!copy_str (fields, prefix, "mac", out->mac, sizeof out->mac) ||
      !copy_str (fields, prefix, "codec", out->codec, sizeof out->codec) ||
      !copy_str (fields, prefix, "params", out->params, sizeof out->params))
    return FALSE;
  out->width = get_i32 (fields, prefix, "width");
  out->height = get_i32 (fields, prefix, "height");
  return nvr_identity_valid (out);
}
