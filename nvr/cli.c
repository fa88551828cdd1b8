/* cli — `nvr` subcommands. Runs in the invoking user's process; blocking is fine here.
 * Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
 * Secrets: a camera password is read from a file, sent over the admin socket, never printed. */
#define G_LOG_DOMAIN "nvr-cli"

#include "cli.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <qrencode.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "probe.h"
#include "hostinfo.h"
#include "signing.h"
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
  "  cameras test URL [--user USER --password-file FILE] [--transport auto|tcp|udp] [--json]\n"
  "                                      connect once (in a probe process) and show codec,\n"
  "                                      size, frame rate and audio; exit 1 if unusable\n"
  "  onvif profiles ADDRESS [--user USER --password-file FILE] [--json]\n"
  "                                      an ONVIF camera's profiles and their RTSP URLs\n"
  "  onvif scan [--json]                 ONVIF devices that answer a WS-Discovery probe\n"
  "  cameras recording NAME on|off       switch recording off (state paused, kept across\n"
  "                                      restarts) or back on; needs no MQTT\n"
  "  cameras detection NAME on|off       switch motion detection off or on (kept across\n"
  "                                      restarts; also <prefix>/<camera>/detect/set)\n"
  "  status [--json]                     per camera: state, last segment, bytes today\n"
  "  timeline CAMERA [--from TIME] [--to TIME] [--json]\n"
  "                                      recorded spans and gaps (default: the last 24 h)\n"
  "  pair --name NAME --cameras a,b [--admin] [--ttl 10m|1h|90s] [--json]\n"
  "                                      a single-use pairing code, URL and QR code for a\n"
  "                                      browser (default TTL 10 min, at most 24 h)\n"
  "  setup [--ttl 10m|1h|90s]            first start: the addresses to open, the certificate's\n"
  "                                      fingerprint and an admin pairing code with its QR\n"
  "  web-front                           the web front's listener and certificate names, one\n"
  "                                      key=value a line (hearth-web.service runs it)\n"
  "  devices list [--json]\n"
  "  devices revoke ID|NAME              unpair a device: its sessions and live views end\n"
  "  devices cameras ID|NAME a,b         replace the cameras a device may see (\"\" = none)\n"
  "  audit [--limit N] [--json]         the audit trail of admin changes, newest first\n"
  "                                      (default 100 entries, at most 500)\n"
  "  http-routes                         the web API's route table as JSON\n"
  "  box [--json]                        this box's export-signing key: fingerprint and\n"
  "                                      public key (asks the running daemon)\n"
  "  verify FILE.mp4 FILE.sig [--key PUBLIC_KEY]\n"
  "                                      check an export's signature (no daemon needed);\n"
  "                                      exit 0 only when valid\n"
  "  --version                           print the version (meson's project version)\n"
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
  char *name;        /* pair */
  char *cameras;
  gboolean admin;
  char *ttl;
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
  g_free (o->name);
  g_free (o->cameras);
  g_free (o->ttl);
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
  GOptionEntry pair[] = {
    { "name", 0, 0, G_OPTION_ARG_STRING, &o->name, "The new device's name", "NAME" },
    { "cameras", 0, 0, G_OPTION_ARG_STRING, &o->cameras, "Cameras it may see", "a,b" },
    { "admin", 0, 0, G_OPTION_ARG_NONE, &o->admin, "It may manage devices", NULL },
    { "ttl", 0, 0, G_OPTION_ARG_STRING, &o->ttl, "How long the code is valid", "10m|1h|90s" },
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
  if (g_str_equal (name, "pair") || g_str_equal (name, "setup"))
    g_option_context_add_main_entries (ctx, pair, NULL);
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

/* Adds "user" and "password" (from --password-file) to @args; FALSE (printed) on error. */
static gboolean
add_credentials (const Opts *o, JsonObject *args)
{
  if (o->password_file != NULL && o->user == NULL) {
    usage_error ("--password-file needs --user");
    return FALSE;
  }
  if (o->user)
    json_object_set_string_member (args, "user", o->user);
  if (o->password_file) {
    g_autoptr (GError) error = NULL;
    g_autofree char *pw = read_password_file (o->password_file, &error);
    if (pw == NULL) {
      g_printerr ("nvr: %s\n", error->message);
      return FALSE;
    }
    json_object_set_string_member (args, "password", pw);
    explicit_bzero (pw, strlen (pw));
  }
  return TRUE;
}

/* Prints a probe's answer; 0 when it says ok, 1 otherwise. */
static int
print_probe_result (JsonNode *res, gboolean json, void (*human) (JsonObject *))
{
  JsonObject *o = json_node_get_object (res);
  gboolean ok = json_object_get_boolean_member_with_default (o, "ok", FALSE);
  if (json)
    print_json (res);
  else if (!ok)
    g_print ("Failed (%s): %s\n", json_object_get_string_member_with_default (o, "reason", "?"),
             json_object_get_string_member_with_default (o, "detail", ""));
  else
    human (o);
  return ok ? 0 : 1;
}

static void
print_test (JsonObject *o)
{
  JsonObject *v = json_object_get_object_member (o, "video");
  JsonNode *fps = json_object_get_member (v, "fps");
  g_autofree char *fps_text = JSON_NODE_HOLDS_NULL (fps) ? g_strdup ("unknown")
                              : g_strdup_printf ("%g", json_node_get_double (fps));
  g_print ("OK: video %s %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT " at %s fps\n",
           json_object_get_string_member (v, "codec"), json_object_get_int_member (v, "width"),
           json_object_get_int_member (v, "height"), fps_text);
  JsonNode *an = json_object_get_member (o, "audio");
  if (an == NULL || JSON_NODE_HOLDS_NULL (an)) {
    g_print ("    audio: none\n");
  } else {
    JsonObject *a = json_node_get_object (an);
    g_print ("    audio: %s %" G_GINT64_FORMAT " Hz, %" G_GINT64_FORMAT " channel(s)\n",
             json_object_get_string_member (a, "codec"), json_object_get_int_member (a, "rate"),
             json_object_get_int_member (a, "channels"));
  }
  g_print ("    still: %zu characters of data URL (--json shows it)\n",
           strlen (json_object_get_string_member (o, "still")));
}

static int
cmd_cameras_test (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras test", &o, TRUE, TRUE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("cameras test takes exactly one URL");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "main_url", argv[1]);
  if (o.transport)
    json_object_set_string_member (args, "transport", o.transport);
  if (!add_credentials (&o, args))
    return 2;
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.test", args, &status);
  if (res == NULL)
    return status;
  return print_probe_result (res, o.json, print_test);
}

static void
print_profiles (JsonObject *o)
{
  JsonNode *dn = json_object_get_member (o, "device");
  if (dn != NULL && JSON_NODE_HOLDS_OBJECT (dn)) {
    JsonObject *d = json_node_get_object (dn);
    g_print ("Device: %s %s, firmware %s\n", json_object_get_string_member (d, "manufacturer"),
             json_object_get_string_member (d, "model"),
             json_object_get_string_member (d, "firmware"));
  }
  JsonArray *a = json_object_get_array_member (o, "profiles");
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *p = json_array_get_object_element (a, i);
    g_print ("%-16s %-20s %-6s %5" G_GINT64_FORMAT "x%-5" G_GINT64_FORMAT " %3" G_GINT64_FORMAT
             " fps  %s\n", json_object_get_string_member (p, "token"),
             json_object_get_string_member (p, "name"),
             json_object_get_string_member (p, "encoding"), json_object_get_int_member (p, "width"),
             json_object_get_int_member (p, "height"), json_object_get_int_member (p, "fps"),
             json_object_get_string_member (p, "rtsp_url"));
  }
}

