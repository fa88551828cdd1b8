/* The corpus replayer shared by the fuzz targets: built as a plain program, a target replays
 * every file of the directories given on the command line (a meson test in suite 'fuzz');
 * built with clang -fsanitize=fuzzer -DNVR_LIBFUZZER it is a libFuzzer target instead.
 * Include it once, after defining LLVMFuzzerTestOneInput; define NVR_FUZZ_REPLAY_PREFIXES to
 * also replay prefixes of every input (for stream parsers: a stream cut anywhere). */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <string.h>

#ifndef NVR_LIBFUZZER
int
main (int argc, char **argv)
{
  guint n = 0;
  for (int i = 1; i < argc; i++) {
    g_autoptr (GDir) d = g_dir_open (argv[i], 0, NULL);
    if (d == NULL)
      g_error ("cannot open corpus directory '%s'", argv[i]);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL) {
      g_autofree char *path = g_build_filename (argv[i], name, NULL);
      g_autofree char *data = NULL;
      gsize len = 0;
      if (!g_file_get_contents (path, &data, &len, NULL))
        g_error ("cannot read '%s'", path);
      /* An exact-size copy, so that ASan sees any read past the input; never NULL, as with
       * libFuzzer (an empty input is a valid pointer to nothing). */
      g_autofree uint8_t *copy = g_malloc (MAX (len, 1));
      if (len > 0)
        memcpy (copy, data, len);
      LLVMFuzzerTestOneInput (copy, len);
#ifdef NVR_FUZZ_REPLAY_PREFIXES
      for (gsize cut = 0; cut < len && cut < 20000; cut += 1 + cut / 64)
        LLVMFuzzerTestOneInput (copy, cut);
#endif
      n++;
    }
  }
  g_print ("replayed %u inputs\n", n);
  return n > 0 ? 0 : 1;
}
#endif
