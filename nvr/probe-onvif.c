/* probe-onvif — the probe process's ONVIF jobs (probe-int.h): a camera's profiles over SOAP
 * (libsoup, blocking: the probe has nothing else to do) and a WS-Discovery scan. Main thread of
 * the probe, after its sandbox. The XML is parsed by nvr/onvif.c; only typed values leave. */
#define G_LOG_DOMAIN "nvr-probe"

#include "probe-int.h"

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "onvif.h"
#include "sandbox.h"

typedef struct {
  const char *user;
  const char *password;
} Creds;

static void
random_nonce (guint8 nonce[NVR_ONVIF_NONCE_LEN])
{
  for (guint i = 0; i < NVR_ONVIF_NONCE_LEN; i += 4) {
    guint32 r = g_random_int ();
    memcpy (nonce + i, &r, 4);
  }
}

static gboolean
on_http_auth (SoupMessage *msg, SoupAuth *auth, gboolean retrying, gpointer data)
{
  const Creds *c = data;
  if (retrying || c->user == NULL || *c->user == '\0')
    return FALSE;
  soup_auth_authenticate (auth, c->user, c->password);
  return TRUE;
}

/* POSTs one SOAP request and returns the answer (at most NVR_ONVIF_MAX_XML bytes), or NULL with
 * *reason and *detail (static or owned by @detail_out) set. */
static GBytes *
soap_call (SoupSession *session, const char *url, NvrOnvifCall call, const char *token,
           const Creds *c, const char **reason, char **detail)
{
  guint8 nonce[NVR_ONVIF_NONCE_LEN];
  random_nonce (nonce);
  g_autofree char *body = nvr_onvif_request (call, token, c->user, c->password, nonce,
                                             g_get_real_time () / G_USEC_PER_SEC);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  if (msg == NULL) {
    *reason = "bad-address";
    *detail = g_strdup ("the device URL is not valid");
    return NULL;
  }
  gsize body_len = strlen (body);
  g_autoptr (GBytes) req = g_bytes_new_take (g_steal_pointer (&body), body_len);
  soup_message_set_request_body_from_bytes (msg, "application/soap+xml; charset=utf-8", req);
  g_signal_connect (msg, "authenticate", G_CALLBACK (on_http_auth), (gpointer) c);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) in = soup_session_send (session, msg, NULL, &error);
  if (in == NULL) {
    *reason = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? "timeout" : "unreachable";
    *detail = g_strdup_printf ("could not reach the camera: %s", error->message);
    return NULL;
  }
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[8192];
  for (;;) {
    gssize n = g_input_stream_read (in, chunk, sizeof chunk, NULL, &error);
    if (n < 0) {
      *reason = "unreachable";
      *detail = g_strdup_printf ("the camera's answer broke off: %s", error->message);
      return NULL;
    }
    if (n == 0)
      break;
    if (buf->len + n > NVR_ONVIF_MAX_XML) {
      *reason = "malformed";
      *detail = g_strdup ("the camera's answer is larger than 256 KiB");
      return NULL;
    }
    g_byte_array_append (buf, chunk, n);
  }
  guint status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
    *reason = "unauthorized";
    *detail = g_strdup_printf ("the camera refused the user name or password (HTTP %u)", status);
    return NULL;
  }
  /* A SOAP fault comes with 400 or 500: the parser reads it. Other statuses are errors. */
  if (status != 200 && status != 400 && status != 500) {
    *reason = "unreachable";
    *detail = g_strdup_printf ("the camera answered HTTP %u", status);
    return NULL;
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
}

static const char *
onvif_reason (const GError *error)
{
  if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_UNAUTHORIZED))
    return "unauthorized";
  if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_FAULT))
    return "fault";
  return "malformed";
}

