/* Unit tests for recording paths: names, layout, and the containment check on worker reports. */
#include "paths.h"

static void
test_names (void)
{
  const char *good[] = { "porch", "a", "cam_1-b", "01234567890123456789012345678901" };
  const char *bad[] = { "", "Porch", "a b", "a/b", "..", "é", "012345678901234567890123456789012",
                        "cam.1" };
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (nvr_paths_camera_name_valid (good[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (nvr_paths_camera_name_valid (bad[i]));
  g_assert_false (nvr_paths_camera_name_valid (NULL));
}

static void
test_layout (void)
{
  g_autofree char *dir = nvr_paths_camera_dir (7, "porch");
  g_assert_cmpstr (dir, ==, "recordings/7-porch");
  /* 2026-11-28 12:10:05.5 UTC */
  gint64 t = G_GINT64_CONSTANT (1795867805500000);
  g_autofree char *seg = nvr_paths_segment (dir, t, 42);
  g_assert_cmpstr (seg, ==, "recordings/7-porch/2026-11-28/121005-000042.mp4");
  g_assert_true (nvr_paths_is_within (dir, seg));
}

static void
test_within (void)
{
  const char *dir = "recordings/7-porch";
  struct { const char *path; gboolean ok; } cases[] = {
    { "recordings/7-porch/2026-11-28/a.mp4", TRUE },
    { "recordings/7-porch/a.mp4", TRUE },
    { "recordings/7-porch", FALSE },
    { "recordings/7-porch/", FALSE },
    { "recordings/7-porchx/a.mp4", FALSE },
    { "recordings/8-garage/a.mp4", FALSE },
    { "recordings/7-porch/../8-garage/a.mp4", FALSE },
    { "recordings/7-porch/./a.mp4", FALSE },
    { "recordings/7-porch//a.mp4", FALSE },
    { "/recordings/7-porch/a.mp4", FALSE },
    { "recordings/7-porch/a\nb.mp4", FALSE },
    { "recordings/7-porch/a\\..\\b", FALSE },
    { "", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (nvr_paths_is_within (dir, cases[i].path), ==, cases[i].ok);
  g_assert_false (nvr_paths_is_within (dir, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/paths/names", test_names);
  g_test_add_func ("/paths/layout", test_layout);
  g_test_add_func ("/paths/within", test_within);
  return g_test_run ();
}
