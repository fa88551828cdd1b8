/* cli — `nvr` subcommands. Runs in the invoking user's process; blocking is fine here.
 * Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
 * Secrets: a camera password is read from a file, sent over the admin socket, never printed. */
#define G_LOG_DOMAIN "nvr-cli"

#include "cli.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "worker.h"

#define PASSWORD_FILE_MAX 1024

static const char usage_text[] =
  "Usage: nvr COMMAND [OPTIONS]\n"
  "\n"
  "Commands:\n"
  "  run                                 run the daemon\n"
  "  check-config [FILE]                 validate a config file (exit 2 if invalid)\n"
  "  cameras add NAME --main-url URL [--sub-url URL] [--user USER --password-file FILE]\n"
  "                  [--transport auto|tcp|udp]\n"
  "  cameras list [--json]\n"
  "  cameras remove NAME\n"
  "  cameras reset-identity NAME         accept a replaced camera: the next contact is pinned\n"
  "  cameras motion NAME [--mask \"x,y x,y x,y ...\"]... [--zone NAME=\"x,y ...\"]... [--clear]\n"
  "                                      motion masks and zones (0..1 coordinates); none: show\n"
  "  status [--json]                     per camera: state, last segment, bytes today\n"
  "  timeline CAMERA [--from TIME] [--to TIME] [--json]\n"
  "                                      recorded spans and gaps (default: the last 24 h)\n"
  "\n"
  "Every command takes --config FILE (default " NVR_CONFIG_DEFAULT_PATH ").\n";

/* Options of every subcommand; each uses the ones it lists in its GOptionEntry table. */
typedef struct {
  char *config;
  gboolean json;
  char *main_url;
  char *sub_url;
  char *user;
  char *password_file;
  char *transport;
  char *from;
  char *to;
} Opts;

static void
opts_clear (Opts *o)
{
  g_free (o->config);
  g_free (o->main_url);
  g_free (o->sub_url);
  g_free (o->user);
  g_free (o->password_file);
  g_free (o->transport);
  g_free (o->from);
  g_free (o->to);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Opts, opts_clear)

static int
usage_error (const char *msg)
{
  if (msg)
    g_printerr ("nvr: %s\n", msg);
  g_printerr ("%s", usage_text);
  return 2;
}

static gboolean
parse_opts (const char *name, Opts *o, gboolean with_json, gboolean with_camera, int *argc,
            char ***argv)
{
  GOptionEntry common[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config, "Config file", "FILE" },
    { NULL }
  };
  GOptionEntry json[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, "Print JSON", NULL },
    { NULL }
  };
  GOptionEntry camera[] = {
    { "main-url", 0, 0, G_OPTION_ARG_STRING, &o->main_url, "Main stream RTSP URL", "URL" },
    { "sub-url", 0, 0, G_OPTION_ARG_STRING, &o->sub_url, "Sub-stream RTSP URL", "URL" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &o->user, "Camera user name", "USER" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &o->password_file,
      "File holding the camera password", "FILE" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &o->transport, "auto, tcp or udp", "T" },
    { NULL }
  };
  GOptionEntry range[] = {
    { "from", 0, 0, G_OPTION_ARG_STRING, &o->from, "Start (ISO 8601, local time if no zone)", "TIME" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &o->to, "End (ISO 8601)", "TIME" },
    { NULL }
  };
  g_autofree char *title = g_strdup_printf ("- nvr %s", name);
  g_autoptr (GOptionContext) ctx = g_option_context_new (title);
  g_option_context_add_main_entries (ctx, common, NULL);
  if (with_json)
    g_option_context_add_main_entries (ctx, json, NULL);
  if (with_camera)
    g_option_context_add_main_entries (ctx, camera, NULL);
  if (g_str_equal (name, "timeline"))
    g_option_context_add_main_entries (ctx, range, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error)) {
    g_printerr ("nvr %s: %s\n", name, error->message);
    return FALSE;
  }
  if (o->config == NULL)
    o->config = g_strdup (NVR_CONFIG_DEFAULT_PATH);
  return TRUE;
}