static void
print_devices (JsonObject *o)
{
  JsonArray *a = json_object_get_array_member (o, "devices");
  if (json_array_get_length (a) == 0)
    g_print ("No ONVIF device answered within %d s\n", NVR_PROBE_SCAN_WAIT_MS / 1000);
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *d = json_array_get_object_element (a, i);
    g_print ("%-24s %s\n", json_object_get_string_member (d, "address"),
             json_object_get_string_member (d, "endpoint"));
  }
}

static int
cmd_onvif (int argc, char **argv)
{
  const char *sub = argc >= 2 ? argv[1] : "";
  gboolean scan = strcmp (sub, "scan") == 0;
  if (!scan && strcmp (sub, "profiles") != 0)
    return usage_error ("onvif needs profiles or scan");
  g_auto (Opts) o = { 0 };
  argc--;
  argv++;
  if (!parse_opts (scan ? "onvif scan" : "onvif profiles", &o, TRUE, !scan, &argc, &argv))
    return 2;
  if (argc != (scan ? 1 : 2))
    return usage_error (scan ? "onvif scan takes no arguments"
                             : "onvif profiles takes exactly one ADDRESS");
  g_autoptr (JsonObject) args = json_object_new ();
  if (!scan) {
    json_object_set_string_member (args, "address", argv[1]);
    if (!add_credentials (&o, args))
      return 2;
  }
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, scan ? "onvif.scan" : "onvif.profiles", args,
                                   &status);
  if (res == NULL)
    return status;
  return print_probe_result (res, o.json, scan ? print_devices : print_profiles);
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

