/* main — entry point of the single `nvr` binary; everything else lives in cli.c and below. */
#include <locale.h>

#include "cli.h"

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  return nvr_cli_main (argc, argv);
}
