/* bench/playback-fill — the catalog the playback benchmark runs on (tests/bench/playback.py):
 * for each camera ID:NAME, back-to-back complete segments from START_US for DAYS days, each a
 * hard link to that camera's own copy of one fragmented MP4 CLIP (ext4 allows 65000 links per
 * file: one copy per camera keeps 7 days of 60 s files under that), with segment AND fragment
 * rows written through the daemon's own statements. The fragment rows are the clip's real index
 * (nvr_mp4probe_index_buffer, what the recorder and recovery store). Run it while the daemon is
 * stopped. Usage:
 *   bench-playback-fill ROOT CLIP START_US DAYS ID:NAME... */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "catalog.h"
#include "mp4probe.h"
#include "paths.h"

typedef struct {
  gint64 id;
  char *name;
  char *dir;    /* relative camera directory */
  char *clip;   /* this camera's copy of the clip */
} Cam;

static gboolean
fail (const char *what, GError *error)
{
  fprintf (stderr, "bench-playback-fill: %s: %s\n", what, error ? error->message : g_strerror (errno));
  return FALSE;
}

int
main (int argc, char **argv)
{
  if (argc < 6) {
    fprintf (stderr, "usage: bench-playback-fill ROOT CLIP START_US DAYS ID:NAME...\n");
    return 2;
  }
  const char *root = argv[1], *clip = argv[2];
  gint64 start_us = g_ascii_strtoll (argv[3], NULL, 10);
  int days = atoi (argv[4]);
  if (start_us <= 0 || days < 1) {
    fprintf (stderr, "bench-playback-fill: bad START_US or DAYS\n");
    return 2;
  }
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (clip, &data, &len, &error))
    return fail ("read clip", error), 1;
  gint64 init_bytes = 0;
  g_autoptr (GArray) idx = NULL;
  if (!nvr_mp4probe_index_buffer ((const guint8 *) data, len, &init_bytes, &idx, &error))
    return fail ("index clip", error), 1;
  if (idx->len == 0 || init_bytes <= 0) {
    fprintf (stderr, "bench-playback-fill: '%s' has no fragments\n", clip);
    return 1;
  }
  const NvrMp4Fragment *last = &g_array_index (idx, NvrMp4Fragment, idx->len - 1);
  gint64 seg_us = last->start_us + last->duration_us;

  guint n_cams = (guint) (argc - 5);
  g_autofree Cam *cams = g_new0 (Cam, n_cams);
  for (guint c = 0; c < n_cams; c++) {
    const char *arg = argv[5 + c], *colon = strchr (arg, ':');
    if (colon == NULL) {
      fprintf (stderr, "bench-playback-fill: '%s' is not ID:NAME\n", arg);
      return 2;
    }
    cams[c].id = g_ascii_strtoll (arg, NULL, 10);
    cams[c].name = g_strdup (colon + 1);
    cams[c].dir = nvr_paths_camera_dir (cams[c].id, cams[c].name);
    g_autofree char *absdir = g_build_filename (root, cams[c].dir, NULL);
    g_mkdir_with_parents (absdir, 0750);
    cams[c].clip = g_build_filename (absdir, "bench-clip.mp4", NULL);
    if (!g_file_set_contents (cams[c].clip, data, (gssize) len, &error))
      return fail ("copy clip", error), 1;
  }

  g_autofree char *db = g_build_filename (root, "catalog.db", NULL);
  NvrCatalog *cat = nvr_catalog_open (db, &error);
  if (cat == NULL)
    return fail ("open catalog", error), 1;
  g_autofree NvrFragmentRow *rows = g_new0 (NvrFragmentRow, idx->len);
  gint64 per_cam = (gint64) days * 86400 * G_USEC_PER_SEC / seg_us;
  gint64 per_hour = MAX (1, (gint64) 3600 * G_USEC_PER_SEC / seg_us);
  gint64 t_fill = g_get_monotonic_time ();
  gboolean ok = TRUE;
  for (gint64 i = 0; i < per_cam && ok; i++) {
    if (i % per_hour == 0) {
      if (i > 0 && !nvr_catalog_commit (cat, &error))
        break;
      if (!nvr_catalog_begin (cat, &error))
        break;
    }
    for (guint c = 0; c < n_cams && ok; c++) {
      gint64 s = start_us + i * seg_us, id = 0;
      g_autofree char *rel = nvr_paths_segment (cams[c].dir, s, (guint64) i);
      g_autofree char *abs = g_build_filename (root, rel, NULL);
      g_autofree char *parent = g_path_get_dirname (abs);
      g_mkdir_with_parents (parent, 0750);
      if (link (cams[c].clip, abs) != 0) {
        ok = fail (abs, NULL);
        break;
      }
      if (!nvr_catalog_segment_open (cat, cams[c].id, rel, s, &id, &error)) {
        ok = FALSE;
        break;
      }
      for (guint f = 0; f < idx->len; f++) {
        const NvrMp4Fragment *x = &g_array_index (idx, NvrMp4Fragment, f);
        rows[f] = (NvrFragmentRow) { id, f, init_bytes, { x->offset, x->size, x->start_us,
                                                          x->duration_us, x->keyframe } };
      }
      ok = nvr_catalog_fragments_add (cat, rows, idx->len, &error) &&
           nvr_catalog_segment_close (cat, cams[c].id, rel, s, s + seg_us, seg_us, (gint64) len,
                                      &error);
    }
  }
  if (ok && error == NULL)
    nvr_catalog_commit (cat, &error);
  nvr_catalog_close (cat);
  for (guint c = 0; c < n_cams; c++) {
    g_unlink (cams[c].clip);   /* the segments keep the inode */
    g_free (cams[c].name);
    g_free (cams[c].dir);
    g_free (cams[c].clip);
  }
  if (error != NULL)
    return fail ("catalog", error), 1;
  if (!ok)
    return 1;
  printf ("%u cameras x %" G_GINT64_FORMAT " segments of %.3f s (%u fragments, %" G_GSIZE_FORMAT
          " bytes each), filled in %.1f s\n", n_cams, per_cam, seg_us / 1e6, idx->len, len,
          (g_get_monotonic_time () - t_fill) / 1e6);
  return 0;
}
