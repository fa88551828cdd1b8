/* bench/export-fill — gives a camera COUNT back-to-back complete segments of SEG_S seconds from
 * START_US on, each a hard link to (or with --copy a copy of) one fragmented MP4 CLIP, with their
 * catalog rows: the recordings a long export is measured on (tests/bench/export.py). Run it while
 * the daemon is stopped. Usage:
 *   bench-export-fill [--copy] ROOT CAMERA_ID CAMERA_NAME CLIP START_US COUNT SEG_S */
#include <errno.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "catalog.h"
#include "paths.h"

int
main (int argc, char **argv)
{
  gboolean copy = argc > 1 && g_str_equal (argv[1], "--copy");
  if (copy) {
    argc--;
    argv++;
  }
  if (argc != 8) {
    fprintf (stderr, "usage: bench-export-fill [--copy] ROOT CAMERA_ID CAMERA_NAME CLIP START_US "
             "COUNT SEG_S\n");
    return 2;
  }
  const char *root = argv[1], *name = argv[3], *clip = argv[4];
  gint64 cam = g_ascii_strtoll (argv[2], NULL, 10);
  gint64 start_us = g_ascii_strtoll (argv[5], NULL, 10);
  int count = atoi (argv[6]), seg_s = atoi (argv[7]);
  g_autoptr (GError) error = NULL;
  g_autofree char *db = g_build_filename (root, "catalog.db", NULL);
  NvrCatalog *cat = nvr_catalog_open (db, &error);
  if (cat == NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  GStatBuf st;
  if (g_stat (clip, &st) != 0) {
    fprintf (stderr, "cannot stat '%s'\n", clip);
    return 1;
  }
  g_autofree char *dir = nvr_paths_camera_dir (cam, name);
  for (int i = 0; i < count; i++) {
    gint64 s = start_us + (gint64) i * seg_s * G_USEC_PER_SEC;
    g_autofree char *rel = nvr_paths_segment (dir, s, (guint64) i);
    g_autofree char *abs = g_build_filename (root, rel, NULL);
    g_autofree char *parent = g_path_get_dirname (abs);
    g_mkdir_with_parents (parent, 0750);
    if (copy) {
      g_autoptr (GFile) from = g_file_new_for_path (clip);
      g_autoptr (GFile) to = g_file_new_for_path (abs);
      if (!g_file_copy (from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error))
        break;
    } else if (link (clip, abs) != 0) {
      fprintf (stderr, "link '%s': %s\n", abs, g_strerror (errno));
      return 1;
    }
    if (!nvr_catalog_segment_close (cat, cam, rel, s, s + (gint64) seg_s * G_USEC_PER_SEC,
                                    (gint64) seg_s * G_USEC_PER_SEC, st.st_size, &error))
      break;
  }
  nvr_catalog_close (cat);
  if (error != NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  printf ("%d segments of %d s, %lld bytes each\n", count, seg_s, (long long) st.st_size);
  return 0;
}