static int
cmd_cameras_recording (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras recording", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 3 || (strcmp (argv[2], "on") != 0 && strcmp (argv[2], "off") != 0))
    return usage_error ("cameras recording takes a NAME and on or off");
  gboolean on = strcmp (argv[2], "on") == 0;
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  json_object_set_boolean_member (args, "on", on);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.recording", args, &status);
  if (res == NULL)
    return status;
  if (on)
    g_print ("Camera '%s': recording switched on\n", argv[1]);
  else
    g_print ("Camera '%s': recording switched off (paused until `nvr cameras recording %s on`)\n",
             argv[1], argv[1]);
  return 0;
}

/* `nvr cameras detection NAME on|off` (issue 13): kept across restarts, shown in `nvr status`. */
static int
cmd_cameras_detection (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("cameras detection", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 3 || (strcmp (argv[2], "on") != 0 && strcmp (argv[2], "off") != 0))
    return usage_error ("cameras detection takes a NAME and on or off");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", argv[1]);
  json_object_set_boolean_member (args, "on", strcmp (argv[2], "on") == 0);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "cameras.detection", args, &status);
  if (res == NULL)
    return status;
  g_print ("Camera '%s': motion detection switched %s\n", argv[1], argv[2]);
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

/* The health report (the web API's GET health, same builder): disk, retention, per camera
 * footage and rate, MQTT. */
static void
print_health (JsonObject *h)
{
  if (h == NULL)
    return;
  JsonObject *disk = json_object_get_object_member (h, "disk");
  JsonObject *ret = json_object_get_object_member (h, "retention");
  JsonObject *mq = json_object_get_object_member (h, "mqtt");
  g_autofree char *total = format_bytes (json_object_get_int_member (disk, "total_bytes"));
  g_autofree char *free_b = format_bytes (json_object_get_int_member (disk, "free_bytes"));
  g_print ("\nnvr %s, up %" G_GINT64_FORMAT " s; storage %s: %s free of %s\n",
           json_object_get_string_member (h, "version"),
           json_object_get_int_member (h, "uptime_s"),
           json_object_get_string_member (disk, "path"), free_b, total);
  JsonNode *days = json_object_get_member (ret, "days_at_current_rate");
  g_autofree char *days_text = JSON_NODE_HOLDS_NULL (days)
      ? g_strdup ("unknown yet") : g_strdup_printf ("%.1f", json_node_get_double (days));
  g_print ("retention: max age %" G_GINT64_FORMAT " d (0 = none), max bytes %" G_GINT64_FORMAT
           ", min free %" G_GINT64_FORMAT ", high water %" G_GINT64_FORMAT "%%, event days %"
           G_GINT64_FORMAT "; days of footage at the current rate: %s\n",
           json_object_get_int_member (ret, "max_age_days"),
           json_object_get_int_member (ret, "max_bytes"),
           json_object_get_int_member (ret, "min_free_bytes"),
           json_object_get_int_member (ret, "high_water_percent"),
           json_object_get_int_member (ret, "event_days"), days_text);
  JsonArray *cams = json_object_get_array_member (h, "cameras");
  g_print ("%-16s %-10s %-10s %-12s %-10s %s\n", "CAMERA", "FOOTAGE", "DAYS KEPT", "PER DAY",
           "RECONNECTS", "LAST ERROR");
  for (guint i = 0; i < json_array_get_length (cams); i++) {
    JsonObject *c = json_array_get_object_element (cams, i);
    g_autofree char *bytes = format_bytes (json_object_get_int_member (c, "bytes"));
    JsonNode *pd = json_object_get_member (c, "bytes_per_day");
    g_autofree char *per_day = JSON_NODE_HOLDS_NULL (pd) ? g_strdup ("-")
                                                         : format_bytes (json_node_get_int (pd));
    JsonNode *le = json_object_get_member (c, "last_error");
    g_print ("%-16s %-10s %-10.2f %-12s %-10" G_GINT64_FORMAT " %s\n",
             json_object_get_string_member (c, "name"), bytes,
             json_object_get_double_member (c, "days_kept"), per_day,
             json_object_get_int_member (c, "reconnects_today"),
             JSON_NODE_HOLDS_NULL (le) ? "-" : json_node_get_string (le));
  }
  g_print ("mqtt: %s, outbox backlog %" G_GINT64_FORMAT "\n",
           json_object_get_string_member (mq, "state"),
           json_object_get_int_member (mq, "outbox_backlog"));
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
    const char *paused_by = json_object_get_string_member_with_default (c, "paused_by", "");
    if (*paused_by) {
      /* Who and when: a camera switched off must never pass for one that is fine. */
      g_autoptr (GDateTime) at = g_date_time_new_from_unix_local (
          json_object_get_int_member (c, "paused_us") / G_USEC_PER_SEC);
      g_autofree char *when = at ? g_date_time_format (at, "%Y-%m-%d %H:%M:%S") : g_strdup ("?");
      g_print ("%-16s   recording paused by %s at %s; resume: nvr cameras recording %s on\n", "",
               strcmp (paused_by, "mqtt") == 0 ? "an MQTT command" : "the command line", when,
               json_object_get_string_member (c, "name"));
    } else if (reason && *reason) {
      g_print ("%-16s   %s\n", "", reason);
    }
    if (!json_object_get_boolean_member_with_default (c, "detection", TRUE))
      g_print ("%-16s   motion detection off; on again: nvr cameras detection %s on\n", "",
               json_object_get_string_member (c, "name"));
  }
  print_health (json_object_get_object_member (json_node_get_object (res), "health"));
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

