/* onvif — SOAP requests and answer parsers for ONVIF (see onvif.h). Pure; any thread.
 * Elements are matched by namespace URI and local name, never by prefix: cameras pick their own
 * prefixes. libxml2 parses with no network, no entity substitution and no DTD loading; a
 * document with a DOCTYPE is refused outright (entity expansion is the classic XML bomb). */
#define G_LOG_DOMAIN "nvr-onvif"

#include "onvif.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

G_DEFINE_QUARK (nvr-onvif-error-quark, nvr_onvif_error)

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_TDS "http://www.onvif.org/ver10/device/wsdl"
#define NS_TRT "http://www.onvif.org/ver10/media/wsdl"
#define NS_TT "http://www.onvif.org/ver10/schema"
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WSU "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define NS_WSD "http://schemas.xmlsoap.org/ws/2005/04/discovery"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_DN "http://www.onvif.org/ver10/network/wsdl"

/* ---- requests ---- */

char *
nvr_onvif_password_digest (const guint8 *nonce, gsize nonce_len, const char *created,
                           const char *password)
{
  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha, nonce, nonce_len);
  g_checksum_update (sha, (const guchar *) created, strlen (created));
  g_checksum_update (sha, (const guchar *) password, strlen (password));
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  g_checksum_get_digest (sha, digest, &digest_len);
  return g_base64_encode (digest, digest_len);
}

static char *
security_header (const char *user, const char *password, const guint8 *nonce,
                 gint64 created_unix_s)
{
  if (user == NULL || *user == '\0')
    return g_strdup ("");
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (created_unix_s);
  g_autofree char *created = t ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ")
                               : g_strdup ("1970-01-01T00:00:00Z");
  g_autofree char *digest = nvr_onvif_password_digest (nonce, NVR_ONVIF_NONCE_LEN, created,
                                                       password ? password : "");
  g_autofree char *nonce64 = g_base64_encode (nonce, NVR_ONVIF_NONCE_LEN);
  g_autofree char *user_xml = g_markup_escape_text (user, -1);
  return g_strdup_printf (
    "<s:Header><wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"" NS_WSSE "\" "
    "xmlns:wsu=\"" NS_WSU "\"><wsse:UsernameToken><wsse:Username>%s</wsse:Username>"
    "<wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">%s</wsse:Password>"
    "<wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-soap-message-security-1.0#Base64Binary\">%s</wsse:Nonce>"
    "<wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>",
    user_xml, digest, nonce64, created);
}

char *
nvr_onvif_request (NvrOnvifCall call, const char *profile_token, const char *user,
                   const char *password, const guint8 nonce[NVR_ONVIF_NONCE_LEN],
                   gint64 created_unix_s)
{
  g_autofree char *header = security_header (user, password, nonce, created_unix_s);
  g_autofree char *body = NULL;
  switch (call) {
  case NVR_ONVIF_GET_DEVICE_INFORMATION:
    body = g_strdup ("<tds:GetDeviceInformation xmlns:tds=\"" NS_TDS "\"/>");
    break;
  case NVR_ONVIF_GET_CAPABILITIES:
    body = g_strdup ("<tds:GetCapabilities xmlns:tds=\"" NS_TDS "\">"
                     "<tds:Category>Media</tds:Category></tds:GetCapabilities>");
    break;
  case NVR_ONVIF_GET_PROFILES:
    body = g_strdup ("<trt:GetProfiles xmlns:trt=\"" NS_TRT "\"/>");
    break;
  case NVR_ONVIF_GET_STREAM_URI: {
    g_autofree char *token = g_markup_escape_text (profile_token ? profile_token : "", -1);
    body = g_strdup_printf (
      "<trt:GetStreamUri xmlns:trt=\"" NS_TRT "\" xmlns:tt=\"" NS_TT "\"><trt:StreamSetup>"
      "<tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol>"
      "</tt:Transport></trt:StreamSetup><trt:ProfileToken>%s</trt:ProfileToken>"
      "</trt:GetStreamUri>", token);
    break;
  }
  default:
    g_return_val_if_reached (NULL);
  }
  return g_strdup_printf ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                          "<s:Envelope xmlns:s=\"" NS_SOAP "\">%s<s:Body>%s</s:Body>"
                          "</s:Envelope>", header, body);
}

