/* probe — `nvr camera-probe`: a short-lived, sandboxed process that talks to one camera for the
 * daemon and answers one typed result (docs/design/admin.md "Testing and finding cameras").
 * It tests an RTSP URL (codec, size, frame rate, audio, one JPEG still), lists a camera's ONVIF
 * profiles, or sends a WS-Discovery probe. The camera's bytes (RTSP, RTP, video, SOAP XML) are
 * parsed only here, never in the daemon. Main thread (GStreamer's streaming threads post to it).
 *
 * fd 3 is a socketpair end (nvr/wire.h framing). The daemon sends one `request`; the probe sends
 * one `result` and exits 0. The fields are listed in docs/design/admin.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_PROBE_STILL_MAX (512 * 1024)   /* bytes of the JPEG still */
#define NVR_PROBE_STILL_MAX_WIDTH 640
#define NVR_PROBE_TEST_TIMEOUT_S 12        /* the probe gives up by itself after this */
#define NVR_PROBE_ONVIF_TIMEOUT_S 5        /* per SOAP request */
#define NVR_PROBE_SCAN_WAIT_MS 3000        /* how long a scan listens for ProbeMatches */
#define NVR_PROBE_SCAN_MAX_DEVICES 64
#define NVR_PROBE_DISCOVERY_ADDRESS "239.255.255.250"
#define NVR_PROBE_DISCOVERY_PORT 3702

int nvr_probe_main (int argc, char **argv);

G_END_DECLS