/* ---- pairing and devices ---- */

/* "90s", "10m", "1h" or plain seconds; FALSE if malformed or not positive. */
static gboolean
parse_ttl (const char *text, gint64 *out_s)
{
  char *end = NULL;
  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  guint64 v = g_ascii_strtoull (text, &end, 10);
  gint64 unit = 1;
  if (*end == 'm')
    unit = 60;
  else if (*end == 'h')
    unit = 3600;
  else if (*end != 's' && *end != '\0')
    return FALSE;
  if (*end != '\0' && end[1] != '\0')
    return FALSE;
  if (v == 0 || v > (guint64) 365 * 24 * 3600)
    return FALSE;
  *out_s = (gint64) v * unit;
  return TRUE;
}

/* "a,b" -> ["a", "b"]; "" -> []. */
static JsonArray *
names_array (const char *list)
{
  JsonArray *arr = json_array_new ();
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    g_strstrip (parts[i]);
    if (*parts[i] != '\0')
      json_array_add_string_element (arr, parts[i]);
  }
  return arr;
}

/* Prints @text as a QR code with half-block characters: one character is one module wide and
 * two modules high, with a 4-module quiet zone. Light modules are drawn; on a terminal the
 * colours are set so that it scans whatever the terminal's theme. */
static void
print_qr (const char *text)
{
  QRcode *qr = QRcode_encodeString (text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
  if (qr == NULL) {
    g_printerr ("nvr: cannot make a QR code of the URL: %s\n", g_strerror (errno));
    return;
  }
  const int quiet = 4, size = qr->width + 2 * quiet;
  gboolean tty = isatty (STDOUT_FILENO);
  GString *out = g_string_new (NULL);
  for (int y = 0; y < size; y += 2) {
    g_string_append (out, tty ? "  \033[97;40m" : "  ");
    for (int x = 0; x < size; x++) {
      gboolean light[2];
      for (int k = 0; k < 2; k++) {
        int mx = x - quiet, my = y + k - quiet;
        gboolean inside = mx >= 0 && my >= 0 && mx < qr->width && my < qr->width;
        light[k] = !inside || !(qr->data[my * qr->width + mx] & 1);
        if (y + k >= size)
          light[k] = FALSE;
      }
      g_string_append (out, light[0] ? (light[1] ? "\u2588" : "\u2580")
                                     : (light[1] ? "\u2584" : " "));
    }
    g_string_append (out, tty ? "\033[0m\n" : "\n");
  }
  QRcode_free (qr);
  g_print ("%s", out->str);
  g_string_free (out, TRUE);
}

static int
cmd_pair (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("pair", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("pair takes no arguments, only options");
  if (o.name == NULL || o.cameras == NULL)
    return usage_error ("pair needs --name NAME and --cameras a,b");
  gint64 ttl_s = 0;
  if (o.ttl != NULL && !parse_ttl (o.ttl, &ttl_s))
    return usage_error ("--ttl must look like 90s, 10m or 1h");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", o.name);
  json_object_set_array_member (args, "cameras", names_array (o.cameras));
  json_object_set_boolean_member (args, "admin", o.admin);
  if (ttl_s > 0)
    json_object_set_int_member (args, "ttl_s", ttl_s);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "pair", args, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonObject *r = json_node_get_object (res);
  const char *code = json_object_get_string_member (r, "code");
  const char *url = json_object_get_string_member_with_default (r, "url", NULL);
  const char *fp = json_object_get_string_member_with_default (r, "fingerprint", NULL);
  const char *fp_error = json_object_get_string_member_with_default (r, "fingerprint_error",
                                                                     NULL);
  gint64 expires_us = json_object_get_int_member (r, "expires_us");
  g_autoptr (GDateTime) until = g_date_time_new_from_unix_local (expires_us / G_USEC_PER_SEC);
  g_autofree char *until_text = g_date_time_format (until, "%F %H:%M:%S");
  g_print ("Pairing code for '%s' (cameras: %s%s), single use, valid until %s:\n\n  %s\n\n",
           o.name, *o.cameras ? o.cameras : "none", o.admin ? "; admin" : "", until_text, code);
  if (url != NULL) {
    g_print ("Open this on the new device, or scan the QR code:\n  %s\n\n", url);
    print_qr (url);
  } else {
    g_print ("The web API is off ([web] origin is not set): no URL to open.\n");
  }
  if (fp != NULL)
    g_print ("\nThe browser will warn about the certificate; accept it only if its SHA-256\n"
             "fingerprint is:\n  %s\n", fp);
  else if (fp_error != NULL)
    g_printerr ("nvr: warning: cannot show the certificate fingerprint: %s\n", fp_error);
  return 0;
}

/* The config with [web] origin = auto resolved the way the daemon resolves it at its start
 * (same host, same kernel: the same list unless an address changed since). */
static NvrConfig *
load_resolved (const char *path, GError **error)
{
  g_autoptr (NvrConfig) cfg = nvr_config_load (path, error);
  if (cfg == NULL)
    return NULL;
  if (cfg->web_origin_auto) {
    g_autofree char *host = NULL;
    g_auto (GStrv) addrs = NULL;
    if (!nvr_hostinfo_read (&host, &addrs, error) ||
        !nvr_config_origins_derive (cfg, host, (const char *const *) addrs, error))
      return NULL;
  }
  return g_steal_pointer (&cfg);
}

/* "https://host[:port]" -> "host" ("[v6]" -> "v6"): a name for the certificate. */
static char *
origin_host (const char *origin)
{
  const char *h = origin + strlen ("https://");
  if (*h == '[')
    return g_strndup (h + 1, strcspn (h + 1, "]"));
  return g_strndup (h, strcspn (h, ":"));
}

/* `nvr web-front`: what hearth-web.service needs from hearth.conf and the host, one key=value a
 * line: address=, port=, socket=, storage_root=, then host= for every name the certificate must
 * carry (the host name, <host>.local, localhost, the LAN addresses, and the host of every
 * configured origin). Hosts are [a-z0-9.:-] only; paths are the config's (absolute, one line). */
static int
cmd_web_front (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("web-front", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("web-front takes no arguments");
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) cfg = nvr_config_load (o.config, &error);
  g_autofree char *host = NULL;
  g_auto (GStrv) addrs = NULL;
  g_auto (GStrv) hosts = cfg && nvr_hostinfo_read (&host, &addrs, &error)
                             ? nvr_config_front_hosts (host, (const char *const *) addrs, &error)
                             : NULL;
  if (hosts == NULL) {
    g_printerr ("nvr: %s\n", error->message);
    return cfg == NULL ? 2 : 1;
  }
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; hosts[i] != NULL; i++)
    g_ptr_array_add (all, hosts[i][0] == '[' ? g_strndup (hosts[i] + 1, strlen (hosts[i]) - 2)
                                             : g_strdup (hosts[i]));
  for (guint i = 0; !cfg->web_origin_auto && cfg->web_origins && cfg->web_origins[i]; i++) {
    g_autofree char *h = origin_host (cfg->web_origins[i]);
    gboolean seen = FALSE;
    for (guint j = 0; j < all->len && !seen; j++)
      seen = strcmp (all->pdata[j], h) == 0;
    if (!seen)
      g_ptr_array_add (all, g_steal_pointer (&h));
  }
  g_print ("address=%s\nport=%u\nsocket=%s\nstorage_root=%s\n", cfg->web_listen_address,
           cfg->web_listen_port, cfg->web_socket, cfg->storage_root);
  for (guint i = 0; i < all->len; i++)
    g_print ("host=%s\n", (const char *) all->pdata[i]);
  return 0;
}

/* `nvr setup`: what the household needs after `apt install`, in one place: where to point the
 * browser, how to recognise the certificate, and an admin pairing code for the first browser.
 * The code is made by the running daemon (admin socket: root or [daemon] admin_group). */
static int
cmd_setup (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("setup", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1 || o.name != NULL || o.cameras != NULL || o.admin)
    return usage_error ("setup takes only --ttl (the code is for an admin, every camera)");
  gint64 ttl_s = 0;
  if (o.ttl != NULL && !parse_ttl (o.ttl, &ttl_s))
    return usage_error ("--ttl must look like 90s, 10m or 1h");
  g_autoptr (GError) error = NULL;
  g_autoptr (NvrConfig) cfg = load_resolved (o.config, &error);
  if (cfg == NULL) {
    g_printerr ("nvr: %s\n", error->message);
    return 2;
  }
  if (cfg->web_origin == NULL) {
    g_printerr ("nvr: the web API is off: set [web] origin (auto, or the addresses browsers "
                "use) in %s and restart hearth\n", o.config);
    return 2;
  }
  /* every camera the box has now; an admin adds cameras to devices later (nvr devices cameras) */
  int status = 0;
  g_autoptr (JsonNode) cams = call (o.config, "cameras.list", NULL, &status);
  if (cams == NULL) {
    g_printerr ("nvr: is the daemon running? (systemctl status hearth)\n");
    return status;
  }
  g_autoptr (JsonArray) names = json_array_new ();
  JsonArray *arr = json_node_get_array (cams);
  for (guint i = 0; i < json_array_get_length (arr); i++)
    json_array_add_string_element (
        names, json_object_get_string_member (json_array_get_object_element (arr, i), "name"));
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *name = g_date_time_format (now, "admin %F %H:%M");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "name", name);
  json_object_set_array_member (args, "cameras", json_array_ref (names));
  json_object_set_boolean_member (args, "admin", TRUE);
  if (ttl_s > 0)
    json_object_set_int_member (args, "ttl_s", ttl_s);
  g_autoptr (JsonNode) res = call (o.config, "pair", args, &status);
  if (res == NULL)
    return status;
  JsonObject *r = json_node_get_object (res);
  const char *code = json_object_get_string_member (r, "code");
  const char *url = json_object_get_string_member_with_default (r, "url", NULL);
  const char *fp = json_object_get_string_member_with_default (r, "fingerprint", NULL);
  const char *fp_error = json_object_get_string_member_with_default (r, "fingerprint_error",
                                                                     NULL);
  gint64 expires_us = json_object_get_int_member (r, "expires_us");
  g_autoptr (GDateTime) until = g_date_time_new_from_unix_local (expires_us / G_USEC_PER_SEC);
  g_autofree char *until_text = g_date_time_format (until, "%F %H:%M:%S");

  g_print ("Hearth is reachable at:\n");
  for (guint i = 0; cfg->web_origins[i] != NULL; i++)
    g_print ("  %s/\n", cfg->web_origins[i]);
  if (fp != NULL)
    g_print ("\nThe browser will warn about the certificate (it is made by this box, not by a\n"
             "public authority). Accept it only if its SHA-256 fingerprint is:\n  %s\n", fp);
  else
    g_printerr ("nvr: warning: cannot show the certificate fingerprint: %s\n",
                fp_error ? fp_error : "[web] certificate is not set");
  g_print ("\nAdmin pairing code '%s' (%u camera(s)), single use, valid until %s:\n\n  %s\n\n",
           name, json_array_get_length (names), until_text, code);
  if (url != NULL) {
    g_print ("Open this on the phone or computer to pair, or scan the QR code:\n  %s\n\n", url);
    print_qr (url);
    const char *frag = strstr (url, "/pair.html#");
    if (frag != NULL && cfg->web_origins[1] != NULL) {
      g_print ("\nIf that name does not open (no mDNS on the device), the same code works at:\n");
      for (guint i = 1; cfg->web_origins[i] != NULL; i++)
        g_print ("  %s%s\n", cfg->web_origins[i], frag);
    }
  }
  return 0;
}

