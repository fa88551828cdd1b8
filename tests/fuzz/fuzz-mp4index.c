/* Fuzz target for the fragment indexer (nvr/mp4probe.c NvrMp4Indexer): the recorder feeds it
 * mp4mux output and the probe child a file a crash may have cut anywhere. Input: any bytes; the
 * first byte picks the chunk size. Checks what every index must be: fragments in file order,
 * back to back or increasing from the init segment, inside what was fed, times increasing, and
 * the same index whatever the chunking. Built as a plain program it replays the fmp4 corpus
 * (suite 'fuzz'); with clang -fsanitize=fuzzer -DNVR_LIBFUZZER it is a libFuzzer target. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "mp4probe.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree uint8_t *copy = size ? g_memdup2 (data, size) : NULL;
  /* The index of the whole input at once (what the probe child prints: the fragments before a
   * failure count). */
  g_autoptr (NvrMp4Indexer) all = nvr_mp4probe_indexer_new ();
  gboolean whole_ok = nvr_mp4probe_indexer_feed (all, copy, size, NULL);
  g_autoptr (GArray) whole = g_array_new (FALSE, FALSE, sizeof (NvrMp4Fragment));
  NvrMp4Fragment w;
  while (nvr_mp4probe_indexer_pop (all, &w))
    g_array_append_val (whole, w);

  g_autoptr (NvrMp4Indexer) ix = nvr_mp4probe_indexer_new ();
  gsize chunk = size ? (gsize) data[0] + 1 : 1;
  gint64 next = 0, t = 0;
  guint n = 0;
  gboolean ok = TRUE;
  for (gsize off = 0; off < size && ok; off += chunk) {
    gsize len = MIN (chunk, size - off);
    g_autofree uint8_t *piece = g_memdup2 (copy + off, len);
    ok = nvr_mp4probe_indexer_feed (ix, piece, len, NULL);
    NvrMp4Fragment f;
    while (nvr_mp4probe_indexer_pop (ix, &f)) {
      gint64 init = nvr_mp4probe_indexer_init_bytes (ix);
      g_assert (init > 0 && f.offset >= MAX (next, init) && f.size > 0);
      g_assert ((guint64) (f.offset + f.size) <= off + len);
      g_assert (f.start_us >= t && f.duration_us >= 0);
      g_assert (n < whole->len);
      g_assert (memcmp (&f, &g_array_index (whole, NvrMp4Fragment, n), sizeof f) == 0);
      next = f.offset + f.size;
      t = f.start_us;
      n++;
    }
  }
  g_assert (ok == whole_ok && n == whole->len);
  g_assert (nvr_mp4probe_indexer_init_bytes (ix) == nvr_mp4probe_indexer_init_bytes (all));
  return 0;
}

#define NVR_FUZZ_REPLAY_PREFIXES 1
#include "fuzz-replay.h"