char *
nvr_onvif_probe_message (const char *message_id)
{
  g_autofree char *id = g_markup_escape_text (message_id, -1);
  return g_strdup_printf (
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<s:Envelope xmlns:s=\"" NS_SOAP "\" xmlns:a=\"" NS_WSA "\" xmlns:d=\"" NS_WSD "\" "
    "xmlns:dn=\"" NS_DN "\"><s:Header>"
    "<a:Action s:mustUnderstand=\"1\">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    "</a:Action><a:MessageID>%s</a:MessageID>"
    "<a:To s:mustUnderstand=\"1\">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
    "</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>"
    "</s:Body></s:Envelope>", id);
}

/* ---- parsing ---- */

void
nvr_onvif_device_clear (NvrOnvifDevice *d)
{
  g_clear_pointer (&d->manufacturer, g_free);
  g_clear_pointer (&d->model, g_free);
  g_clear_pointer (&d->firmware, g_free);
}

void
nvr_onvif_profile_free (NvrOnvifProfile *p)
{
  if (p == NULL)
    return;
  g_free (p->token);
  g_free (p->name);
  g_free (p->encoding);
  g_free (p->rtsp_url);
  g_free (p);
}

void
nvr_onvif_found_free (NvrOnvifFound *f)
{
  if (f == NULL)
    return;
  g_free (f->address);
  g_strfreev (f->xaddrs);
  g_strfreev (f->scopes);
  g_free (f);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)

static gboolean
malformed (GError **error, const char *what)
{
  g_set_error (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_MALFORMED, "%s", what);
  return FALSE;
}

static gboolean
is (const xmlNode *n, const char *ns, const char *name)
{
  return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL && n->ns->href != NULL &&
         strcmp ((const char *) n->name, name) == 0 &&
         strcmp ((const char *) n->ns->href, ns) == 0;
}

static xmlNode *
child (const xmlNode *parent, const char *ns, const char *name)
{
  if (parent == NULL)
    return NULL;
  for (xmlNode *c = parent->children; c != NULL; c = c->next)
    if (is (c, ns, name))
      return c;
  return NULL;
}