static char *
device_cameras_text (JsonObject *dev)
{
  JsonArray *cams = json_object_get_array_member (dev, "cameras");
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (cams); i++) {
    JsonObject *c = json_array_get_object_element (cams, i);
    g_string_append_printf (s, "%s%s", i ? "," : "", json_object_get_string_member (c, "name"));
  }
  if (s->len == 0)
    g_string_append (s, "-");
  return g_string_free (s, FALSE);
}

static char *
format_day_time (JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member (o, member);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return g_strdup ("-");
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (json_node_get_int (n) /
                                                             G_USEC_PER_SEC);
  return g_date_time_format (t, "%F %H:%M");
}

static int
cmd_devices_list (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("devices list", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("devices list takes no arguments");
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "devices.list", NULL, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonArray *arr = json_node_get_array (res);
  g_print ("%-4s %-24s %-5s %-16s %-16s %-16s %s\n", "ID", "NAME", "ADMIN", "PAIRED",
           "LAST SEEN", "REVOKED", "CAMERAS");
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonObject *d = json_array_get_object_element (arr, i);
    g_autofree char *cams = device_cameras_text (d);
    g_autofree char *paired = format_day_time (d, "created_us");
    g_autofree char *seen = format_day_time (d, "last_seen_us");
    g_autofree char *revoked = format_day_time (d, "revoked_us");
    g_print ("%-4" G_GINT64_FORMAT " %-24s %-5s %-16s %-16s %-16s %s\n",
             json_object_get_int_member (d, "id"), json_object_get_string_member (d, "name"),
             json_object_get_boolean_member (d, "admin") ? "yes" : "no", paired, seen, revoked,
             cams);
  }
  return 0;
}

