/* isobmff — big-endian field access and box type codes shared by the ISO-BMFF (MP4) code:
 * nvr/fmp4.c (live splitter), nvr/mp4probe.c (recovery and the fragment index) and
 * nvr/export.c (export rewriting). Pure, header-only; callers check bounds before every read. */
#pragma once

#include <glib.h>

#define FOURCC(a, b, c, d) \
  (((guint32) (a) << 24) | ((guint32) (b) << 16) | ((guint32) (c) << 8) | (guint32) (d))

static inline guint32
rd32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline guint64
rd64 (const guint8 *p)
{
  return ((guint64) rd32 (p) << 32) | rd32 (p + 4);
}

static inline void
wr32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static inline void
wr64 (guint8 *p, guint64 v)
{
  wr32 (p, (guint32) (v >> 32));
  wr32 (p + 4, (guint32) v);
}
