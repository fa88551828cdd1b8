/* identity — what tells one camera from another: the MAC address behind its IP (when it is on
 * this LAN segment) and a stream fingerprint (codec, resolution, hash of the parameter sets).
 * Pure: no I/O, no clock. Used by the worker (checks before it records) and the supervisor
 * (pins at first contact). Rules and their reasons: docs/design/identity.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "aa:bb:cc:dd:ee:ff" for link-layer addresses of up to 20 bytes, NUL included. */
#define NVR_IDENTITY_MAC_MAX 64
#define NVR_IDENTITY_PARAMS_MAX 65   /* SHA-256 hex + NUL */

typedef struct {
  char mac[NVR_IDENTITY_MAC_MAX];     /* "" = no neighbour entry (loopback, routed, unknown) */
  char codec[8];                      /* "h264", "h265", or "" */
  gint32 width, height;               /* 0 = unknown */
  char params[NVR_IDENTITY_PARAMS_MAX]; /* SHA-256 hex of avcC/hvcC (SPS/PPS...); "" = unknown */
} NvrIdentity;

typedef enum {
  NVR_IDENTITY_NEW,       /* nothing pinned: pin what was seen */
  NVR_IDENTITY_SAME,      /* matches the pin in every field both have */
  NVR_IDENTITY_UPDATE,    /* same device (same MAC), but a field changed or was missing: re-pin */
  NVR_IDENTITY_MISMATCH,  /* a different camera: record nothing */
} NvrIdentityVerdict;

/* Compares what a connection shows (@seen) with the pin (@pin, NULL = not pinned).
 * A MAC present on both sides decides alone: equal = same device, whatever its stream now
 * looks like (the household may change resolution or codec); different = another device.
 * A pinned MAC that is now missing is a mismatch (the camera left the segment or is routed).
 * Without a pinned MAC the fingerprint decides: a different codec, resolution or parameter
 * set hash is a mismatch. Fields unknown on either side (""/0) are not compared.
 * *reason (may be NULL) gets a sentence for logs and `nvr status` on UPDATE and MISMATCH. */
NvrIdentityVerdict nvr_identity_compare (const NvrIdentity *pin, const NvrIdentity *seen,
                                         char **reason);

/* TRUE if every field is well formed (from an untrusted worker or an old catalog row). */
gboolean nvr_identity_valid (const NvrIdentity *id);

/* "MAC 02:00:00:00:00:0a, h264 640x360, params 1f2e3d4c" ("no MAC" when empty). */
char *nvr_identity_describe (const NvrIdentity *id);

/* Formats a link-layer address; an empty string for 0 bytes or more than 20. */
void nvr_identity_format_mac (const guint8 *lladdr, gsize len, char out[NVR_IDENTITY_MAC_MAX]);

/* Lower-case SHA-256 hex of @data; "" when @len is 0. */
void nvr_identity_params_hash (const guint8 *data, gsize len, char out[NVR_IDENTITY_PARAMS_MAX]);

/* Walks one buffer of an RTM_GETNEIGH dump reply (netlink messages) looking for a usable entry
 * (reachable, stale, delay, probe or permanent, with a link-layer address) for @addr of
 * @family (AF_INET: 4 bytes, AF_INET6: 16). Returns TRUE and fills @mac when found. Sets *done
 * when the buffer holds NLMSG_DONE or NLMSG_ERROR (the dump is over). Every length is checked
 * against the buffer; a malformed message ends the walk with *done set. */
gboolean nvr_identity_neigh_find (const void *buf, gsize len, int family, const void *addr,
                                  gsize addr_len, char mac[NVR_IDENTITY_MAC_MAX], gboolean *done);

/* Wire form (nvr/wire.h vardicts): keys <prefix>mac, <prefix>codec, <prefix>width,
 * <prefix>height, <prefix>params. from_fields returns FALSE if a field is malformed. */
void nvr_identity_add_fields (GVariantBuilder *b, const char *prefix, const NvrIdentity *id);
gboolean nvr_identity_from_fields (GVariant *fields, const char *prefix, NvrIdentity *out);

G_END_DECLS