void
nvr_probe_onvif_profiles (Probe *p, GVariant *f)
{
  guint16 port = 0;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = nvr_onvif_device_url (nvr_wire_get_str (f, "address", ""), &port, &error);
  if (url == NULL) {
    nvr_probe_fail (p, "bad-address", error->message);
    return;
  }
  if (!nvr_sandbox_enter_probe (port, &error)) {
    g_warning ("Failed to sandbox the probe: %s", error->message);
    nvr_probe_fail (p, "unreachable", "the probe could not sandbox itself");
    return;
  }
  Creds c = { nvr_wire_get_str (f, "user", ""), nvr_wire_get_str (f, "password", "") };
  g_autoptr (SoupSession) session = soup_session_new_with_options (
    "timeout", NVR_PROBE_ONVIF_TIMEOUT_S, "idle-timeout", NVR_PROBE_ONVIF_TIMEOUT_S,
    "proxy-resolver", NULL, "user-agent", "hearth-onvif", NULL);
  const char *reason = NULL;
  g_autofree char *detail = NULL;
  g_message ("Listing ONVIF profiles of %s", url);

  /* Device information is optional: some cameras refuse it to users who may stream. */
  g_auto (NvrOnvifDevice) dev = { 0 };
  gboolean have_dev = FALSE;
  g_autoptr (GBytes) xml = soap_call (session, url, NVR_ONVIF_GET_DEVICE_INFORMATION, NULL, &c,
                                      &reason, &detail);
  if (xml == NULL) {
    nvr_probe_fail (p, reason, detail);
    return;
  }
  gsize len;
  const char *data = g_bytes_get_data (xml, &len);
  if (nvr_onvif_parse_device_information (data, len, &dev, &error)) {
    have_dev = TRUE;
  } else if (!g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_FAULT)) {
    g_autofree char *d = g_strdup_printf ("GetDeviceInformation: %s", error->message);
    nvr_probe_fail (p, onvif_reason (error), d);
    return;
  }
  g_clear_error (&error);

  /* The Media service: GetCapabilities names it; its path is used on the address given. */
  g_autofree char *media_url = NULL;
  g_clear_pointer (&xml, g_bytes_unref);
  xml = soap_call (session, url, NVR_ONVIF_GET_CAPABILITIES, NULL, &c, &reason, &detail);
  if (xml != NULL) {
    data = g_bytes_get_data (xml, &len);
    g_autofree char *xaddr = nvr_onvif_parse_media_xaddr (data, len, &error);
    if (xaddr != NULL)
      media_url = nvr_onvif_same_host_url (url, xaddr);
    else if (g_error_matches (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_UNAUTHORIZED)) {
      nvr_probe_fail (p, "unauthorized", error->message);
      return;
    }
    g_clear_error (&error);
  }
  g_clear_pointer (&detail, g_free);
  if (media_url == NULL)
    media_url = g_strdup (url);

  g_clear_pointer (&xml, g_bytes_unref);
  xml = soap_call (session, media_url, NVR_ONVIF_GET_PROFILES, NULL, &c, &reason, &detail);
  if (xml == NULL) {
    nvr_probe_fail (p, reason, detail);
    return;
  }
  data = g_bytes_get_data (xml, &len);
  g_autoptr (GPtrArray) profiles = nvr_onvif_parse_profiles (data, len, &error);
  if (profiles == NULL) {
    g_autofree char *d = g_strdup_printf ("GetProfiles: %s", error->message);
    nvr_probe_fail (p, onvif_reason (error), d);
    return;
  }
  for (guint i = 0; i < profiles->len; i++) {
    NvrOnvifProfile *prof = profiles->pdata[i];
    g_clear_pointer (&xml, g_bytes_unref);
    xml = soap_call (session, media_url, NVR_ONVIF_GET_STREAM_URI, prof->token, &c, &reason,
                     &detail);
    if (xml == NULL) {
      nvr_probe_fail (p, reason, detail);
      return;
    }
    data = g_bytes_get_data (xml, &len);
    prof->rtsp_url = nvr_onvif_parse_stream_uri (data, len, &error);
    if (prof->rtsp_url == NULL) {
      g_autofree char *d = g_strdup_printf ("GetStreamUri: %s", error->message);
      nvr_probe_fail (p, onvif_reason (error), d);
      return;
    }
  }
  GVariantBuilder b, pb;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "have_device", g_variant_new_boolean (have_dev));
  g_variant_builder_add (&b, "{sv}", "manufacturer",
                         g_variant_new_string (have_dev ? dev.manufacturer : ""));
  g_variant_builder_add (&b, "{sv}", "model", g_variant_new_string (have_dev ? dev.model : ""));
  g_variant_builder_add (&b, "{sv}", "firmware",
                         g_variant_new_string (have_dev ? dev.firmware : ""));
  g_variant_builder_init (&pb, G_VARIANT_TYPE ("a(sssiiis)"));
  for (guint i = 0; i < profiles->len; i++) {
    NvrOnvifProfile *prof = profiles->pdata[i];
    g_variant_builder_add (&pb, "(sssiiis)", prof->token, prof->name,
                           prof->encoding, prof->width, prof->height, prof->fps, prof->rtsp_url);
  }
  g_variant_builder_add (&b, "{sv}", "profiles", g_variant_builder_end (&pb));
  g_message ("Listed %u ONVIF profile(s)", profiles->len);
  nvr_probe_answer (p, &b);
}