/* `nvr audit`: who changed what (docs/design/admin.md "Audit"). */
static int
cmd_audit (int argc, char **argv)
{
  g_autofree char *config = NULL;
  gboolean json = FALSE;
  gint limit = 100;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Config file", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, "Entries to show (1-500, default 100)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- nvr audit");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("nvr audit: %s\n", error->message);
    return 2;
  }
  if (argc != 1)
    return usage_error ("audit takes no arguments");
  if (config == NULL)
    config = g_strdup (NVR_CONFIG_DEFAULT_PATH);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_int_member (args, "limit", limit);
  int status = 0;
  g_autoptr (JsonNode) res = call (config, "audit", args, &status);
  if (res == NULL)
    return status;
  if (json) {
    print_json (res);
    return 0;
  }
  JsonArray *arr = json_object_get_array_member (json_node_get_object (res), "entries");
  g_print ("%-6s %-16s %-28s %-16s %-28s %s\n", "ID", "TIME", "ACTOR", "ACTION", "TARGET",
           "DETAILS");
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonObject *e = json_array_get_object_element (arr, i);
    g_autofree char *when = format_day_time (e, "time_us");
    g_autofree char *details = json_to_string (json_object_get_member (e, "details"), FALSE);
    g_print ("%-6" G_GINT64_FORMAT " %-16s %-28s %-16s %-28s %s\n",
             json_object_get_int_member (e, "id"), when,
             json_object_get_string_member (e, "actor"),
             json_object_get_string_member (e, "action"),
             json_object_get_string_member (e, "target"), details);
  }
  return 0;
}