/* No control characters (C0 or DEL): answers are shown to people and logged. */
static gboolean
nvr_onvif_text_ok (const char *s)
{
  for (const char *p = s; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

/* The text of @n, whitespace-trimmed, as a new string; NULL if longer than @max or it holds a
 * control character (answers are shown to people and logged). */
static char *
text_of (const xmlNode *n, gsize max)
{
  if (n == NULL)
    return NULL;
  xmlChar *raw = xmlNodeGetContent (n);
  if (raw == NULL)
    return g_strdup ("");
  g_autofree char *s = g_strstrip (g_strdup ((const char *) raw));
  xmlFree (raw);
  if (strlen (s) > max || !g_utf8_validate (s, -1, NULL))
    return NULL;
  if (!nvr_onvif_text_ok (s))
    return NULL;
  return g_steal_pointer (&s);
}

/* Parses a SOAP 1.2 envelope and returns its Body, or NULL with @error: malformed, or the fault
 * the body holds. */
static xmlNode *
soap_body (const char *xml, gsize len, xmlDoc **doc_out, GError **error)
{
  *doc_out = NULL;
  if (len == 0 || len > NVR_ONVIF_MAX_XML) {
    malformed (error, len == 0 ? "the answer is empty" : "the answer is too large");
    return NULL;
  }
  /* Before the parser sees it: no internal subset means no entity to expand. */
  if (memmem (xml, len, "<!DOCTYPE", 9) != NULL) {
    malformed (error, "the answer has a DOCTYPE");
    return NULL;
  }
  xmlDoc *doc = xmlReadMemory (xml, (int) len, "onvif.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                               XML_PARSE_NOCDATA);
  if (doc == NULL) {
    malformed (error, "the answer is not well-formed XML");
    return NULL;
  }
  *doc_out = doc;
  if (doc->intSubset != NULL || doc->extSubset != NULL) {
    malformed (error, "the answer has a DOCTYPE");
    return NULL;
  }
  xmlNode *env = xmlDocGetRootElement (doc);
  if (!is (env, NS_SOAP, "Envelope")) {
    malformed (error, "the answer is not a SOAP 1.2 envelope");
    return NULL;
  }
  xmlNode *body = child (env, NS_SOAP, "Body");
  if (body == NULL) {
    malformed (error, "the SOAP envelope has no Body");
    return NULL;
  }
  xmlNode *fault = child (body, NS_SOAP, "Fault");
  if (fault != NULL) {
    /* Code/Value, then Subcode/Value nested to any depth (bounded here at 8). */
    gboolean not_authorized = FALSE;
    xmlNode *code = child (fault, NS_SOAP, "Code");
    for (int depth = 0; code != NULL && depth < 8; depth++) {
      g_autofree char *value = text_of (child (code, NS_SOAP, "Value"), NVR_ONVIF_MAX_TEXT);
      if (value != NULL) {
        const char *colon = strrchr (value, ':');
        if (strcmp (colon ? colon + 1 : value, "NotAuthorized") == 0)
          not_authorized = TRUE;
      }
      code = child (code, NS_SOAP, "Subcode");
    }
    g_autofree char *reason =
      text_of (child (child (fault, NS_SOAP, "Reason"), NS_SOAP, "Text"), NVR_ONVIF_MAX_TEXT);
    if (not_authorized)
      g_set_error (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_UNAUTHORIZED,
                   "the camera refused the user name or password%s%s%s",
                   reason && *reason ? " (" : "", reason && *reason ? reason : "",
                   reason && *reason ? ")" : "");
    else
      g_set_error (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_FAULT, "the camera answered a fault%s%s",
                   reason && *reason ? ": " : "", reason && *reason ? reason : "");
    return NULL;
  }
  return body;
}

gboolean
nvr_onvif_parse_device_information (const char *xml, gsize len, NvrOnvifDevice *out,
                                    GError **error)
{
  memset (out, 0, sizeof *out);
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *body = soap_body (xml, len, &doc, error);
  if (body == NULL)
    return FALSE;
  xmlNode *r = child (body, NS_TDS, "GetDeviceInformationResponse");
  if (r == NULL)
    return malformed (error, "the answer has no GetDeviceInformationResponse");
  g_auto (NvrOnvifDevice) d = { 0 };
  d.manufacturer = text_of (child (r, NS_TDS, "Manufacturer"), NVR_ONVIF_MAX_TEXT);
  d.model = text_of (child (r, NS_TDS, "Model"), NVR_ONVIF_MAX_TEXT);
  d.firmware = text_of (child (r, NS_TDS, "FirmwareVersion"), NVR_ONVIF_MAX_TEXT);
  if (d.manufacturer == NULL || d.model == NULL || d.firmware == NULL)
    return malformed (error, "the device information lacks a field or one is too long");
  *out = d;
  memset (&d, 0, sizeof d);
  return TRUE;
}

char *
nvr_onvif_parse_media_xaddr (const char *xml, gsize len, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *body = soap_body (xml, len, &doc, error);
  if (body == NULL)
    return NULL;
  xmlNode *caps = child (child (body, NS_TDS, "GetCapabilitiesResponse"), NS_TDS, "Capabilities");
  char *xaddr = text_of (child (child (caps, NS_TT, "Media"), NS_TT, "XAddr"), NVR_ONVIF_MAX_URL);
  if (xaddr == NULL || *xaddr == '\0') {
    g_free (xaddr);
    malformed (error, "the capabilities name no Media service");
    return NULL;
  }
  return xaddr;
}

/* A non-negative decimal of at most 5 digits (sizes, frame rates), else -1. */
static gint
small_int (const xmlNode *n)
{
  g_autofree char *s = text_of (n, 16);
  if (s == NULL || *s == '\0' || strlen (s) > 5 || strspn (s, "0123456789") != strlen (s))
    return -1;
  return atoi (s);
}

GPtrArray *
nvr_onvif_parse_profiles (const char *xml, gsize len, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *body = soap_body (xml, len, &doc, error);
  if (body == NULL)
    return NULL;
  xmlNode *r = child (body, NS_TRT, "GetProfilesResponse");
  if (r == NULL) {
    malformed (error, "the answer has no GetProfilesResponse");
    return NULL;
  }
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_onvif_profile_free);
  for (xmlNode *p = r->children; p != NULL; p = p->next) {
    if (!is (p, NS_TRT, "Profiles"))
      continue;
    if (out->len == NVR_ONVIF_MAX_PROFILES) {
      malformed (error, "the camera lists too many profiles");
      return NULL;
    }
    g_autoptr (NvrOnvifProfile) prof = g_new0 (NvrOnvifProfile, 1);
    xmlChar *token = xmlGetNoNsProp (p, (const xmlChar *) "token");
    if (token != NULL) {
      prof->token = g_strstrip (g_strdup ((const char *) token));
      xmlFree (token);
    }
    if (prof->token == NULL || *prof->token == '\0' || strlen (prof->token) > NVR_ONVIF_MAX_TEXT ||
        !g_utf8_validate (prof->token, -1, NULL) || !nvr_onvif_text_ok (prof->token)) {
      malformed (error, "a profile has no usable token");
      return NULL;
    }
    prof->name = text_of (child (p, NS_TT, "Name"), NVR_ONVIF_MAX_TEXT);
    if (prof->name == NULL)
      prof->name = g_strdup (prof->token);
    xmlNode *venc = child (p, NS_TT, "VideoEncoderConfiguration");
    prof->encoding = venc ? text_of (child (venc, NS_TT, "Encoding"), NVR_ONVIF_MAX_TEXT)
                          : g_strdup ("");
    if (prof->encoding == NULL) {
      malformed (error, "a profile's encoding is too long");
      return NULL;
    }
    if (venc != NULL) {
      xmlNode *res = child (venc, NS_TT, "Resolution");
      prof->width = res ? small_int (child (res, NS_TT, "Width")) : 0;
      prof->height = res ? small_int (child (res, NS_TT, "Height")) : 0;
      xmlNode *rc = child (venc, NS_TT, "RateControl");
      prof->fps = rc ? small_int (child (rc, NS_TT, "FrameRateLimit")) : 0;
      if (prof->width < 0 || prof->height < 0 || prof->fps < 0 ||
          prof->width > NVR_ONVIF_MAX_PIXELS || prof->height > NVR_ONVIF_MAX_PIXELS ||
          prof->fps > NVR_ONVIF_MAX_FPS) {
        malformed (error, "a profile's resolution or frame rate is not a small number");
        return NULL;
      }
    }
    g_ptr_array_add (out, g_steal_pointer (&prof));
  }
  if (out->len == 0) {
    malformed (error, "the camera lists no profiles");
    return NULL;
  }
  return g_steal_pointer (&out);
}

char *
nvr_onvif_parse_stream_uri (const char *xml, gsize len, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *body = soap_body (xml, len, &doc, error);
  if (body == NULL)
    return NULL;
  xmlNode *mu = child (child (body, NS_TRT, "GetStreamUriResponse"), NS_TRT, "MediaUri");
  g_autofree char *uri = text_of (child (mu, NS_TT, "Uri"), NVR_ONVIF_MAX_URL);
  if (uri == NULL) {
    malformed (error, "the answer has no stream URI, or it is too long");
    return NULL;
  }
  if (g_ascii_strncasecmp (uri, "rtsp://", 7) != 0 && g_ascii_strncasecmp (uri, "rtsps://", 8) != 0) {
    malformed (error, "the stream URI is not rtsp://");
    return NULL;
  }
  if (!g_uri_is_valid (uri, G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS, NULL)) {
    malformed (error, "the stream URI is not a valid URI");
    return NULL;
  }
  return g_steal_pointer (&uri);
}

/* Splits a whitespace-separated list into at most NVR_ONVIF_MAX_LIST items. */
static GStrv
split_list (const char *text, gboolean *ok)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) parts = g_strsplit_set (text ? text : "", " \t\r\n", -1);
  guint n = 0;
  *ok = TRUE;
  for (guint i = 0; parts[i] != NULL; i++) {
    if (*parts[i] == '\0')
      continue;
    if (++n > NVR_ONVIF_MAX_LIST) {
      *ok = FALSE;
      break;
    }
    g_strv_builder_add (b, parts[i]);
  }
  return g_strv_builder_end (b);
}

