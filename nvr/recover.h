/* recover — brings the catalog and the disk back into agreement: at start-up for everything a
 * crash left behind, and at run time for the segment a dying worker had open. Main loop only.
 * The daemon never parses video itself: file durations come from `nvr camera-worker --probe`
 * run in a child process. Procedure and its crash-safety argument: docs/design/storage.md. */
#pragma once

#include <gio/gio.h>
#include "catalog.h"

G_BEGIN_DECLS

typedef struct {
  gboolean playable;      /* at least one complete fragment (or a finalized file) */
  gboolean complete;      /* finalized MP4 (moov with full sample tables) */
  gint64 duration_us;
  gint64 bytes;
  gint64 init_bytes;      /* ftyp + moov; 0 if no fragment index */
  GArray *fragments;      /* NvrFragment in file order, or NULL (playback.md "Fragment index") */
} NvrProbeInfo;

/* Frees the index; the struct can be reused. */
void nvr_probe_info_clear (NvrProbeInfo *info);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NvrProbeInfo, nvr_probe_info_clear)

/* Blocking probe; for start-up only. A missing or unplayable file is not an error: it is
 * reported as playable = FALSE. Errors mean the probe itself could not run. */
gboolean nvr_recover_probe (const char *abs_path, NvrProbeInfo *out, GError **error);
void nvr_recover_probe_async (const char *abs_path, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean nvr_recover_probe_finish (GAsyncResult *result, NvrProbeInfo *out, GError **error);

/* Settles one segment row still in state 'recording' given what its file holds: completes the
 * row from the probe, or removes the file and then the row when nothing playable is left. */
gboolean nvr_recover_settle_segment (NvrCatalog *catalog, const char *storage_root,
                                     const NvrSegmentRow *row, const NvrProbeInfo *info,
                                     GError **error);

/* The start-up procedure (storage.md, "Recovery"): settle every 'recording' row, then adopt
 * or remove files in the newest day directories of each camera that have no row, then end the
 * events left active and queue their MQTT "end" on `<@mqtt_prefix>/events` (NULL = "hearth"). */
gboolean nvr_recover_at_startup (NvrCatalog *catalog, const char *storage_root,
                                 const char *mqtt_prefix, GError **error);

G_END_DECLS
