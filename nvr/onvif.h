/* onvif — the pure half of ONVIF: SOAP 1.2 requests with a WS-UsernameToken PasswordDigest, and
 * parsers for the answers (GetDeviceInformation, GetCapabilities, GetProfiles, GetStreamUri,
 * SOAP faults, WS-Discovery ProbeMatches). No I/O and no clock: callers pass the nonce and the
 * creation time. Runs only in the probe process (nvr/probe.c): a camera's XML is untrusted.
 * Every input is at most NVR_ONVIF_MAX_XML bytes, has no DOCTYPE, and every string taken from it
 * is bounded (below); anything else is NVR_ONVIF_ERROR_MALFORMED. Fuzzed: tests/fuzz/fuzz-onvif.c */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NVR_ONVIF_MAX_XML (256 * 1024)  /* bytes of one SOAP answer or discovery datagram */
#define NVR_ONVIF_MAX_TEXT 256          /* bytes of a name, token, model, scope, encoding */
#define NVR_ONVIF_MAX_URL 1024          /* bytes of a stream URI or XAddr */
#define NVR_ONVIF_MAX_PROFILES 32
#define NVR_ONVIF_MAX_PIXELS 16384      /* a profile's width or height */
#define NVR_ONVIF_MAX_FPS 1000
#define NVR_ONVIF_MAX_LIST 16           /* XAddrs or scopes of one discovered device */
#define NVR_ONVIF_NONCE_LEN 16

#define NVR_ONVIF_ERROR (nvr_onvif_error_quark ())
GQuark nvr_onvif_error_quark (void);
typedef enum {
  NVR_ONVIF_ERROR_MALFORMED,     /* not XML, not SOAP, or not the answer asked for */
  NVR_ONVIF_ERROR_UNAUTHORIZED,  /* SOAP fault with subcode NotAuthorized */
  NVR_ONVIF_ERROR_FAULT,         /* any other SOAP fault: message = its reason text */
} NvrOnvifError;

typedef enum {
  NVR_ONVIF_GET_DEVICE_INFORMATION,
  NVR_ONVIF_GET_CAPABILITIES,        /* category Media */
  NVR_ONVIF_GET_PROFILES,
  NVR_ONVIF_GET_STREAM_URI,          /* RTP-Unicast over RTSP, for one profile token */
} NvrOnvifCall;

typedef struct {
  char *manufacturer;
  char *model;
  char *firmware;
} NvrOnvifDevice;

typedef struct {
  char *token;
  char *name;
  char *encoding;     /* "H264", "H265", "JPEG", ... as the camera says; "" if none */
  gint width, height; /* 0 if the profile has no video encoder */
  gint fps;           /* FrameRateLimit, 0 if absent */
  char *rtsp_url;     /* filled by the caller from GetStreamUri; NULL until then */
} NvrOnvifProfile;

typedef struct {
  char *address;      /* EndpointReference Address (usually urn:uuid:...): the device's id */
  GStrv xaddrs;
  GStrv scopes;
} NvrOnvifFound;

void nvr_onvif_device_clear (NvrOnvifDevice *d);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NvrOnvifDevice, nvr_onvif_device_clear)
void nvr_onvif_profile_free (NvrOnvifProfile *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrOnvifProfile, nvr_onvif_profile_free)
void nvr_onvif_found_free (NvrOnvifFound *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrOnvifFound, nvr_onvif_found_free)

/* Base64(SHA1(nonce + created + password)), the WS-UsernameToken PasswordDigest. */
char *nvr_onvif_password_digest (const guint8 *nonce, gsize nonce_len, const char *created,
                                 const char *password);

/* A SOAP 1.2 envelope for @call; @user NULL or "" sends no Security header. @created_unix_s is
 * the time written in wsu:Created (UTC). @profile_token only for GET_STREAM_URI. */
char *nvr_onvif_request (NvrOnvifCall call, const char *profile_token, const char *user,
                         const char *password, const guint8 nonce[NVR_ONVIF_NONCE_LEN],
                         gint64 created_unix_s);

/* A WS-Discovery Probe for NetworkVideoTransmitter devices; @message_id is "urn:uuid:...". */
char *nvr_onvif_probe_message (const char *message_id);

/* Parsers: @xml is @len bytes, not NUL-terminated. A SOAP fault gives UNAUTHORIZED or FAULT. */
gboolean nvr_onvif_parse_device_information (const char *xml, gsize len, NvrOnvifDevice *out,
                                             GError **error);
/* The Media service XAddr from GetCapabilities (a new string), or NULL with @error. */
char *nvr_onvif_parse_media_xaddr (const char *xml, gsize len, GError **error);
/* NvrOnvifProfile*, at most NVR_ONVIF_MAX_PROFILES (more is MALFORMED); never empty. */
GPtrArray *nvr_onvif_parse_profiles (const char *xml, gsize len, GError **error);
/* The MediaUri's Uri: rtsp:// or rtsps:// only, at most NVR_ONVIF_MAX_URL bytes. */
char *nvr_onvif_parse_stream_uri (const char *xml, gsize len, GError **error);
/* NvrOnvifFound* from one ProbeMatches datagram (may be empty: no error); only matches whose
 * @relates_to (if non-NULL) equals the datagram's RelatesTo. */
GPtrArray *nvr_onvif_parse_probe_matches (const char *xml, gsize len, const char *relates_to,
                                          GError **error);

/* Pure: where to reach a discovered device, as an admin would type it for profiles: "HOST" or
 * "HOST:PORT" ("[V6]:PORT") of the first XAddr whose host is @sender_ip (the datagram's source),
 * else of the first XAddr, else @sender_ip. A port is written only when it is not 80. */
char *nvr_onvif_found_host (const NvrOnvifFound *found, const char *sender_ip);

/* Pure: the device service URL for what a user typed: "HOST", "HOST:PORT", "[V6]:PORT" or an
 * http:// URL (its path kept, else /onvif/device_service). NULL with @error for anything else
 * (other schemes, userinfo, query). *@port is the TCP port it connects to. */
char *nvr_onvif_device_url (const char *address, guint16 *port, GError **error);
/* Pure: @xaddr's path (and query) on @device_url's scheme, host and port: a camera's answer
 * never moves the probe to another host. NULL if @xaddr is not an http(s) URL. */
char *nvr_onvif_same_host_url (const char *device_url, const char *xaddr);

G_END_DECLS
