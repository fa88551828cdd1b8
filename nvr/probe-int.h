/* probe-int — what the probe process's files share (probe.c: the process and the camera test;
 * probe-onvif.c: ONVIF). Private to them, like SQLite's btreeInt.h. Main thread of the probe. */
#pragma once

#include <gst/gst.h>

#include "probe.h"
#include "wire.h"

typedef struct {
  GMainLoop *loop;
  NvrWireChannel *ch;
  gboolean requested;        /* the one request was read; later messages are ignored */
  gboolean answered;
  guint deadline;

  /* test: the stream choice (video_codec .. audio_channels, saw_streams) is written under @lock by
   * rtspsrc's thread in select-stream, all at once, and read by the main loop after it */
  GstElement *pipeline;
  GstElement *src;
  char *video_codec;        /* "h264"/"h265" selected, else NULL */
  char *other_video;        /* encoding-name of a video stream we cannot use */
  char *audio_codec;
  gint audio_rate, audio_channels;
  gboolean decoder_linked;
  gboolean saw_streams;     /* select-stream ran: the camera's SDP was read */
  GMutex lock;              /* also the fields below: streaming threads write, main reads */
  gint width, height, fps_n, fps_d;
  GBytes *still;
  gint still_width, still_height;
} Probe;

/* Sends the one `result` (@b: a{sv} being built; consumed), flushes it and ends the main loop.
 * Later calls only clear @b. */
void nvr_probe_answer (Probe *p, GVariantBuilder *b);
/* Answers `ok` false with @reason and a detail cleaned to what the daemon accepts. */
void nvr_probe_fail (Probe *p, const char *reason, const char *detail);

/* The jobs of probe-onvif.c: each enters the sandbox, works, and answers. */
void nvr_probe_onvif_profiles (Probe *p, GVariant *fields);
void nvr_probe_onvif_scan (Probe *p, GVariant *fields);