static int
cmd_devices_revoke (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("devices revoke", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 2)
    return usage_error ("devices revoke takes exactly one ID or NAME");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "device", argv[1]);
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "devices.revoke", args, &status);
  if (res == NULL)
    return status;
  JsonObject *d = json_node_get_object (res);
  g_print ("Device %" G_GINT64_FORMAT " '%s' revoked: its sessions are deleted and its live "
           "views closed\n", json_object_get_int_member (d, "id"),
           json_object_get_string_member (d, "name"));
  return 0;
}

static int
cmd_devices_cameras (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("devices cameras", &o, FALSE, FALSE, &argc, &argv))
    return 2;
  if (argc != 3)
    return usage_error ("devices cameras takes an ID or NAME and a list of cameras a,b");
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "device", argv[1]);
  json_object_set_array_member (args, "cameras", names_array (argv[2]));
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "devices.cameras", args, &status);
  if (res == NULL)
    return status;
  JsonObject *d = json_node_get_object (res);
  g_autofree char *cams = device_cameras_text (d);
  g_print ("Device %" G_GINT64_FORMAT " '%s' may see: %s\n", json_object_get_int_member (d, "id"),
           json_object_get_string_member (d, "name"), cams);
  return 0;
}

static int
cmd_box (int argc, char **argv)
{
  g_auto (Opts) o = { 0 };
  if (!parse_opts ("box", &o, TRUE, FALSE, &argc, &argv))
    return 2;
  if (argc != 1)
    return usage_error ("box takes no arguments");
  int status = 0;
  g_autoptr (JsonNode) res = call (o.config, "box", NULL, &status);
  if (res == NULL)
    return status;
  if (o.json) {
    print_json (res);
    return 0;
  }
  JsonObject *r = json_node_get_object (res);
  g_print ("Export signing key fingerprint: %s\nPublic key: %s\n",
           json_object_get_string_member (r, "fingerprint"),
           json_object_get_string_member (r, "public_key"));
  return 0;
}