GPtrArray *
nvr_onvif_parse_probe_matches (const char *xml, gsize len, const char *relates_to,
                               GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *body = soap_body (xml, len, &doc, error);
  if (body == NULL)
    return NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) nvr_onvif_found_free);
  if (relates_to != NULL) {
    xmlNode *header = child (xmlDocGetRootElement (doc), NS_SOAP, "Header");
    g_autofree char *rel = text_of (child (header, NS_WSA, "RelatesTo"), NVR_ONVIF_MAX_TEXT);
    if (rel == NULL || strcmp (rel, relates_to) != 0)
      return g_steal_pointer (&out);   /* an answer to someone else's probe */
  }
  xmlNode *pm = child (body, NS_WSD, "ProbeMatches");
  if (pm == NULL) {
    malformed (error, "the datagram holds no ProbeMatches");
    return NULL;
  }
  for (xmlNode *m = pm->children; m != NULL; m = m->next) {
    if (!is (m, NS_WSD, "ProbeMatch"))
      continue;
    if (out->len == NVR_ONVIF_MAX_LIST) {
      malformed (error, "the datagram holds too many matches");
      return NULL;
    }
    g_autoptr (NvrOnvifFound) f = g_new0 (NvrOnvifFound, 1);
    f->address = text_of (child (child (m, NS_WSA, "EndpointReference"), NS_WSA, "Address"),
                          NVR_ONVIF_MAX_TEXT);
    g_autofree char *xaddrs = text_of (child (m, NS_WSD, "XAddrs"),
                                       NVR_ONVIF_MAX_URL * NVR_ONVIF_MAX_LIST);
    g_autofree char *scopes = text_of (child (m, NS_WSD, "Scopes"),
                                       NVR_ONVIF_MAX_TEXT * NVR_ONVIF_MAX_LIST);
    if (f->address == NULL || *f->address == '\0' || xaddrs == NULL) {
      malformed (error, "a match has no address or no XAddrs");
      return NULL;
    }
    gboolean ok1, ok2;
    f->xaddrs = split_list (xaddrs, &ok1);
    f->scopes = split_list (scopes, &ok2);
    gboolean sizes_ok = ok1 && ok2 && f->xaddrs[0] != NULL;
    for (guint i = 0; sizes_ok && f->xaddrs[i]; i++)
      sizes_ok = strlen (f->xaddrs[i]) <= NVR_ONVIF_MAX_URL &&
                 (g_ascii_strncasecmp (f->xaddrs[i], "http://", 7) == 0 ||
                  g_ascii_strncasecmp (f->xaddrs[i], "https://", 8) == 0) &&
                 g_uri_is_valid (f->xaddrs[i], G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS, NULL);
    for (guint i = 0; sizes_ok && f->scopes[i]; i++)
      sizes_ok = strlen (f->scopes[i]) <= NVR_ONVIF_MAX_TEXT;
    if (sizes_ok && !nvr_onvif_text_ok (f->address))
      sizes_ok = FALSE;
    if (!sizes_ok) {
      malformed (error, "a match has too many, too long or non-http XAddrs or scopes");
      return NULL;
    }
    g_ptr_array_add (out, g_steal_pointer (&f));
  }
  return g_steal_pointer (&out);
}

