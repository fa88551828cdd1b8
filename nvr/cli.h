/* cli — the `nvr` command line: subcommand parsing and human/JSON output. The CLI never opens
 * the catalog; everything but check-config goes through the daemon's admin socket. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs `nvr ARGS...`; returns the exit status (0 ok, 1 failure, 2 usage or config error). */
int nvr_cli_main (int argc, char **argv);

G_END_DECLS