/* Sends one admin command; prints the error and sets *status on failure. */
static JsonNode *
call (const char *config_path, const char *command, JsonObject *args, int *status)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) cfg = nvr_config_load (config_path, &error);
  if (cfg == NULL) {
    g_printerr ("nvr: %s\n", error->message);
    *status = 2;
    return NULL;
  }
  JsonNode *result = nvr_admin_call (cfg->admin_socket, command, args, &error);
  if (result == NULL) {
    g_printerr ("nvr: %s\n", error->message);
    *status = 1;
  }
  return result;
}

static void
print_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, node);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

static char *
read_password_file (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  if (len > PASSWORD_FILE_MAX || memchr (text, '\0', len) != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "'%s' must hold one line of text of at most %d bytes", path, PASSWORD_FILE_MAX);
    return NULL;
  }
  /* One line; a single trailing newline is not part of the password. */
  char *nl = strchr (text, '\n');
  if (nl != NULL && nl[1] != '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' holds more than one line",
                 path);
    return NULL;
  }
  if (nl != NULL)
    *nl = '\0';
  if (*text == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "'%s' is empty", path);
    return NULL;
  }
  return g_steal_pointer (&text);
}

static int
cmd_check_config (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("check-config", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc > 2)
    return usage_error ("check-config takes at most one FILE");
  const char *path = argc == 2 ? argv[1] : o.config;
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) cfg = nvr_config_load (path, &error);
  if (cfg == NULL) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  g_print ("%s: OK\n", path);
  return 0;
}

static int
cmd_run (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("run", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("run takes no arguments");
  return nvr_daemon_run (o.config);
}

static int
cmd_cameras_add (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras add", &o, FALSE, TRUE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("cameras add takes exactly one NAME");
  if (o.main_url == NULL)
    return usage_error ("cameras add needs --main-url");
  if (o.password_file != NULL && o.user == NULL)
    return usage_error ("--password-file needs --user");

  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  json_object_set_string_member (args, "main_url", o.main_url);
  if (o.sub_url)
    json_object_set_string_member (args, "sub_url", o.sub_url);
  if (o.user)
    json_object_set_string_member (args, "user", o.user);
  if (o.transport)
    json_object_set_string_member (args, "transport", o.transport);
  if (o.password_file) {
    g_autoptr (GError) error = NULL;
    g_autofree char *pw = read_password_file (o.password_file, &error);
    if (pw == NULL) {
      g_printerr ("nvr: %s\n", error->message);
      return 2;
    }
    json_object_set_string_member (args, "password", pw);
    explicit_bzero (pw, strlen (pw));
  }
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.add", args, &status);
  if (res == NULL)
    return status;
  JsonObject *cam = json_node_get_object (res);
  g_print ("Camera '%s' added (id %" G_GINT64_FORMAT ")\n",
           json_object_get_string_member (cam, "name"), json_object_get_int_member (cam, "id"));
  return 0;
}

static int
cmd_cameras_list (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras list", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("cameras list takes no arguments");
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.list", NULL, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonArray *arr = json_node_get_array (res);
  g_print ("%-4s %-20s %-9s %s\n", "ID", "NAME", "TRANSPORT", "MAIN URL");
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonObject *c = json_array_get_object_element (arr, i);
    g_print ("%-4" G_GINT64_FORMAT " %-20s %-9s %s\n", json_object_get_int_member (c, "id"),
             json_object_get_string_member (c, "name"),
             json_object_get_string_member (c, "transport"),
             json_object_get_string_member (c, "main_url"));
  }
  return 0;
}

static int
cmd_cameras_remove (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras remove", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("cameras remove takes exactly one NAME");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.remove", args, &status);
  if (res == NULL)
    return status;
  g_print ("Camera '%s' removed; its recordings are kept\n", argv[1]);
  return 0;
}

static int
cmd_cameras_reset_identity (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras reset-identity", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("cameras reset-identity takes exactly one NAME");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.reset-identity", args, &status);
  if (res == NULL)
    return status;
  g_print ("Camera '%s': identity reset; the camera that answers next is pinned\n", argv[1]);
  return 0;
}

