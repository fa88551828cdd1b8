/* worker — the camera worker process (`nvr camera-worker`): one per camera, spawned by the
 * daemon with its end of a socketpair on fd 3. Parses untrusted RTSP/RTP/H.26x; holds no keys
 * and no database handle. Protocol and lifecycle: docs/design/worker.md. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Entry point of `nvr camera-worker`; returns the process exit status. */
int nvr_worker_main (int argc, char **argv);

G_END_DECLS
