/* Fuzz target for the export parsers: a signature file as `nvr verify` reads it
 * (nvr/signing.c), and the init segment and moof boxes the export planner and reader rewrite
 * (nvr/export.c: segment files are written by a camera worker, which is not trusted), and a
 * whole segment file as the walker reads it (boxes, moofs, the audio tail after the last
 * fragment). Input: any bytes, tried as each. Built as a plain program it replays tests/fuzz/corpus/export
 * (suite 'fuzz'); with clang -fsanitize=fuzzer -DNVR_LIBFUZZER it is a libFuzzer target. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "signing.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  NvrManifest m;
  g_autofree uint8_t *copy = size ? g_memdup2 (data, size) : NULL;
  if (nvr_signing_parse_verify ((const char *) copy, size, NULL, &m, NULL))
    g_assert (m.start_us < m.end_us);

  /* As a moof: patched in place, never grown. */
  NvrExportShift shift = { .video_id = 1, .video = 123456, .audio_id = 2, .audio = -5 };
  nvr_export_patch_moof (copy, size, 7, &shift, 0, 1000, NULL);

  /* As an init segment of a file with two fragments; a plan that succeeds has a length. */
  GArray *files = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  NvrExportFile f = { .path = g_strdup ("/nonexistent"), .wall_start_us = 1000000,
                      .init = g_bytes_new (data, size),
                      .fragments = g_array_new (FALSE, FALSE, sizeof (NvrExportFragment)) };
  NvrExportFragment fr[2] = { { 100, 50, 0, 1000000, TRUE }, { 150, 50, 1000000, 1000000, FALSE } };
  g_array_append_vals (f.fragments, fr, 2);
  g_array_append_val (files, f);
  g_autoptr (NvrExportPlan) plan = nvr_export_plan_new (files, 1500000, 2500000, NULL);
  if (plan != NULL)
    g_assert (nvr_export_plan_length (plan) > 100);

  /* The same init in two files, the first with an audio tail and audio running past its video:
   * the plan sends the tail with the last fragment and delays the second file's audio. */
  GArray *two = g_array_new (FALSE, TRUE, sizeof (NvrExportFile));
  for (guint i = 0; i < 2; i++) {
    NvrExportFile g = { .path = g_strdup ("/nonexistent"), .wall_start_us = 1000000 + i * 2000000,
                        .init = g_bytes_new (data, size), .tail_size = i == 0 ? 40 : 0,
                        .audio_end_us = i == 0 ? 2016000 : -1,
                        .fragments = g_array_new (FALSE, FALSE, sizeof (NvrExportFragment)) };
    g_array_append_vals (g.fragments, fr, 2);
    g_array_append_val (two, g);
  }
  g_autoptr (NvrExportPlan) plan2 = nvr_export_plan_new (two, 1500000, 4500000, NULL);
  if (plan2 != NULL)
    g_assert (nvr_export_plan_length (plan2) > 200);

  /* As a segment file: the walker (box headers, each moof, the audio tail after the last
   * fragment) must not read outside it, whatever it holds. */
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("fuzz-export-XXXXXX.mp4", &path, NULL);
  if (fd >= 0) {
    gboolean wrote = size == 0 || write (fd, data, size) == (ssize_t) size;
    close (fd);
    NvrExportFile w;
    if (wrote && nvr_export_walk_file (path, 0, &w, NULL)) {
      g_assert (w.tail_size >= 0 && (gsize) w.tail_size <= size);
      nvr_export_file_clear (&w);
    }
    g_unlink (path);
  }
  return 0;
}

#include "fuzz-replay.h"
