/* main — entry point of the single `nvr` binary; everything else lives in cli.c and below. */
#include <locale.h>
#include <string.h>

#include "cli.h"
#include "httproute.h"

/* `nvr http-routes [--config FILE]`: the web API's route table as JSON (docs/design/auth.md), for
 * the security suite. The table is compiled in; --config is accepted like every subcommand. */
static int
http_routes (int argc, char **argv)
{
  for (int i = 2; i < argc; i++) {
    if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
      i++;
    else if (strncmp (argv[i], "--config=", 9) != 0) {
      g_printerr ("usage: nvr http-routes [--config FILE]\n");
      return 2;
    }
  }
  g_autofree char *json = nvr_httproute_table_json ();
  g_print ("%s\n", json);
  return 0;
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc == 2 && strcmp (argv[1], "--version") == 0) {
    g_print ("nvr %s\n", NVR_VERSION);
    return 0;
  }
  if (argc >= 2 && strcmp (argv[1], "http-routes") == 0)
    return http_routes (argc, argv);
  return nvr_cli_main (argc, argv);
}
