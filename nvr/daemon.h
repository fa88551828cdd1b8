/* daemon — `nvr run`: the one application context (config, catalog, supervisor, admin socket)
 * and the main loop that owns it. Holds the storage lock: one daemon per storage root. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs until SIGTERM/SIGINT; returns the process exit status (2 = bad config). */
int nvr_daemon_run (const char *config_path);

G_END_DECLS
