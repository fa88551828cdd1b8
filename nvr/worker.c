/* worker — placeholder until the camera worker lands. */
#include "worker.h"

int
nvr_worker_main (int argc, char **argv)
{
  g_printerr ("camera-worker: not implemented yet\n");
  return 1;
}