static char *
format_utc (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  g_autofree char *s = t ? g_date_time_format (t, "%F %T") : g_strdup ("?");
  return g_strdup_printf ("%s.%06d UTC", s, (int) (us % G_USEC_PER_SEC));
}

/* Reads only the two files: works on any machine with the nvr binary, no daemon, no config. */
static int
cmd_verify (int argc, char **argv)
{
  g_autofree char *key = NULL;
  GOptionEntry entries[] = {
    { "key", 0, 0, G_OPTION_ARG_STRING, &key,
      "The box public key the export must be signed by (64 hex digits, from `nvr box`)", "KEY" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("FILE.mp4 FILE.sig - nvr verify");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("nvr verify: %s\n", error->message);
    return 2;
  }
  if (argc != 3)
    return usage_error ("verify takes FILE.mp4 and FILE.sig");
  guint8 expected[NVR_SIGNING_PUBLIC_KEY_BYTES];
  if (key != NULL && !nvr_signing_key_from_hex (key, expected))
    return usage_error ("--key must be the 64 hex digits `nvr box` prints as the public key");
  NvrManifest m;
  gboolean ok = nvr_signing_verify_files (argv[1], argv[2], key ? expected : NULL, &m, &error);
  if (!ok) {
    g_print ("INVALID: %s\n", error->message);
    return 1;
  }
  char fp[NVR_SIGNING_FINGERPRINT_LEN + 1];
  nvr_signing_fingerprint (m.public_key, fp);
  g_autofree char *start = format_utc (m.start_us);
  g_autofree char *end = format_utc (m.end_us);
  g_print ("VALID: '%s' is the file this box signed\n"
           "  camera:  %s\n  start:   %s\n  end:     %s\n  bytes:   %" G_GUINT64_FORMAT "\n"
           "  key:     %s%s\n", argv[1], m.camera, start, end, m.bytes, fp,
           key ? " (the expected key)" : " (compare it with `nvr box` or the web page)");
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
  if (strcmp (cmd, "camera-probe") == 0)
    return nvr_probe_main (argc - 1, argv + 1);
  if (strcmp (cmd, "onvif") == 0)
    return cmd_onvif (argc - 1, argv + 1);
  if (strcmp (cmd, "run") == 0)
    return cmd_run (argc - 1, argv + 1);
  if (strcmp (cmd, "check-config") == 0)
    return cmd_check_config (argc - 1, argv + 1);
  if (strcmp (cmd, "status") == 0)
    return cmd_status (argc - 1, argv + 1);
  if (strcmp (cmd, "timeline") == 0)
    return cmd_timeline (argc - 1, argv + 1);
  if (strcmp (cmd, "pair") == 0)
    return cmd_pair (argc - 1, argv + 1);
  if (strcmp (cmd, "setup") == 0)
    return cmd_setup (argc - 1, argv + 1);
  if (strcmp (cmd, "web-front") == 0)
    return cmd_web_front (argc - 1, argv + 1);
  if (strcmp (cmd, "box") == 0)
    return cmd_box (argc - 1, argv + 1);
  if (strcmp (cmd, "audit") == 0)
    return cmd_audit (argc - 1, argv + 1);
  if (strcmp (cmd, "verify") == 0)
    return cmd_verify (argc - 1, argv + 1);
  if (strcmp (cmd, "devices") == 0) {
    const char *sub = argc >= 3 ? argv[2] : "";
    if (strcmp (sub, "list") == 0)
      return cmd_devices_list (argc - 2, argv + 2);
    if (strcmp (sub, "revoke") == 0)
      return cmd_devices_revoke (argc - 2, argv + 2);
    if (strcmp (sub, "cameras") == 0)
      return cmd_devices_cameras (argc - 2, argv + 2);
    return usage_error ("devices needs list, revoke or cameras");
  }
  if (strcmp (cmd, "cameras") == 0) {
    if (argc < 3)
      return usage_error ("cameras needs add, list, remove, reset-identity, motion, recording or "
                          "detection");
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
    if (strcmp (sub, "recording") == 0)
      return cmd_cameras_recording (argc - 2, argv + 2);
    if (strcmp (sub, "detection") == 0)
      return cmd_cameras_detection (argc - 2, argv + 2);
    if (strcmp (sub, "test") == 0)
      return cmd_cameras_test (argc - 2, argv + 2);
    return usage_error ("cameras needs add, list, remove, reset-identity, motion, recording, "
                        "detection or test");
  }
  if (strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0 || strcmp (cmd, "help") == 0) {
    g_print ("%s", usage_text);
    return 0;
  }
  g_autofree char *msg = g_strdup_printf ("unknown command '%s'", cmd);
  return usage_error (msg);
}