static int
cmd_cameras_motion (int argc, char **argv)
{
  g_autofree char *config = NULL;
  g_auto (GStrv) masks = NULL;
  g_auto (GStrv) zones = NULL;
  gboolean clear = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Config file", "FILE" },
    { "mask", 0, 0, G_OPTION_ARG_STRING_ARRAY, &masks, "Masked polygon (repeatable)",
      "\"x,y x,y x,y ...\"" },
    { "zone", 0, 0, G_OPTION_ARG_STRING_ARRAY, &zones, "Named zone (repeatable)",
      "NAME=\"x,y x,y x,y ...\"" },
    { "clear", 0, 0, G_OPTION_ARG_NONE, &clear, "Remove all masks and zones first", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("NAME - nvr cameras motion");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("nvr cameras motion: %s\n", error->message);
    return 2;
  }
  if (argc != 2)
    return usage_error ("cameras motion takes exactly one NAME");
  if (config == NULL)
    config = g_strdup (NVR_CONFIG_DEFAULT_PATH);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  if (clear)
    json_object_set_boolean_member (args, "clear", TRUE);
  const char *const members[] = { "masks", "zones" };
  GStrv lists[] = { masks, zones };
  for (guint k = 0; k < 2; k++) {
    if (lists[k] == NULL)
      continue;
    JsonArray *arr = json_array_new ();
    for (guint i = 0; lists[k][i] != NULL; i++)
      json_array_add_string_element (arr, lists[k][i]);
    json_object_set_array_member (args, members[k], arr);
  }
  int status = 0;
  g_autoptr (JsonNode) res = call (config, "cameras.motion", args, &status);
  if (res == NULL)
    return status;
  JsonObject *o = json_node_get_object (res);
  const char *m = json_object_get_string_member (o, "masks");
  const char *z = json_object_get_string_member (o, "zones");
  g_print ("Camera '%s'\n  masks: %s\n  zones: %s\n", argv[1], *m ? m : "none", *z ? z : "none");
  return 0;
}

static char *
format_bytes (gint64 n)
{
  return g_format_size_full ((guint64) MAX (n, 0), G_FORMAT_SIZE_IEC_UNITS);
}

static char *
format_time (gint64 us)
{
  if (us <= 0)
    return g_strdup ("-");
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (us / G_USEC_PER_SEC);
  return g_date_time_format (t, "%H:%M:%S");
}

