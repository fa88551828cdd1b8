/* footage — the hand-labelled truth of a real recording that fakecam serves as a camera
 * (--scene footage, docs/design/fakecam.md "Real footage"): which video it belongs to (SHA-256)
 * and, per region of the picture, the intervals in which something moves there. Pure: parses
 * and validates JSON text, no I/O; any thread. */
#pragma once

#include "scene.h"

#include <glib.h>

G_BEGIN_DECLS

#define FC_FOOTAGE_MAX_REGIONS 16
#define FC_FOOTAGE_MAX_INTERVALS 256
#define FC_FOOTAGE_MAX_NAME 32
#define FC_FOOTAGE_MAX_LABEL_BYTES (256u << 10)

typedef struct {
  char name[FC_FOOTAGE_MAX_NAME + 1];  /* [a-z0-9_-]+, unique in the file */
  FcRect rect;             /* the part of the picture the intervals are about (fractions) */
  int n_motion;            /* 0 = nothing ever moves there (a negative) */
  double starts[FC_FOOTAGE_MAX_INTERVALS], ends[FC_FOOTAGE_MAX_INTERVALS];   /* seconds in the
                            * footage, sorted, disjoint, 0 <= start < end <= frames / fps */
} FcFootageRegion;

typedef struct {
  char video_sha256[65];   /* lower-case hex of the video file the labels are for */
  int fps;                 /* the video's frame rate (integer) */
  int frames;              /* frames in the video */
  int n_regions;           /* >= 1 */
  FcFootageRegion regions[FC_FOOTAGE_MAX_REGIONS];
} FcFootageLabels;

/* Parses a labels file's text (format 1, see tests/footage/vtest.truth.json). FALSE with
 * @error naming the offending member if anything is missing, out of range or out of order. */
gboolean fc_footage_labels_parse (const char *text, gsize len, FcFootageLabels *out,
                                  GError **error);

G_END_DECLS
