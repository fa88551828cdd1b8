/* reaper — carries out retention: every interval (and when asked) it reads the catalog's oldest
 * segments and the filesystem's free space, asks the pure planner what to delete, moves those
 * rows to the garbage table, then unlinks the files on a worker thread and forgets them.
 * Main loop only (the unlinking runs on its own thread). Crash-safe at every step:
 * docs/design/retention.md. */
#pragma once

#include <glib.h>
#include "catalog.h"
#include "config.h"

G_BEGIN_DECLS

/* Segments looked at per camera per pass; a pass that needs more schedules another at once. */
#define NVR_REAPER_WINDOW 256

typedef struct _NvrReaper NvrReaper;

/* @config and @catalog must outlive the reaper. Starts its timer. */
NvrReaper *nvr_reaper_new (const NvrConfig *config, NvrCatalog *catalog);
/* Waits for an unlink batch in progress, then frees. */
void nvr_reaper_free (NvrReaper *reaper);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrReaper, nvr_reaper_free)

/* Unlinks files named by garbage rows and forgets them; blocking, for start-up recovery. */
gboolean nvr_reaper_collect_garbage_sync (NvrCatalog *catalog, const char *storage_root,
                                          GError **error);

G_END_DECLS
