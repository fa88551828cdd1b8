/* Unit tests for sandbox's pure part: which TCP port a camera URL lets the worker connect to. */
#include "sandbox.h"

static void
test_url_port (void)
{
  static const struct {
    const char *url;
    gboolean ok;
    guint16 port;
  } cases[] = {
    { "rtsp://192.168.1.20/stream1", TRUE, 554 },
    { "rtsp://192.168.1.20:8554/stream1", TRUE, 8554 },
    { "RTSP://cam.local:10554/a?b=c", TRUE, 10554 },
    { "rtspt://192.168.1.20/x", TRUE, 554 },
    { "rtsps://192.168.1.20/x", TRUE, 322 },
    { "rtsps://192.168.1.20:7441/x", TRUE, 7441 },
    { "rtsp://[fe80::1]:555/x", TRUE, 555 },
    { "rtsp://user:p%40ss@10.0.0.2:556/x", TRUE, 556 },
    { "http://192.168.1.20/x", FALSE, 0 },
    { "http://192.168.1.20:554/x", FALSE, 0 },
    { "rtsp://192.168.1.20:0/x", FALSE, 0 },
    { "rtsp://192.168.1.20:65536/x", FALSE, 0 },
    { "not a url", FALSE, 0 },
    { "", FALSE, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 port = 0;
    gboolean ok = nvr_sandbox_url_port (cases[i].url, &port);
    if (ok != cases[i].ok || (ok && port != cases[i].port))
      g_error ("'%s': got %d port %u, expected %d port %u", cases[i].url, ok, port,
               cases[i].ok, cases[i].port);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sandbox/url-port", test_url_port);
  return g_test_run ();
}