/* ---- addresses ---- */

/* The parsed URI for what a user typed, or NULL if it is not acceptable. */
static GUri *
parse_device_address (const char *address)
{
  if (address == NULL || *address == '\0' || strlen (address) > NVR_ONVIF_MAX_URL)
    return NULL;
  g_autofree char *text = strstr (address, "://") != NULL ? g_strdup (address)
                                                          : g_strconcat ("http://", address, NULL);
  g_autoptr (GUri) uri = g_uri_parse (text, G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS, NULL);
  if (uri == NULL || g_ascii_strcasecmp (g_uri_get_scheme (uri), "http") != 0 ||
      g_uri_get_userinfo (uri) != NULL || g_uri_get_query (uri) != NULL ||
      g_uri_get_fragment (uri) != NULL || g_uri_get_host (uri) == NULL ||
      *g_uri_get_host (uri) == '\0')
    return NULL;
  gint p = g_uri_get_port (uri);
  if (p != -1 && (p < 1 || p > 65535))
    return NULL;
  return g_steal_pointer (&uri);
}

char *
nvr_onvif_device_url (const char *address, guint16 *port, GError **error)
{
  g_autoptr (GUri) uri = parse_device_address (address);
  if (uri == NULL) {
    g_set_error (error, NVR_ONVIF_ERROR, NVR_ONVIF_ERROR_MALFORMED,
                 "the address must be HOST, HOST:PORT or an http:// URL without user or query");
    return NULL;
  }
  gint p = g_uri_get_port (uri) == -1 ? 80 : g_uri_get_port (uri);
  const char *path = g_uri_get_path (uri);
  if (path == NULL || *path == '\0' || strcmp (path, "/") == 0)
    path = "/onvif/device_service";
  *port = (guint16) p;
  return g_uri_join (G_URI_FLAGS_ENCODED, "http", NULL, g_uri_get_host (uri), p, path, NULL,
                     NULL);
}