void
nvr_probe_onvif_scan (Probe *p, GVariant *f)
{
  g_autoptr (GError) error = NULL;
  if (!nvr_sandbox_enter_probe (0, &error)) {
    g_warning ("Failed to sandbox the probe: %s", error->message);
    nvr_probe_fail (p, "unreachable", "the probe could not sandbox itself");
    return;
  }
  g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, &error);
  if (sock == NULL) {
    nvr_probe_fail (p, "unreachable", error->message);
    return;
  }
  g_socket_set_multicast_ttl (sock, 1);   /* the LAN only, never routed further */
  g_autoptr (GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) local = g_inet_socket_address_new (any, 0);
  if (!g_socket_bind (sock, local, FALSE, &error)) {
    nvr_probe_fail (p, "unreachable", error->message);
    return;
  }
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *message_id = g_strconcat ("urn:uuid:", uuid, NULL);
  g_autofree char *probe = nvr_onvif_probe_message (message_id);
  g_autoptr (GSocketAddress) dest =
    g_inet_socket_address_new_from_string (NVR_PROBE_DISCOVERY_ADDRESS, NVR_PROBE_DISCOVERY_PORT);
  /* UDP may be lost: the probe goes out twice, as WS-Discovery suggests. */
  for (int i = 0; i < 2; i++)
    if (g_socket_send_to (sock, dest, probe, strlen (probe), NULL, &error) < 0) {
      g_autofree char *d = g_strdup_printf ("could not send the discovery probe: %s",
                                            error->message);
      nvr_probe_fail (p, "unreachable", d);
      return;
    }
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_onvif_found_free);
  g_autoptr (GPtrArray) hosts = g_ptr_array_new_with_free_func (g_free);   /* per device */
  gint64 end_us = g_get_monotonic_time () + NVR_PROBE_SCAN_WAIT_MS * 1000;
  g_autofree char *buf = g_malloc (NVR_ONVIF_MAX_XML);
  guint bad = 0;
  for (;;) {
    gint64 left_us = end_us - g_get_monotonic_time ();
    if (left_us <= 0 || devices->len >= NVR_PROBE_SCAN_MAX_DEVICES)
      break;
    g_socket_set_timeout (sock, (guint) MAX (1, (left_us + 999999) / 1000000));
    GPollFD pfd = { g_socket_get_fd (sock), G_IO_IN, 0 };
    if (g_poll (&pfd, 1, (gint) ((left_us + 999) / 1000)) <= 0)
      continue;
    g_autoptr (GSocketAddress) from = NULL;
    gssize n = g_socket_receive_from (sock, &from, buf, NVR_ONVIF_MAX_XML, NULL, NULL);
    if (n <= 0)
      continue;
    g_autofree char *sender = G_IS_INET_SOCKET_ADDRESS (from)
      ? g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (from)))
      : NULL;
    g_autoptr (GError) perr = NULL;
    g_autoptr (GPtrArray) found = nvr_onvif_parse_probe_matches (buf, n, message_id, &perr);
    if (found == NULL) {
      bad++;
      continue;
    }
    for (guint i = 0; i < found->len; i++) {
      NvrOnvifFound *fd = found->pdata[i];
      gboolean dup = FALSE;
      for (guint j = 0; !dup && j < devices->len; j++)
        dup = strcmp (((NvrOnvifFound *) devices->pdata[j])->address, fd->address) == 0;
      if (dup || devices->len >= NVR_PROBE_SCAN_MAX_DEVICES)
        continue;
      char *host = nvr_onvif_found_host (fd, sender);
      if (host == NULL)
        continue;
      g_ptr_array_add (hosts, host);
      g_ptr_array_add (devices, g_steal_pointer (&found->pdata[i]));
    }
  }
  GVariantBuilder b, db;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "ok", g_variant_new_boolean (TRUE));
  g_variant_builder_init (&db, G_VARIANT_TYPE ("a(ssasas)"));
  for (guint i = 0; i < devices->len; i++) {
    NvrOnvifFound *fd = devices->pdata[i];
    g_variant_builder_add (&db, "(ss^as^as)", (const char *) hosts->pdata[i], fd->address,
                           fd->xaddrs, fd->scopes);
  }
  g_variant_builder_add (&b, "{sv}", "devices", g_variant_builder_end (&db));
  g_message ("Discovery found %u device(s); %u datagram(s) not understood", devices->len, bad);
  nvr_probe_answer (p, &b);
}
