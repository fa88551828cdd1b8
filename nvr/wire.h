/* wire — framed messages between the daemon and its camera workers (socketpair, both ends).
 * Runs on the main loop of whichever process owns the channel. Every frame is size-checked
 * before a byte of it is buffered; the reader is pure and is fuzzed on its own.
 *
 * Frame: u32 big-endian payload length, then a serialized GVariant of type (sa{sv}):
 * a message kind and its fields. Kinds and fields are listed in docs/design/worker.md. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Largest frame accepted from a peer; anything larger is a protocol error. */
#define NVR_WIRE_MAX_FRAME (4u * 1024u * 1024u)
/* Most bytes a channel queues for a slow peer before it reports an error. */
#define NVR_WIRE_MAX_QUEUED (16u * 1024u * 1024u)

#define NVR_WIRE_ERROR (nvr_wire_error_quark ())
GQuark nvr_wire_error_quark (void);
typedef enum {
  NVR_WIRE_ERROR_TOO_LARGE,
  NVR_WIRE_ERROR_MALFORMED,
  NVR_WIRE_ERROR_CLOSED,
  NVR_WIRE_ERROR_OVERFLOW,
} NvrWireError;

/* ---- pure part: encoding and incremental decoding ---- */

/* Encodes one message. @fields is an a{sv} dictionary (floating refs are sunk) or NULL. */
GBytes *nvr_wire_encode (const char *kind, GVariant *fields);

typedef struct _NvrWireReader NvrWireReader;
NvrWireReader *nvr_wire_reader_new (gsize max_frame);
void nvr_wire_reader_free (NvrWireReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrWireReader, nvr_wire_reader_free)

/* Appends bytes. Fails (and stays failed) on a frame over the maximum. */
gboolean nvr_wire_reader_feed (NvrWireReader *reader, const guint8 *data, gsize len,
                               GError **error);
/* Returns the next complete message as (sa{sv}) in normal form, or NULL if none is complete.
 * A frame that is not a valid (sa{sv}) sets @error and is dropped. */
GVariant *nvr_wire_reader_pop (NvrWireReader *reader, GError **error);

/* Field accessors with defaults, for a{sv} dictionaries from a peer. */
const char *nvr_wire_get_str (GVariant *fields, const char *key, const char *fallback);
gint64 nvr_wire_get_int64 (GVariant *fields, const char *key, gint64 fallback);

/* ---- I/O part: a channel on a connected stream socket, driven by a GMainContext ---- */

typedef struct _NvrWireChannel NvrWireChannel;

/* Called on the channel's context for every message. @fields is a{sv}. */
typedef void (*NvrWireMessageFunc) (NvrWireChannel *ch, const char *kind, GVariant *fields,
                                    gpointer user_data);
/* Called once when the peer closes or breaks the protocol; @error says why (NULL on clean EOF).
 * The channel is closed afterwards; the owner still unrefs it. */
typedef void (*NvrWireClosedFunc) (NvrWireChannel *ch, const GError *error, gpointer user_data);

/* Takes ownership of @fd. */
NvrWireChannel *nvr_wire_channel_new (int fd, NvrWireMessageFunc on_message,
                                      NvrWireClosedFunc on_closed, gpointer user_data);
NvrWireChannel *nvr_wire_channel_ref (NvrWireChannel *ch);
void nvr_wire_channel_unref (NvrWireChannel *ch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NvrWireChannel, nvr_wire_channel_unref)

/* Queues a message; never blocks. Fails if the channel is closed or the queue is full. */
gboolean nvr_wire_channel_send (NvrWireChannel *ch, const char *kind, GVariant *fields,
                                GError **error);
/* Blocks until everything queued is written (at most @timeout_ms). For orderly exit only. */
void nvr_wire_channel_flush (NvrWireChannel *ch, int timeout_ms);
/* Stops watching the fd and closes it. No callback fires after this. */
void nvr_wire_channel_close (NvrWireChannel *ch);

G_END_DECLS
