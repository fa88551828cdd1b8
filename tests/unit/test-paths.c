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

/* [storage] mount: the mountinfo reader and the containment of the root in the mount. */
static void
test_mounts (void)
{
  const char *info =
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
      "30 22 0:26 / /proc rw,nosuid - proc proc rw\n"
      "41 22 8:17 / /media/usb\\040disk rw,relatime shared:20 - ext4 /dev/sdb1 rw\n"
      "42 22 8:33 /sub /srv/hearth rw - ext4 /dev/sdc1 rw\n"
      "garbage line\n"
      "43 22 0:40 / /mnt/last rw - tmpfs tmpfs rw";   /* no final newline */
  struct { const char *path; gboolean listed; } cases[] = {
    { "/", TRUE },
    { "/proc", TRUE },
    { "/media/usb disk", TRUE },       /* \040 is a space */
    { "/media/usb\\040disk", FALSE },   /* the escaped spelling is not the path */
    { "/media/usb", FALSE },
    { "/srv/hearth", TRUE },
    { "/srv", FALSE },
    { "/mnt/last", TRUE },
    { "/mnt/las", FALSE },
    { "relative", FALSE },
    { "", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (nvr_paths_mountinfo_lists (info, cases[i].path), ==, cases[i].listed);
  g_assert_false (nvr_paths_mountinfo_lists ("", "/"));
  g_assert_false (nvr_paths_mountinfo_lists (NULL, "/"));

  struct { const char *dir, *path; gboolean under; } under[] = {
    { "/media/disk", "/media/disk/hearth", TRUE },
    { "/media/disk", "/media/disk", TRUE },
    { "/media/disk/", "/media/disk/hearth", TRUE },
    { "/media/disk", "/media/disk2/hearth", FALSE },
    { "/media/disk", "/media", FALSE },
    { "/media/disk", "/media/disk/../etc", FALSE },
    { "/", "/var/lib/hearth", TRUE },
    { "media/disk", "media/disk/x", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (under); i++)
    g_assert_cmpint (nvr_paths_is_under (under[i].dir, under[i].path), ==, under[i].under);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/paths/names", test_names);
  g_test_add_func ("/paths/layout", test_layout);
  g_test_add_func ("/paths/within", test_within);
  g_test_add_func ("/paths/mounts", test_mounts);
  return g_test_run ();
}