static int
cmd_status (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("status", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("status takes no arguments");
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "status", NULL, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonArray *cams = json_object_get_array_member (json_node_get_object (res), "cameras");
  g_print ("%-16s %-11s %-8s %-10s %-10s %s\n", "CAMERA", "STATE", "SINCE", "RECONNECTS",
           "TODAY", "LAST SEGMENT");
  for (guint i = 0; i < json_array_get_length (cams); i++) {
    JsonObject *c = json_array_get_object_element (cams, i);
    g_autofree char *since = format_time (json_object_get_int_member (c, "since_us"));
    g_autofree char *today = format_bytes (json_object_get_int_member (c, "bytes_today"));
    g_autofree char *last = g_strdup ("-");
    JsonNode *ln = json_object_get_member (c, "last_segment");
    if (ln != NULL && JSON_NODE_HOLDS_OBJECT (ln)) {
      JsonObject *l = json_node_get_object (ln);
      g_autofree char *end = format_time (json_object_get_int_member (l, "end_us"));
      g_free (last);
      if (g_strcmp0 (json_object_get_string_member (l, "state"), "recording") == 0)
        last = g_strdup_printf ("%s (recording)", json_object_get_string_member (l, "path"));
      else
        last = g_strdup_printf ("%s (%.1f s, ended %s)", json_object_get_string_member (l, "path"),
                                json_object_get_int_member (l, "duration_us") / 1e6, end);
    }
    g_print ("%-16s %-11s %-8s %-10" G_GINT64_FORMAT " %-10s %s\n",
             json_object_get_string_member (c, "name"), json_object_get_string_member (c, "state"),
             since, json_object_get_int_member (c, "reconnects"), today, last);
    const char *reason = json_object_get_string_member (c, "reason");
    if (reason && *reason)
      g_print ("%-16s   %s\n", "", reason);
  }
  return 0;
}

/* Parses an ISO 8601 time; one without a zone is local time. */
static gboolean
parse_time (const char *text, gint64 *out_us)
{
  g_autoptr (GTimeZone) local = g_time_zone_new_local ();
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (text, local);
  if (t == NULL)
    return FALSE;
  *out_us = g_date_time_to_unix (t) * G_USEC_PER_SEC + g_date_time_get_microsecond (t);
  return TRUE;
}

static int
cmd_timeline (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("timeline", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("timeline takes exactly one CAMERA");
  gint64 to_us = g_get_real_time (), from_us;
  if (o.to != NULL && !parse_time (o.to, &to_us))
    return usage_error ("--to must be an ISO 8601 time, e.g. 2026-11-28T08:00");
  from_us = to_us - (gint64) 86400 * G_USEC_PER_SEC;
  if (o.from != NULL && !parse_time (o.from, &from_us))
    return usage_error ("--from must be an ISO 8601 time, e.g. 2026-11-28T07:00");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "camera", argv[1]);
  json_object_set_int_member (args, "from_us", from_us);
  json_object_set_int_member (args, "to_us", to_us);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "timeline", args, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonArray *spans = json_object_get_array_member (json_node_get_object (res), "spans");
  for (guint i = 0; i < json_array_get_length (spans); i++) {
    JsonObject *sp = json_array_get_object_element (spans, i);
    gint64 s = json_object_get_int_member (sp, "start_us");
    gint64 e = json_object_get_int_member (sp, "end_us");
    g_autoptr (GDateTime) ts = g_date_time_new_from_unix_local (s / G_USEC_PER_SEC);
    g_autoptr (GDateTime) te = g_date_time_new_from_unix_local (e / G_USEC_PER_SEC);
    g_autofree char *a = g_date_time_format (ts, "%F %T");
    g_autofree char *b = g_date_time_format (te, "%F %T");
    g_print ("%s  %s .. %s  (%.0f s)\n",
             json_object_get_boolean_member (sp, "recorded") ? "recorded" : "gap     ", a, b,
             (e - s) / 1e6);
  }
  return 0;
}

int
nvr_cli_main (int argc, char **argv)
{
  if (argc < 2)
    return usage_error (NULL);
  const char *cmd = argv[1];
  if (strcmp (cmd, "camera-worker") == 0)
    return nvr_worker_main (argc - 1, argv + 1);
  if (strcmp (cmd, "run") == 0)
    return cmd_run (argc - 1, argv + 1);
  if (strcmp (cmd, "check-config") == 0)
    return cmd_check_config (argc - 1, argv + 1);
  if (strcmp (cmd, "status") == 0)
    return cmd_status (argc - 1, argv + 1);
  if (strcmp (cmd, "timeline") == 0)
    return cmd_timeline (argc - 1, argv + 1);
  if (strcmp (cmd, "cameras") == 0) {
    if (argc < 3)
      return usage_error ("cameras needs add, list, remove, reset-identity or motion");
    const char *sub = argv[2];
    if (strcmp (sub, "add") == 0)
      return cmd_cameras_add (argc - 2, argv + 2);
    if (strcmp (sub, "list") == 0)
      return cmd_cameras_list (argc - 2, argv + 2);
    if (strcmp (sub, "remove") == 0)
      return cmd_cameras_remove (argc - 2, argv + 2);
    if (strcmp (sub, "reset-identity") == 0)
      return cmd_cameras_reset_identity (argc - 2, argv + 2);
    if (strcmp (sub, "motion") == 0)
      return cmd_cameras_motion (argc - 2, argv + 2);
    return usage_error ("cameras needs add, list, remove, reset-identity or motion");
  }
  if (strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0 || strcmp (cmd, "help") == 0) {
    g_print ("%s", usage_text);
    return 0;
  }
  g_autofree char *msg = g_strdup_printf ("unknown command '%s'", cmd);
  return usage_error (msg);
}
