/* playlist — the HLS media playlist of one camera over a time window, from the fragment index
 * (docs/design/playback.md "Playlist"). Pure: no I/O, no clock; the catalog supplies the files
 * and fragments (nvr_catalog_playlist), the caller the window. Any thread.
 * Invariants: every EXTINF rounds to at most EXT-X-TARGETDURATION; every URI is relative to the
 * playlist (so it goes back through the front and the daemon's per-object authorization);
 * files without an index (recorded before schema v8) are left out, as gaps. */
#pragma once

#include <glib.h>

#include "catalog.h"

G_BEGIN_DECLS

/* Longest window a playlist may cover (the route refuses more). */
#define NVR_PLAYLIST_MAX_RANGE_US ((gint64) 24 * 3600 * G_USEC_PER_SEC)

/* Builds the playlist of the fragments of @files (ordered by start; fragments in @frags) whose
 * wall-clock span [file start + fragment start, + duration) overlaps [@from_us, @to_us).
 * With no fragment in the window the answer is an empty VOD playlist. *live is TRUE when the
 * playlist is an EVENT playlist: a file still being recorded is in it and the window goes past
 * its last fragment, so more may come (no EXT-X-ENDLIST; players reload it). */
char *nvr_playlist_build (const NvrPlaylistFile *files, guint n_files, const NvrFragment *frags,
                          guint n_frags, gint64 from_us, gint64 to_us, gboolean *live);

G_END_DECLS
