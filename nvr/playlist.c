/* playlist — HLS (RFC 8216, version 7) media playlist with EXT-X-MAP and EXT-X-BYTERANGE over
 * segment files of the fragment index. Pure; any thread. Layout of the answer:
 * header; then per file: [EXT-X-DISCONTINUITY], EXT-X-MAP (its init bytes),
 * EXT-X-PROGRAM-DATE-TIME (wall clock of its first listed fragment), then EXTINF +
 * EXT-X-BYTERANGE + URI per fragment; EXT-X-ENDLIST unless live. */
#define G_LOG_DOMAIN "nvr-playlist"

#include "playlist.h"

/* "segments/<id>/media": relative to ".../cameras/<cam>/playlist.m3u8". */
#define MEDIA_URI "segments/%" G_GINT64_FORMAT "/media"

/* ISO 8601 UTC with milliseconds, from integer microseconds (no clock read). */
static void
append_date (GString *out, gint64 wall_us)
{
  gint64 s = wall_us >= 0 ? wall_us / G_USEC_PER_SEC : (wall_us - G_USEC_PER_SEC + 1) / G_USEC_PER_SEC;
  gint64 ms = (wall_us - s * G_USEC_PER_SEC) / 1000;
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (s);
  if (t == NULL) {
    g_string_append (out, "1970-01-01T00:00:00.000Z");
    return;
  }
  g_autofree char *text = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  g_string_append_printf (out, "%s.%03" G_GINT64_FORMAT "Z", text, ms);
}

static gboolean
overlaps (const NvrPlaylistFile *file, const NvrFragment *f, gint64 from_us, gint64 to_us)
{
  gint64 start = file->start_us + f->start_us;
  return start < to_us && start + f->duration_us > from_us;
}

char *
nvr_playlist_build (const NvrPlaylistFile *files, guint n_files, const NvrFragment *frags,
                    guint n_frags, gint64 from_us, gint64 to_us, gboolean *live)
{
  *live = FALSE;
  /* First pass: what is in the window, the longest fragment, and whether all start with a
   * keyframe (then every fragment can be played on its own: EXT-X-INDEPENDENT-SEGMENTS). */
  guint listed = 0;
  gint64 target_s = 1;
  gboolean all_key = TRUE;
  for (guint i = 0; i < n_files; i++) {
    const NvrPlaylistFile *file = &files[i];
    if (file->init_bytes <= 0 || file->first > n_frags || file->n > n_frags - file->first)
      continue;
    gint64 last_end = 0;
    for (guint j = file->first; j < file->first + file->n; j++) {
      last_end = file->start_us + frags[j].start_us + frags[j].duration_us;
      if (!overlaps (file, &frags[j], from_us, to_us))
        continue;
      listed++;
      /* EXTINF rounded to the nearest integer must not exceed the target (RFC 8216 4.3.3.1) */
      target_s = MAX (target_s, (frags[j].duration_us + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
      all_key = all_key && frags[j].keyframe;
    }
    if (file->recording && to_us > last_end)
      *live = TRUE;
  }
  if (listed == 0) {
    /* Nothing to play here: a valid, empty, final playlist (not an error: the window is just
     * empty; 404 stays reserved for "not visible to you"). */
    *live = FALSE;
    return g_strdup ("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n"
                     "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n");
  }

  GString *out = g_string_sized_new (256 + (gsize) listed * 96);
  g_string_append (out, "#EXTM3U\n#EXT-X-VERSION:7\n");
  g_string_append_printf (out, "#EXT-X-TARGETDURATION:%" G_GINT64_FORMAT "\n", target_s);
  g_string_append (out, "#EXT-X-MEDIA-SEQUENCE:0\n");
  g_string_append_printf (out, "#EXT-X-PLAYLIST-TYPE:%s\n", *live ? "EVENT" : "VOD");
  if (all_key)
    g_string_append (out, "#EXT-X-INDEPENDENT-SEGMENTS\n");

  gboolean first_file = TRUE;
  for (guint i = 0; i < n_files; i++) {
    const NvrPlaylistFile *file = &files[i];
    if (file->init_bytes <= 0 || file->first > n_frags || file->n > n_frags - file->first)
      continue;
    gboolean opened = FALSE;
    for (guint j = file->first; j < file->first + file->n; j++) {
      const NvrFragment *f = &frags[j];
      if (!overlaps (file, f, from_us, to_us))
        continue;
      if (!opened) {
        /* A new file: a new init segment and timestamps that restart, and maybe a gap before
         * it; the date says where it lies on the wall clock. */
        if (!first_file)
          g_string_append (out, "#EXT-X-DISCONTINUITY\n");
        g_string_append_printf (out, "#EXT-X-MAP:URI=\"" MEDIA_URI "\",BYTERANGE=\"%"
                                G_GINT64_FORMAT "@0\"\n", file->segment_id, file->init_bytes);
        g_string_append (out, "#EXT-X-PROGRAM-DATE-TIME:");
        append_date (out, file->start_us + f->start_us);
        g_string_append_c (out, '\n');
        opened = TRUE;
        first_file = FALSE;
      }
      g_string_append_printf (out, "#EXTINF:%" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT ",\n"
                              "#EXT-X-BYTERANGE:%" G_GINT64_FORMAT "@%" G_GINT64_FORMAT "\n"
                              MEDIA_URI "\n", f->duration_us / G_USEC_PER_SEC,
                              f->duration_us % G_USEC_PER_SEC, f->size, f->offset,
                              file->segment_id);
    }
  }
  if (!*live)
    g_string_append (out, "#EXT-X-ENDLIST\n");
  return g_string_free (out, FALSE);
}
