/* main — `nvr` subcommand dispatch. */
#include <string.h>
#include <gst/gst.h>
#include "worker.h"

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "camera-worker") == 0)
    return nvr_worker_main (argc - 1, argv + 1);
  g_printerr ("usage: nvr camera-worker\n");
  return 2;
}
