/* Fuzz target for the fragmented-MP4 parsers (nvr/fmp4.c): the bytes a camera worker sends as
 * live-init/live-fragment reach the daemon's parsers, and mp4mux output reaches the worker's
 * splitter. Input: any bytes; the first byte picks the splitter's chunk size. Built as a plain
 * program it replays tests/fuzz/corpus/fmp4 (suite 'fuzz'); with clang -fsanitize=fuzzer
 * -DNVR_LIBFUZZER it is a libFuzzer target. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "fmp4.h"

#define MAX_FRAGMENT 4096

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* exactly @size bytes on the heap: ASan sees any overread */
  g_autofree uint8_t *copy = size ? g_memdup2 (data, size) : NULL;
  NvrFmp4Init init;
  gboolean key;
  if (nvr_fmp4_parse_init (copy, size, &init, NULL))
    g_assert (g_str_has_prefix (init.codec, "avc"));
  nvr_fmp4_parse_fragment (copy, size, NULL, &key, NULL);

  g_autoptr (NvrFmp4Splitter) s = nvr_fmp4_splitter_new (MAX_FRAGMENT);
  gsize chunk = size ? (gsize) data[0] + 1 : 1;
  for (gsize off = 0; off < size; off += chunk) {
    gsize n = MIN (chunk, size - off);
    g_autofree uint8_t *piece = g_memdup2 (copy + off, n);
    if (!nvr_fmp4_splitter_feed (s, piece, n, NULL))
      break;
    for (;;) {
      g_autoptr (GBytes) unit = NULL;
      guint64 dropped = 0;
      NvrFmp4Kind k = nvr_fmp4_splitter_pop (s, &unit, &key, &dropped);
      if (k == NVR_FMP4_NONE)
        break;
      if (k == NVR_FMP4_INIT) {
        gsize len;
        const guint8 *p = g_bytes_get_data (unit, &len);
        g_assert (len <= NVR_FMP4_MAX_INIT && nvr_fmp4_parse_init (p, len, &init, NULL));
      } else if (k == NVR_FMP4_FRAGMENT) {
        g_assert (g_bytes_get_size (unit) <= MAX_FRAGMENT);
      } else {
        g_assert (unit == NULL);
      }
    }
  }
  return 0;
}

/* Every prefix of every input too: a stream cut anywhere. */
#define NVR_FUZZ_REPLAY_PREFIXES 1
#include "fuzz-replay.h"