static char *
host_port (GUri *uri)
{
  const char *host = g_uri_get_host (uri);
  gint port = g_uri_get_port (uri);
  gboolean v6 = strchr (host, ':') != NULL;
  if (port == -1 || port == 80)
    return v6 ? g_strdup_printf ("[%s]", host) : g_strdup (host);
  return g_strdup_printf (v6 ? "[%s]:%d" : "%s:%d", host, port);
}

char *
nvr_onvif_found_host (const NvrOnvifFound *found, const char *sender_ip)
{
  char *first = NULL;
  for (guint i = 0; found->xaddrs != NULL && found->xaddrs[i] != NULL; i++) {
    g_autoptr (GUri) uri = g_uri_parse (found->xaddrs[i], G_URI_FLAGS_ENCODED |
                                        G_URI_FLAGS_NON_DNS, NULL);
    if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
      continue;
    if (sender_ip != NULL && g_ascii_strcasecmp (g_uri_get_host (uri), sender_ip) == 0) {
      g_free (first);
      return host_port (uri);
    }
    if (first == NULL)
      first = host_port (uri);
  }
  if (first != NULL)
    return first;
  if (sender_ip == NULL)
    return NULL;
  return strchr (sender_ip, ':') ? g_strdup_printf ("[%s]", sender_ip) : g_strdup (sender_ip);
}

char *
nvr_onvif_same_host_url (const char *device_url, const char *xaddr)
{
  g_autoptr (GUri) dev = g_uri_parse (device_url, G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS, NULL);
  g_autoptr (GUri) x = g_uri_parse (xaddr, G_URI_FLAGS_ENCODED | G_URI_FLAGS_NON_DNS, NULL);
  if (dev == NULL || x == NULL || (g_ascii_strcasecmp (g_uri_get_scheme (x), "http") != 0 &&
                                   g_ascii_strcasecmp (g_uri_get_scheme (x), "https") != 0))
    return NULL;
  const char *path = g_uri_get_path (x);
  if (path == NULL || *path != '/')
    return NULL;
  return g_uri_join (G_URI_FLAGS_ENCODED, g_uri_get_scheme (dev), NULL, g_uri_get_host (dev),
                     g_uri_get_port (dev), path, g_uri_get_query (x), NULL);
}
